"""The ``hiddenpop`` command line.

The root group only handles cross-cutting concerns (verbosity, logging, ``--version``,
turning hiddenpop errors into one-line messages). Each command group lives in its own
module under :mod:`hiddenpop.commands` and stays thin over library functions.

Exit codes (:data:`EXIT_CODES`, the README's table): 0 done, 1 a problem with the data or files
(one line on stderr; the full traceback with ``-v``), 2 a usage error (bad option), 3 imported
with rows quarantined (``referrals import``: the good rows landed), 70 an internal error (a bug:
one line with the version, the traceback with ``-v``), 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

import click

from hiddenpop import __version__
from hiddenpop.commands._common import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_QUARANTINED
from hiddenpop.errors import HiddenPopError

__all__ = ["main", "EXIT_CODES", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_QUARANTINED"]


def _command_words(group: click.Group, args: list[str]) -> str:
    """``'hiddenpop frame sample'`` from the arguments: the leading words that name (sub)commands."""
    words, cmd = ["hiddenpop"], group
    for word in args:
        if not isinstance(cmd, click.Group) or word not in cmd.commands:
            break
        words.append(word)
        cmd = cmd.commands[word]
    return " ".join(words)


def _internal_error_line(what: str, exc: BaseException) -> str:
    """The one line printed for an exception that is not a known user error."""
    return (f"Error: internal error in '{what}' ({type(exc).__name__}; hiddenpop {__version__}): "
            f"run again with -v for the details and report it")


class _HiddenPopGroup(click.Group):
    """A click group that turns hiddenpop errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        what = _command_words(self, [*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader went away (e.g. `hiddenpop referrals status STORE | head`): stop quietly
            # later flushes of stdout must not fail again at exit (unless stdout is not a real file)
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except (HiddenPopError, OSError) as exc:
            if _verbosity(ctx) > 0:
                raise
            message = str(exc)
            if isinstance(exc, OSError) and not isinstance(exc, HiddenPopError):
                message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
            raise click.ClickException(" ".join(message.split())) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-written is left.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # the last line of defence: a bug, not a user error
            if _verbosity(ctx) > 0:
                raise
            click.echo(_internal_error_line(what, exc), err=True)
            ctx.exit(EXIT_INTERNAL)


def _verbosity(ctx: click.Context) -> int:
    return (ctx.obj or {}).get("verbosity", 0) if isinstance(ctx.obj, dict) else 0


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
      hiddenpop field form DESIGN ...         the questionnaire (XLSForm) of the design
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
    from hiddenpop.commands import estimate, field, frame, model, rds, referrals, report, simulate, weights

    main.add_command(frame.frame)
    main.add_command(referrals.referrals)
    main.add_command(field.field)
    main.add_command(rds.rds)
    main.add_command(weights.weights)
    main.add_command(estimate.estimate)
    main.add_command(model.model)
    main.add_command(simulate.simulate)
    main.add_command(report.report)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
