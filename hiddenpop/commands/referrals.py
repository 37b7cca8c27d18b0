"""``hiddenpop referrals``: the field store of referral logs (the coordinator's daily loop).

\b
  hiddenpop referrals init survey.hpstore --expiry-days 14 --max-coupons 3
  hiddenpop referrals import survey.hpstore kobo_export.xlsx --mapping team.toml
  hiddenpop referrals status survey.hpstore
  hiddenpop referrals plot survey.hpstore --kind tree --var registered -o trees.png
  hiddenpop referrals export survey.hpstore --format csv -o households.csv
"""
from __future__ import annotations

import json

import click

from hiddenpop.commands._common import echo_err, json_option, output_option, overwrite_option, progress

__all__ = ["referrals"]

EXPORT_FORMATS = ("csv", "rdsat", "rds-csv", "graphml", "json", "events")
PLOT_KINDS = ("tree", "convergence", "bottleneck")
_SHOW = 20


def _print_problems(problems: list, *, limit: int = _SHOW) -> None:
    for p in problems[:limit]:
        echo_err(f"{p.severity.upper()}: {p}")
    if len(problems) > limit:
        echo_err(f"… and {len(problems) - limit} more (use --json for the full list)")


@click.group()
def referrals() -> None:
    """Referral stage: import daily logs, validate, follow coupons and chains."""


@referrals.command("init")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--requires-point", is_flag=True, help="Seeds come from first-stage points: a seed needs a point_id.")
@click.option("--max-coupons", type=click.IntRange(min=1), default=None, help="Coupons per respondent in the design.")
@click.option("--expiry-days", type=click.FloatRange(min=0), default=None,
              help="Days after which an unredeemed coupon counts as expired.")
@click.option("--max-network-size", type=click.FloatRange(min=1), default=None,
              help="Network sizes above this are flagged as implausible (default 500).")
@overwrite_option
def init_cmd(store, requires_point, max_coupons, expiry_days, max_network_size, overwrite) -> None:
    """Create an empty survey store STORE (one SQLite file)."""
    from hiddenpop.io.store import ReferralStore

    ReferralStore.create(store, design_requires_point=requires_point, max_coupons=max_coupons,
                         expiry_days=expiry_days, max_network_size=max_network_size, overwrite=overwrite)
    click.echo(f"created {store}")


@referrals.command("import")
@click.argument("store", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="TOML/YAML mapping file: your column names, coupon columns, group prefixes, personal fields.")
@click.option("--format", "fmt", type=click.Choice(["auto", "log", "rds-csv", "rdsat"]), default="auto",
              show_default=True, help="Input format.")
@click.option("--strict", is_flag=True, help="Import nothing if any row has an error.")
@click.option("--accept-changes", is_flag=True,
              help="Rows changed since the last import replace the stored version (kept in the history).")
@json_option
def import_cmd(store, file, mapping, fmt, strict, accept_changes, as_json) -> None:
    """Import a day's export FILE into STORE (idempotent; bad rows are quarantined)."""
    from hiddenpop.errors import RecruitmentError
    from hiddenpop.io.store import ReferralStore

    st = ReferralStore.open(store)
    with progress(0, "importing") as advance:
        res = st.import_file(file, mapping=mapping, fmt=fmt, strict=strict, accept_changes=accept_changes,
                             progress=advance)
    if as_json:
        click.echo(json.dumps({"summary": res.summary(), "import_id": res.import_id, "landed": res.landed,
                               "already_imported": res.already_imported, "n_new": res.n_new,
                               "n_quarantined": res.n_quarantined,
                               "problems": [p.to_dict() for p in res.problems]}, indent=1, default=str))
    else:
        click.echo(res.summary())
        _print_problems(res.errors + res.warnings)
    if not res.landed:
        raise RecruitmentError(f"{len(res.errors)} error(s); nothing was imported",
                               where=file, fix="correct the rows listed above, or import without --strict")


@referrals.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--mapping", type=click.Path(dir_okay=False), default=None, help="TOML/YAML mapping file.")
@click.option("--format", "fmt", type=click.Choice(["auto", "log", "rds-csv", "rdsat"]), default="auto",
              show_default=True)
@click.option("--requires-point", is_flag=True, help="Seeds must have a point_id.")
@click.option("--max-coupons", type=click.IntRange(min=1), default=None)
@click.option("--max-network-size", type=click.FloatRange(min=1), default=None)
@json_option
def validate_cmd(file, mapping, fmt, requires_point, max_coupons, max_network_size, as_json) -> None:
    """Check FILE without a store: one line per problem (exit 1 if there are errors)."""
    from pathlib import Path

    from hiddenpop.errors import RecruitmentError
    from hiddenpop.io.referrals import read_mapping
    from hiddenpop.io.store import _read_any
    from hiddenpop.rds.validate import DEFAULT_MAX_NETWORK_SIZE, quarantine_rows, validate_log

    table = _read_any(Path(file), fmt, read_mapping(mapping) if mapping else None)
    problems = validate_log(table, source=file, design_requires_point=requires_point, max_coupons=max_coupons,
                            max_network_size=max_network_size or DEFAULT_MAX_NETWORK_SIZE)
    q = quarantine_rows(table, problems)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in problems], indent=1, default=str))
    else:
        for p in problems:
            click.echo(f"{p.severity.upper()}: {p}")
        click.echo(f"{len(table)} rows: {len(errors)} error(s), {len(problems) - len(errors)} warning(s); "
                   f"{len(q)} row(s) would be quarantined")
    if errors:
        raise RecruitmentError(f"{len(errors)} error(s) in {len(q)} row(s)", where=file,
                               fix="correct the rows listed above")


@referrals.command("status")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--as-of", default=None, help="Reference time for expiry (ISO 8601; default: now).")
@click.option("--stall-days", type=float, default=7.0, show_default=True,
              help="A chain with no interview for this many days but coupons out is 'stalled'.")
@click.option("--reminders", type=click.Path(dir_okay=False), default=None,
              help="Also write the reminder-call list (recruiters with coupons out) to this CSV.")
@overwrite_option
@json_option
def status_cmd(store, as_of, stall_days, reminders, overwrite, as_json) -> None:
    """Evening report: coupons back/out/expired, waves, seeds, problems of the last import."""
    import datetime as dt

    from hiddenpop.io import write_csv
    from hiddenpop.io.store import ReferralStore
    from hiddenpop.rds.fieldstatus import recruitment_by_seed, recruitment_by_wave, reminder_list, status_summary

    st = ReferralStore.open(store)
    as_of = as_of or dt.datetime.now(dt.timezone.utc).isoformat()
    expiry = st.settings.get("expiry_days")
    t = st.respondents(as_of=as_of)
    summary = status_summary(t, expiry_days=expiry, as_of=as_of) if len(t) else {"respondents": 0}
    waves = recruitment_by_wave(t) if len(t) else None
    seeds = recruitment_by_seed(t, stall_days=stall_days, as_of=as_of) if len(t) else None
    rem = reminder_list(t, expiry_days=expiry, as_of=as_of) if len(t) else None
    quarantine = st.quarantine()
    waiting = st.pending()
    dups = st.possible_duplicates()
    if reminders and rem is not None:
        write_csv(reminders, rem, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps({"summary": summary,
                               "by_wave": None if waves is None else waves.to_dict("records"),
                               "by_seed": None if seeds is None else seeds.astype(str).to_dict("records"),
                               "quarantine": quarantine.to_dict("records"),
                               "waiting_for_recruiter": waiting[["respondent_id", "source_file", "source_row"]]
                               .to_dict("records"),
                               "possible_duplicates": dups.to_dict("records")}, indent=1, default=str))
        return
    click.echo(f"store {store}: " + ", ".join(f"{k} {v if not isinstance(v, float) else round(v, 3)}"
                                              for k, v in summary.items()))
    if waves is not None:
        click.echo("\nrecruitment by wave\n" + waves.to_string(index=False))
        states = seeds["state"].value_counts().to_dict()
        click.echo(f"\nchains: {len(seeds)} seeds — " + ", ".join(f"{v} {k}" for k, v in states.items()))
        stalled = seeds[seeds["state"] == "stalled"]
        if len(stalled):
            click.echo(stalled[["seed_id", "chain_size", "max_wave", "outstanding_coupons",
                                "days_since_last_interview"]].head(_SHOW).to_string(index=False))
    if rem is not None and len(rem):
        click.echo(f"\nreminder calls ({len(rem)} recruiters with coupons out)\n"
                   + rem.head(_SHOW).to_string(index=False))
    if len(quarantine):
        click.echo(f"\nquarantined in the last import: {quarantine['source_row'].nunique()} row(s)")
        for r in quarantine.head(_SHOW).itertuples():
            click.echo(f"  row {r.source_row} ({r.respondent_id}): {r.rule}: {r.message}")
    if len(waiting):
        click.echo(f"\n{len(waiting)} row(s) wait for their recruiter's interview: they land by themselves at the "
                   "import that brings it (or withdraw them)")
    if len(dups):
        click.echo(f"\npossible households interviewed twice (same hashed {', '.join(sorted(set(dups['field'])))}):")
        click.echo(dups.head(_SHOW).to_string(index=False))


@referrals.command("plot")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(list(PLOT_KINDS)), required=True)
@click.option("--var", default=None, help="Variable to colour by (tree) or to follow (convergence, bottleneck).")
@click.option("--level", default=None, help="Bottleneck: the level of --var to plot (default: the last level).")
@output_option(help="PNG file.")
@overwrite_option
def plot_cmd(store, kind, var, level, output, overwrite) -> None:
    """Recruitment trees, convergence or bottleneck plot as PNG."""
    from hiddenpop.io import save_figure
    from hiddenpop.io.store import ReferralStore
    from hiddenpop.rds.plots import plot_bottleneck, plot_convergence, plot_recruitment_trees

    t = ReferralStore.open(store).respondents()
    if kind != "tree" and not var:
        raise click.UsageError(f"--kind {kind} needs --var")
    if kind == "tree":
        fig = plot_recruitment_trees(t, color_by=var)
    elif kind == "convergence":
        fig = plot_convergence(t, var)
    else:
        fig = plot_bottleneck(t, var, level=level)
    save_figure(output, fig, overwrite=overwrite)
    click.echo(f"wrote {output}")


@referrals.command("export")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)), required=True,
              help="csv: households for the weighting engine; rdsat / rds-csv: for RDSAT and R; graphml / json: "
                   "the recruitment graph; events: one row per selection event.")
@click.option("--include-location", is_flag=True, help="csv: keep lon/lat (left out by default).")
@output_option()
@overwrite_option
def export_cmd(store, fmt, include_location, output, overwrite) -> None:
    """Write the accepted data (never personal fields) for the next stage or other software."""
    from hiddenpop.io import write_csv
    from hiddenpop.io.referrals import (write_graphml, write_node_link_json, write_rds_csv, write_rdsat,
                                        write_weighting_csv)
    from hiddenpop.io.store import ReferralStore
    from hiddenpop.rds.coupons import recruiter_ids
    from hiddenpop.rds.graph import build_graph

    st = ReferralStore.open(store)
    if fmt == "csv":
        write_weighting_csv(output, st.respondents(), include_location=include_location, overwrite=overwrite)
    elif fmt in ("rdsat", "rds-csv"):
        raw = st.raw_respondents()
        raw["recruiter_id"] = recruiter_ids(raw)
        (write_rdsat if fmt == "rdsat" else write_rds_csv)(output, raw, overwrite=overwrite)
    elif fmt == "events":
        write_csv(output, st.selection_events(), overwrite=overwrite)
    else:
        G = build_graph(st.respondents())
        (write_graphml if fmt == "graphml" else write_node_link_json)(output, G, overwrite=overwrite)
    click.echo(f"wrote {output}")


@referrals.command("history")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--respondent", default=None, help="Show every version of one respondent.")
@json_option
def history_cmd(store, respondent, as_json) -> None:
    """Imports (file, checksum, counts) and corrections, oldest first."""
    from hiddenpop.io.store import ReferralStore

    st = ReferralStore.open(store)
    if respondent is not None:
        h = st.history(respondent)
        if as_json:
            click.echo(h.to_json(orient="records", indent=1))
        else:
            click.echo(h.drop(columns=["data"]).to_string(index=False) if len(h) else "no history")
        return
    imp = st.imports()
    corr = st.history()
    corr = corr[corr["action"].isin(["correct", "withdraw", "withdraw-pending", "import-change"])].drop(columns=["data"])
    if as_json:
        click.echo(json.dumps({"imports": imp.to_dict("records"), "corrections": corr.to_dict("records")},
                              indent=1, default=str))
        return
    click.echo("imports\n" + (imp.assign(sha256=imp["sha256"].str[:12]).to_string(index=False) if len(imp)
                              else "(none)"))
    click.echo("\ncorrections\n" + (corr.to_string(index=False) if len(corr) else "(none)"))


@referrals.command("correct")
@click.argument("store", type=click.Path(dir_okay=False))
@click.argument("respondent_id")
@click.option("--set", "changes", multiple=True, required=True, metavar="COLUMN=VALUE",
              help="Field to change (repeatable); an empty VALUE clears it.")
@click.option("--reason", required=True, help="Why (kept in the history).")
def correct_cmd(store, respondent_id, changes, reason) -> None:
    """Correct fields of one stored respondent; the old version stays in the history."""
    from hiddenpop.io.store import ReferralStore

    parsed = {}
    for c in changes:
        if "=" not in c:
            raise click.BadParameter(f"'{c}' is not COLUMN=VALUE", param_hint="--set")
        k, v = c.split("=", 1)
        parsed[k.strip()] = v.strip()
    ReferralStore.open(store).correct(respondent_id, parsed, reason=reason)
    click.echo(f"corrected {respondent_id}: " + ", ".join(f"{k}={v!r}" for k, v in parsed.items()))


@referrals.command("withdraw")
@click.argument("store", type=click.Path(dir_okay=False))
@click.argument("respondent_id")
@click.option("--reason", required=True, help="Why (kept in the history).")
def withdraw_cmd(store, respondent_id, reason) -> None:
    """Take a respondent out of the data (e.g. an interview entered twice); kept in the history."""
    from hiddenpop.io.store import ReferralStore

    ReferralStore.open(store).withdraw(respondent_id, reason=reason)
    click.echo(f"withdrew {respondent_id}")
