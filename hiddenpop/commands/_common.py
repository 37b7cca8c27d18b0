"""Options and helpers shared by every command (one meaning per flag).

Option registry
---------------
``--overwrite``   replace existing output files (otherwise refuse), every writing command.
``--rng-seed``    integer seed of the random number generator, every command that draws.
``-o/--output``   output file ("-" for standard output where the format allows).
``--json``        print results as a JSON list on standard output.
"""
from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator

import click

__all__ = ["overwrite_option", "rng_seed_option", "output_option", "json_option", "progress", "verbosity",
           "echo_err", "RegistryChoice"]

overwrite_option = click.option("--overwrite", is_flag=True, default=False,
                                help="Replace output files that already exist (otherwise refuse).")
rng_seed_option = click.option("--rng-seed", type=int, required=True,
                               help="Seed of the random number generator; same seed and inputs give the same result.")
json_option = click.option("--json", "as_json", is_flag=True, default=False,
                           help="Print the results as a JSON list on standard output.")


def output_option(required: bool = True, help: str = "Output file.") -> Callable:
    return click.option("-o", "--output", type=click.Path(dir_okay=False), required=required, help=help)


def verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "verbosity" in ctx.obj:
            return ctx.obj["verbosity"]
        ctx = ctx.parent
    return 0


def echo_err(message: str, *, level: int = 0) -> None:
    """Print a diagnostic line on stderr unless quieter than ``level``."""
    if verbosity() >= level:
        click.echo(message, err=True)


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields ``advance(n)`` for library ``progress=`` callbacks.

    Silent with ``-q`` or when stderr is not a terminal and ``-v`` was not given.
    """
    show = verbosity() >= 0 and (sys.stderr.isatty() or verbosity() > 0)
    if not show:
        yield lambda n=1: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


class RegistryChoice(click.Choice):
    """A ``click.Choice`` whose choices are the names of a library registry, read when first needed.

    ``registry`` is ``"module:NAME"`` (a dict or tuple of names, e.g.
    ``"hiddenpop.weights.referral:REFERRAL_METHODS"``), so the command line offers exactly what
    the library implements, and ``hiddenpop --help`` does not import the library. ``exclude``
    leaves out aliases or methods the command does not offer; ``extra`` adds command-level
    choices (e.g. ``all``).
    """

    def __init__(self, registry: str, *, exclude: Iterable[str] = (), extra: Iterable[str] = (),
                 case_sensitive: bool = True) -> None:
        self.registry, self.exclude, self.extra = registry, tuple(exclude), tuple(extra)
        self._names: tuple[str, ...] | None = None
        super().__init__((), case_sensitive=case_sensitive)

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._names is None:
            module, name = self.registry.split(":")
            names = getattr(importlib.import_module(module), name)
            self._names = tuple(str(k) for k in names if k not in self.exclude) + self.extra
        return self._names

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:  # click.Choice.__init__ assigns; the registry decides
        pass
