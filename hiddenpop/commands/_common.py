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
           "echo_err", "renamed_option", "screen_format_option", "wants_table", "text_table", "format_intervals",
           "add_result", "json_summary_option", "RegistryChoice", "none_value", "split_values",
           "replicate_columns", "allow_zero_weights", "ZERO_WEIGHT_POLICIES", "LONELY_PSU", "REPLICATE_KINDS",
           "VARIANCE_METHODS", "design_options", "refit_calibration", "EXIT_CODES", "EXIT_INTERNAL",
           "EXIT_INTERRUPTED", "EXIT_QUARANTINED", "SUBPOP_OPERATORS", "subpop_conditions", "subpop_mask", "subpop_option",
           "check_named_columns"]

#: exit codes of the command line (``hiddenpop.cli`` uses them; the README's table lists them)
EXIT_QUARANTINED = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

#: Every exit code of the command line and its meaning (the README's table).
EXIT_CODES = {
    0: "done",
    1: "input error: a file or value does not fit (one line says which and what to do); nothing was written",
    2: "usage error: an unknown option or a missing argument",
    EXIT_QUARANTINED: "imported with rows quarantined: the good rows landed, the quarantined ones are listed",
    EXIT_INTERNAL: "internal error: a bug in hiddenpop; run again with -v and report the details",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing half-written is left",
}

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
    def choices(self, value: Iterable[str]) -> None:
        """Ignore the value click.Choice.__init__ assigns: the registry decides, on first use."""
        self._names = None


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

    from hiddenpop.weights.estimate import round_sig

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
        lo, hi = round_sig(r.get("ci_low"), se), round_sig(r.get("ci_high"), se)
        row = ["" if r.get(c) is None or (isinstance(r.get(c), float) and not fin(r.get(c))) else str(r.get(c))
               for c in label_cols]
        row += [round_sig(est, se), round_sig(se, se) if se is not None else "",
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


# --- design options shared by 'estimate' and 'model' ---


def none_value(value: str | None) -> str | None:
    """``None`` for an option given as ``none`` or empty (e.g. ``--stratum-col none``), else the value."""
    return None if value is None or value.lower() in ("none", "") else value


def split_values(values: tuple[str, ...]) -> list[str]:
    """Option values split at commas, blanks dropped: ``("a,b", "c")`` → ``["a", "b", "c"]``."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def replicate_columns(data, spec: str | None, *, needed: bool, source: str = "the survey file"
                      ) -> tuple[str, ...] | None:
    """Expand ``--replicate-cols``: a comma list, shell-style patterns, or (default) ``rep_1 … rep_B``.

    Columns matched by a pattern are ordered by the number they end with, so ``rep_10``
    follows ``rep_9``. When ``needed`` (``--variance replicate``) and ``source`` has no
    ``rep_1 … rep_B`` columns, the user is told how to name them.
    """
    import fnmatch
    import re

    def number(col: str) -> tuple[int, str]:
        m = re.search(r"(\d+)$", col)
        return (int(m.group(1)) if m else -1, col)

    if not spec:
        if not needed:
            return None
        cols = [c for c in data.columns if re.fullmatch(r"rep_\d+", str(c))]
        if not cols:
            raise click.UsageError(f"--variance replicate: {source} has no rep_1 ... rep_B columns; "
                                   "name the replicate weight columns with --replicate-cols")
        return tuple(sorted(cols, key=number))
    out: list[str] = []
    for item in split_values((spec,)):
        if any(ch in item for ch in "*?["):
            matched = sorted((c for c in data.columns if fnmatch.fnmatchcase(str(c), item)), key=number)
            if not matched:
                raise click.BadParameter(f"no column matches {item!r}", param_hint="--replicate-cols")
            out.extend(matched)
        else:
            out.append(item)
    return tuple(out)


def refit_calibration(data, survey_file, calibration: str | None, weight_col: str, weights, *,
                      psu_col: str | None = None, stratum_col: str | None = None):
    """The recorded calibration of calibrated weights, refitted (for linearised SEs through it,
    as R svymean on a calibrated design, and for replicates calibrated one by one); None for
    weights that were not calibrated; refuses calibrated weights that come without their model.
    Children's weights calibrated with their households (``weights calibrate --children``) refit
    the households' calibration on the household file their model names (``psu_col`` and
    ``stratum_col``: the design columns, shared by children and households)."""
    import os

    from hiddenpop.errors import DesignError
    from hiddenpop.io import read_json
    from hiddenpop.weights.calibrate import calibration_sidecar, refit_model

    if calibration is not None and calibration.lower() == "none":
        return None
    path = calibration or calibration_sidecar(str(survey_file))
    if calibration is None and not os.path.exists(path):
        if "precalibration_weight" in data.columns and weight_col != "precalibration_weight":
            raise DesignError(
                "the weights were calibrated (column precalibration_weight) but their calibration model is missing, "
                "and a linearised SE that treats calibrated weights as fixed is wrong (often by 10% or more)",
                where=str(survey_file),
                fix=f"keep {os.path.basename(path)} (written by 'weights calibrate') next to the file or name it with "
                    "--calibration FILE; or use --variance replicate with the recalibrated rep_* columns; or "
                    "--calibration none to treat the weights as fixed")
        return None
    model = read_json(path)
    if isinstance(model, dict) and model.get("weight_col") not in (None, weight_col):
        return None   # another weight column (e.g. the input weights) is estimated with
    if isinstance(model, dict) and model.get("unit") == "children":
        from hiddenpop.io import read_csv
        from hiddenpop.weights.calibrate import refit_children_model

        hh_file = os.path.join(os.path.dirname(os.path.abspath(path)), str(model.get("households_file", "")))
        if not os.path.exists(hh_file):
            raise DesignError(f"the children's weights were calibrated with their households, whose weights file "
                              f"{model.get('households_file')!r} (named in the calibration model) is not there",
                              where=str(path), fix="keep the household output of 'weights calibrate' where it was "
                                                   "written, or use --variance replicate")
        id_col = str(model.get("id_col", "hh_id"))
        households = read_csv(hh_file, dtype={id_col: str}, usecols=lambda c: not str(c).startswith("rep_"))
        return refit_children_model(data, households, model, weights=weights, psu_col=psu_col,
                                    stratum_col=stratum_col, source=str(path))
    return refit_model(data, model, weights=weights, source=str(path))


#: ``--zero-weights`` of estimate and model: ``auto`` accepts weight-0 rows that all have a
#: ``weight_flag`` reason, ``error`` refuses any, ``allow`` accepts them (read by :func:`allow_zero_weights`)
ZERO_WEIGHT_POLICIES = ("auto", "error", "allow")


def allow_zero_weights(data, weight_col: str, policy: str) -> bool:
    """Zero weights are accepted when explained (``weight_flag``) or explicitly allowed."""
    if policy not in ZERO_WEIGHT_POLICIES:
        raise ValueError(f"unknown zero-weight policy {policy!r}")
    if policy != "auto":
        return policy == "allow"
    if weight_col not in data.columns or "weight_flag" not in data.columns:
        return False
    import pandas as pd

    w = pd.to_numeric(data[weight_col], errors="coerce")
    flag = data["weight_flag"].astype(object).fillna("").astype(str).str.strip()
    return bool(((w != 0) | (flag != "")).all())


def prepared_design(data, survey_file, *, weight_col: str, stratum_col: str | None, psu_col: str | None,
                    fpc_col: str | None, ultimate_cluster: bool, lonely_psu: str, rep_cols, replicate_method,
                    replicate_scale, zero_weights: str, calibration: str | None, variance: str,
                    optional_defaults: bool):
    """The survey design of ``estimate`` and ``model``, built once from their shared options.

    ``--psu-col a,b`` / ``--fpc-col f1,f2`` give a multistage design (one FPC column per stage).
    With ``optional_defaults`` the default stratum/PSU column names may be absent from the file
    (an unstratified / unclustered survey). Calibrated weights are refitted through their recorded
    calibration for linearised SEs (as R's ``svymean`` on a calibrated design).

    Returns ``(prepared, refit, stratum_col, psu_col)``: the prepared design, the refitted
    calibration (or None) and the stratum/PSU columns actually used.
    """
    from hiddenpop.weights.design import Design

    if optional_defaults:
        ctx = click.get_current_context()
        if ctx.get_parameter_source("stratum_col") == click.core.ParameterSource.DEFAULT \
                and stratum_col not in data.columns:
            stratum_col = None
        if ctx.get_parameter_source("psu_col") == click.core.ParameterSource.DEFAULT and psu_col not in data.columns:
            psu_col = None
    psu_cols = split_values((psu_col,)) if none_value(psu_col) else []
    fpc_cols = split_values((fpc_col,)) if none_value(fpc_col) else []
    if len(fpc_cols) > 1 and len(fpc_cols) != len(psu_cols):
        raise click.UsageError(f"--fpc-col names {len(fpc_cols)} columns for {len(psu_cols)} stage(s) in --psu-col; "
                               "give one FPC column per stage (e.g. --psu-col district,school --fpc-col fpc1,fpc2)")
    design = Design(weight_col=weight_col, stratum_col=none_value(stratum_col),
                    psu_col=psu_cols[0] if psu_cols else None, fpc_col=fpc_cols[0] if fpc_cols else None,
                    ssu_col=tuple(psu_cols[1:]) or None, ssu_fpc_col=tuple(fpc_cols[1:]) or None,
                    ultimate_cluster=ultimate_cluster, lonely_psu=lonely_psu, replicate_cols=rep_cols,
                    replicate_method=replicate_method if rep_cols else None,
                    replicate_scale=replicate_scale if rep_cols else None,
                    allow_zero_weights=allow_zero_weights(data, weight_col, zero_weights))
    prepared = design.prepare(data, source=str(survey_file))
    refit = None
    if variance in ("linearization", "jk1", "jkn", "bootstrap"):
        refit = refit_calibration(data, survey_file, calibration, weight_col, prepared.weights,
                                  psu_col=psu_cols[0] if psu_cols else None, stratum_col=none_value(stratum_col))
        if refit is not None and refit.unit != "rows" and variance != "linearization":
            from hiddenpop.errors import DesignError

            raise DesignError(f"--variance {variance} would make replicates of the children and calibrate them as "
                              "households; the children's weights were calibrated with their households",
                              where=str(survey_file),
                              fix="use --variance replicate with the rep_* columns carried over from the households "
                                  "(weights compute --replicates, then weights calibrate --children), or "
                                  "--variance linearization")
    if refit is not None and variance == "linearization":
        prepared = prepared.with_weights(prepared.weights, adjustment=refit.adjustment)
    return prepared, refit, stratum_col, psu_col


#: the comparison operators of ``--subpop`` (estimate, model), longest first
SUBPOP_OPERATORS = ("<=", ">=", "!=", "==", "<", ">", "=")


def subpop_option(f: Callable) -> Callable:
    """``--subpop CONDITION`` of estimate and model: domain estimation, one definition for both."""
    return click.option(
        "--subpop", default=None, metavar="CONDITION",
        help="The population the results are about, e.g. 'age>=6' or 'age>=6,age<=17' (conditions joined by "
             "commas all hold; operators = != < <= > >=). Rows outside it stay in the design (domain estimation, "
             "as R's subset() of a survey design, and svyglm on it), so the standard errors are right; the "
             "condition is written in a 'population' column.")(f)


def subpop_conditions(text: str) -> list[str]:
    """The conditions of ``--subpop`` (joined by commas or ' and ')."""
    import re

    return [c.strip() for c in re.split(r",|\band\b", text) if c.strip()]


def subpop_mask(data, text: str, path):
    """Rows of ``data`` inside the ``--subpop`` population (every condition holds).

    >>> import pandas as pd
    >>> subpop_mask(pd.DataFrame({"age": [4, 6, 17], "sex": ["F", "M", "F"]}), "age>=6, sex=F", "c.csv").tolist()
    [False, False, True]
    """
    import operator

    import numpy as np
    import pandas as pd

    from hiddenpop.errors import InputFileError, format_where

    ops = {"<=": operator.le, ">=": operator.ge, "!=": operator.ne, "==": operator.eq, "=": operator.eq,
           "<": operator.lt, ">": operator.gt}
    mask = np.ones(len(data), dtype=bool)
    for cond in subpop_conditions(text):
        op = next((o for o in SUBPOP_OPERATORS if o in cond), None)
        if op is None:
            raise click.BadParameter(f"{cond!r} is not a condition: write COLUMN OPERATOR VALUE, e.g. age>=6",
                                     param_hint="--subpop")
        col, _, value = (t.strip().strip("'\"") for t in cond.partition(op))
        check_named_columns(data, path, {"--subpop": [col]})
        values = data[col]
        if pd.api.types.is_numeric_dtype(values):
            try:
                target = float(value)
            except ValueError:
                raise InputFileError(f"--subpop compares the numeric column with {value!r}, which is not a number",
                                     where=format_where(path, column=col), fix="give a number, e.g. age>=6") from None
            hit = ops[op](pd.to_numeric(values, errors="coerce").to_numpy(float), target)
        else:
            if op not in ("=", "==", "!="):
                raise InputFileError(f"--subpop uses {op} on a text column", where=format_where(path, column=col),
                                     fix="use = or != with text, or a numeric column")
            hit = ops[op](values.astype(str).str.strip().to_numpy(), value)
        mask &= np.asarray(hit, dtype=bool) & values.notna().to_numpy()
    if not mask.any():
        raise InputFileError(f"--subpop {text!r} leaves no row", where=str(path),
                             fix="check the condition against the values in the file")
    return mask


def check_named_columns(data, path, named: dict) -> None:
    """Columns named on the command line must exist: one line naming the file, option and column."""
    import difflib

    from hiddenpop.errors import InputFileError, format_where

    for option, cols in named.items():
        for col in cols:
            if col not in data.columns:
                close = difflib.get_close_matches(col, [str(c) for c in data.columns], n=1)
                raise InputFileError(f"{option} names a column that is not in the file",
                                     where=format_where(path, column=col),
                                     fix=(f"did you mean {close[0]!r}? " if close else "")
                                     + f"columns: {', '.join(map(str, data.columns[:15]))}"
                                     + (" …" if len(data.columns) > 15 else ""))


#: spelled out so that ``--help`` does not import the library; tests/test_cli_vocabulary.py keeps them
#: equal to hiddenpop.weights.design.LonelyPSU, hiddenpop.weights.design.REPLICATE_KINDS and
#: hiddenpop.weights.estimate.VARIANCE_METHODS (``--variance`` of estimate and model)
VARIANCE_METHODS = ("linearization", "jk1", "jkn", "bootstrap", "replicate")
LONELY_PSU = ('fail', 'adjust', 'certainty', 'remove', 'average')
REPLICATE_KINDS = ("bootstrap", "jk1", "other")


def design_options(f: Callable) -> Callable:
    """The survey-design options of ``estimate`` and ``model`` (weights, strata, PSUs, FPC, calibration,
    lonely PSUs, zero weights, replicate weight columns), one definition for both; their values go to
    :func:`prepared_design`."""
    for option in reversed([
        click.option("--weight-col", default="final_weight", show_default=True, help="Weight column."),
        click.option("--stratum-col", default="stratum", show_default=True, help="Stratum column ('none' for none)."),
        click.option("--psu-col", default="psu", show_default=True,
                     help="PSU column ('none': each row is a PSU); for a multistage design the unit id of every "
                          "stage, e.g. district,school."),
        click.option("--fpc-col", default=None,
                     help="FPC column: sampling fraction (≤1) or population PSU count; one per stage for a multistage "
                          "design, e.g. fpc1,fpc2."),
        click.option("--ultimate-cluster", is_flag=True, default=False,
                     help="Multistage design: first-stage (ultimate cluster) variance only, as R "
                          "survey.ultimate.cluster=TRUE."),
        click.option("--calibration", "calibration", default=None,
                     help="Calibration model of calibrated weights for linearised SEs (default: <file>.calibration.json "
                          "when it exists); 'none' treats the weights as fixed."),
        click.option("--lonely-psu", type=click.Choice(LONELY_PSU),
                     default="fail", show_default=True, help="Policy for strata with a single PSU."),
        click.option("--zero-weights", type=click.Choice(ZERO_WEIGHT_POLICIES), default="auto", show_default=True,
                     help="Rows with weight 0: 'auto' accepts them when every such row has a reason in a "
                          "weight_flag column (as weights compute writes), 'allow' always, 'error' never."),
        click.option("--replicate-cols", default=None,
                     help="Replicate weight columns for --variance replicate: a comma list, or a pattern such as "
                          "'rep_*' (default: the rep_1 ... rep_B columns that weights compute writes)."),
        click.option("--replicate-method", type=click.Choice(REPLICATE_KINDS), default="bootstrap",
                     show_default=True, help="How the --replicate-cols were made (sets the variance scale)."),
        click.option("--replicate-scale", type=click.FloatRange(0, min_open=True), default=None,
                     help="Variance scale of --replicate-method other: V = scale · Σ (θ_r − θ̄)², e.g. 1/(B−1) "
                          "(R svrepdesign scale)."),
    ]):
        f = option(f)
    return f
