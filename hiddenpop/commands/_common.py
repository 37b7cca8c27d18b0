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
import sys
from collections.abc import Callable, Iterator

import click

__all__ = ["overwrite_option", "rng_seed_option", "output_option", "json_option", "progress", "verbosity",
           "echo_err", "renamed_option", "screen_format_option", "wants_table", "text_table", "format_intervals",
           "add_result", "json_summary_option"]

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


#: Seconds between two progress lines when stderr is not a terminal (a log file, a pipe, a job runner).
PROGRESS_EVERY = 5.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _ProgressLines:
    """Progress for a log: one line every :data:`PROGRESS_EVERY` seconds and one at the end."""

    def __init__(self, length: int, label: str, every: float) -> None:
        import time

        self.length, self.label, self.every, self.done = max(int(length), 0), label, every, 0
        self._clock = time.monotonic
        self.start = self._last = self._clock()

    def line(self) -> str:
        elapsed = self._clock() - self.start
        text = f"{self.label}: {self.done:,}/{self.length:,}"
        if self.length:
            text += f" ({100 * self.done / self.length:.0f}%)"
        text += f", {_duration(elapsed)} elapsed"
        if 0 < self.done < self.length:
            text += f", about {_duration(elapsed / self.done * (self.length - self.done))} left"
        return text

    def update(self, n: int = 1) -> None:
        self.done += int(n)
        now = self._clock()
        if now - self._last >= self.every and self.done < self.length:
            self._last = now
            click.echo(self.line(), err=True)

    def finish(self) -> None:
        if self._clock() - self.start >= self.every:   # short runs stay quiet
            click.echo(self.line(), err=True)


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """Progress on stderr; yields ``advance(n)`` for library ``progress=`` callbacks.

    A bar on a terminal; otherwise (a log file, a pipe, a job runner) a line such as
    ``replications: 40/200 (20%), 1m12s elapsed, about 4m48s left`` every
    :data:`PROGRESS_EVERY` seconds. Silent with ``-q``.
    """
    if verbosity() < 0:
        yield lambda n=1: None
        return
    if sys.stderr.isatty():
        with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
            yield bar.update
        return
    lines = _ProgressLines(length, label, PROGRESS_EVERY)
    yield lines.update
    lines.finish()


def renamed_option(old: str, new: str, dest: str, **kwargs) -> Callable:
    """The old spelling of a renamed option: hidden from ``--help``, still works, one-line note.

    The value lands in the parameter ``dest`` (merge it with the new option's value in the
    command); using it prints ``note: OLD is now NEW ...`` on stderr.
    """
    def note(ctx: click.Context, param: click.Parameter, value):
        if value not in (None, (), False):
            click.echo(f"note: {old} is now {new}; the old name still works but will go away", err=True)
        return value

    return click.option(old, dest, hidden=True, callback=note, expose_value=True,
                        help=f"Old name of {new} (deprecated).", **kwargs)


def screen_format_option(f: Callable) -> Callable:
    """``--format auto|table|csv`` for commands that print a table when no -o/--json is given."""
    return click.option("--format", "screen_format", type=click.Choice(["auto", "table", "csv"]), default="auto",
                        show_default=True,
                        help="Without -o/--json: a readable table (auto: on a terminal) or CSV "
                             "(auto: when the output is piped to a file or program).")(f)


def wants_table(screen_format: str) -> bool:
    """True when results printed on stdout should be a readable table rather than CSV."""
    return screen_format == "table" or (screen_format == "auto" and sys.stdout.isatty())


def text_table(head: list[str], rows: list[list[str]], *, right: set[int] | frozenset[int] = frozenset(),
               indent: str = "  ") -> str:
    """Aligned plain-text table (``right``: indexes of right-aligned, numeric columns).

    >>> print(text_table(["what", "n"], [["households", "12"], ["children", "7"]], right={1}))
      what         n
      households  12
      children     7
    """
    widths = [max(len(head[j]), *(len(r[j]) for r in rows)) if rows else len(head[j]) for j in range(len(head))]
    lines = []
    for r in [head] + rows:
        cells = [r[j].rjust(widths[j]) if j in right else r[j].ljust(widths[j]) for j in range(len(head))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def format_intervals(table, *, label_cols: list[str], level: float = 0.95, title: str | None = None) -> str:
    """Estimates with SE and interval as a readable table, with the conventions of
    ``hiddenpop estimate`` (numbers rounded to two significant digits of their SE, CV in %).

    ``table`` needs ``estimate``, ``se``, ``ci_low``, ``ci_high``; ``cv`` and ``n`` are shown
    when present (the CV is computed from se/estimate otherwise).
    """
    import math

    from hiddenpop.weights.estimate import _round_sig

    def fin(v) -> bool:
        try:
            return math.isfinite(float(v))
        except (TypeError, ValueError):
            return False

    head = list(label_cols) + ["estimate", "se", f"{100 * level:g}% CI", "cv%"] + (["n"] if "n" in table else [])
    rows = []
    for r in table.to_dict("records"):
        se = float(r["se"]) if fin(r.get("se")) else None
        est = float(r["estimate"]) if fin(r.get("estimate")) else None
        cv = r.get("cv") if fin(r.get("cv")) else (se / abs(est) if se is not None and est else None)
        lo, hi = _round_sig(r.get("ci_low"), se), _round_sig(r.get("ci_high"), se)
        row = ["" if r.get(c) is None or (isinstance(r.get(c), float) and not fin(r.get(c))) else str(r.get(c))
               for c in label_cols]
        row += [_round_sig(est, se), _round_sig(se, se) if se is not None else "",
                f"{lo} to {hi}" if lo and hi else "", f"{100 * float(cv):.1f}" if cv is not None else ""]
        if "n" in table:
            row.append(f"{int(r['n']):,}" if fin(r.get("n")) else "")
        rows.append(row)
    body = text_table(head, rows, right=set(range(len(label_cols), len(head))))
    return (title + "\n" + body) if title else body


_OUTPUT_PARAMS = ("output", "outdir", "children_out", "markdown_path", "reminders", "weights_output",
                  "replicate_weights_out")


def add_result(**facts) -> None:
    """Facts of the running command for its ``--json`` summary (see :func:`json_summary_option`)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault("hiddenpop.result", {}).update(facts)


def json_summary_option(f: Callable) -> Callable:
    """``--json`` for a command whose results are files: print one JSON object on stdout.

    The object names the command, the files it wrote (``outputs``) and the facts the command
    recorded with :func:`add_result`; the command's usual stdout lines go to stderr instead.
    """
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        if not ctx.meta.get("hiddenpop.json"):
            return f(*args, **kwargs)
        import json
        from pathlib import Path

        with contextlib.redirect_stdout(sys.stderr):
            value = f(*args, **kwargs)
        outputs = []
        for name in _OUTPUT_PARAMS:
            path = ctx.params.get(name)
            if path and path != "-" and Path(path).exists():
                outputs += sorted(str(p) for p in Path(path).iterdir()) if Path(path).is_dir() else [str(path)]
        if ctx.command.name == "init" and ctx.params.get("store"):
            outputs.append(str(ctx.params["store"]))
        facts = ctx.meta.get("hiddenpop.result", {})
        names, c = [], ctx
        while c.parent is not None:
            names.insert(0, c.info_name)
            c = c.parent
        click.echo(json.dumps({"command": " ".join(names), "outputs": outputs, **facts},
                              indent=2, default=str))
        return value

    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta["hiddenpop.json"] = value
        return value

    return click.option("--json", "as_json_summary", is_flag=True, default=False, expose_value=False,
                        callback=remember, is_eager=True,
                        help="Print a JSON summary (the files written and the key figures) on standard output; "
                             "the usual messages go to standard error.")(wrapper)
