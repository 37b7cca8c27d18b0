"""The ``hiddenpop`` command line.

The root group only handles cross-cutting concerns (verbosity, logging, ``--version``,
turning hiddenpop errors into one-line messages). Each command group lives in its own
module under :mod:`hiddenpop.commands` and stays thin over library functions.

Exit codes: 0 success, 1 a problem with the data or files (one line on stderr; the full
traceback with ``-v``), 2 a usage error (bad option).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

import click

from hiddenpop import __version__
from hiddenpop.errors import HiddenPopError

__all__ = ["main"]


class _HiddenPopGroup(click.Group):
    """A click group that turns hiddenpop errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader went away (e.g. `hiddenpop referrals status STORE | head`): stop quietly
            # later flushes of stdout must not fail again at exit (unless stdout is not a real file)
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except (HiddenPopError, OSError) as exc:
            verbosity = (ctx.obj or {}).get("verbosity", 0) if isinstance(ctx.obj, dict) else 0
            if verbosity > 0:
                raise
            message = str(exc)
            if isinstance(exc, OSError) and not isinstance(exc, HiddenPopError):
                message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
            raise click.ClickException(" ".join(message.split())) from None


def _showwarning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=_HiddenPopGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hiddenpop")
@click.option("-v", "--verbose", count=True, help="More detail on stderr; -v also shows tracebacks.")
@click.option("-q", "--quiet", count=True, help="Less output on stderr (no progress bars).")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Survey hidden populations: spatial first stage, referrals, weights.

    \b
    Typical flow:
      hiddenpop frame sample FRAME ...        draw first-stage points
      hiddenpop referrals import STORE LOG    keep the daily referral logs
      hiddenpop weights compute ...           inclusion probabilities and weights
      hiddenpop estimate weights.csv ...      estimates with standard errors
      hiddenpop model weights.csv ...         regression models with standard errors
    """
    verbosity = verbose - quiet
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbosity
    level = logging.WARNING - 10 * verbosity
    logging.basicConfig(level=max(logging.DEBUG, min(logging.ERROR, level)), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if verbosity <= 0:
        warnings.showwarning = _showwarning
    if verbosity < 0:
        warnings.simplefilter("ignore")


def _register() -> None:
    from hiddenpop.commands import estimate, frame, model, rds, referrals, report, simulate, weights

    main.add_command(frame.frame)
    main.add_command(referrals.referrals)
    main.add_command(rds.rds)
    main.add_command(weights.weights)
    main.add_command(estimate.estimate)
    main.add_command(model.model)
    main.add_command(simulate.simulate)
    main.add_command(report.report)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
