"""``hiddenpop field``: the questionnaire and the coupon sheets generated from the design.

Commands stay thin: read through :mod:`hiddenpop.io.field`, build with :mod:`hiddenpop.field`,
write through :mod:`hiddenpop.io`.
"""
from __future__ import annotations

from pathlib import Path

import click

from hiddenpop.commands._common import add_result, echo_err, json_summary_option, output_option, overwrite_option

__all__ = ["field", "mapping_path_for"]


def mapping_path_for(form_path: str | Path) -> Path:
    """The mapping file written beside a form: ``survey.xlsx`` → ``survey.mapping.toml``."""
    p = Path(form_path)
    return p.with_name(p.stem + ".mapping.toml")


def point_sheet_path_for(form_path: str | Path) -> Path:
    """The point sheet written beside a form: ``survey.xlsx`` → ``survey.points.xlsx``."""
    p = Path(form_path)
    return p.with_name(p.stem + ".points.xlsx")


@click.group()
def field() -> None:
    """The field loop from the design: questionnaire (XLSForm) and printable coupons.

    \b
      hiddenpop field form points.design.json --points points.csv -o survey.xlsx
      hiddenpop field coupons survey.hpstore --seeds 40 -o coupons.pdf
    """


@field.command("form")
@json_summary_option
@click.argument("design", type=click.Path(dir_okay=False))
@click.option("--points", "points_path", type=click.Path(dir_okay=False), required=True,
              help="The first-stage points (points.csv from `hiddenpop frame sample`).")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False), default=None,
              help="Questionnaire settings (TOML): languages, coupons per household, eligibility, teams, "
                   "child modules, personal fields. Defaults are used without it.")
@output_option(help="The XLSForm to write (.xlsx); beside it the import mapping (NAME.mapping.toml) and the point "
                    "sheet form (NAME.points.xlsx: one record per point visit, zero points included).")
@overwrite_option
def form_cmd(design, points_path, settings_path, output, overwrite) -> None:
    """Write the questionnaire (XLSForm for ODK Collect / KoboToolbox) of a design.

    The form asks consent first, then how the household was reached, the point (with a GPS
    check against the listing radius), the network sizes the weights need, the coupons (with
    check digits), registration status and the child roster. Its exports import with
    `hiddenpop referrals import STORE EXPORT --mapping NAME.mapping.toml`, no editing needed.

    \b
    Example:
      hiddenpop field form points.design.json --points points.csv --settings survey.toml -o survey.xlsx
    """
    from hiddenpop.field.form import FormSettings, build_form, build_point_form
    from hiddenpop.io import read_csv
    from hiddenpop.io.field import read_form_settings, write_form
    from hiddenpop.io.spatial import read_design

    if not output.lower().endswith(".xlsx"):
        raise click.BadParameter("the XLSForm must be an .xlsx file", param_hint="-o/--output")
    settings = read_form_settings(settings_path) if settings_path else FormSettings()
    first_stage = read_design(design)
    points = read_csv(points_path, dtype={"point_id": str, "stratum": str})
    form = build_form(first_stage, points, settings, design_source=str(design), points_source=str(points_path))
    sheet = build_point_form(first_stage, points, settings, design_source=str(design),
                             points_source=str(points_path))
    mpath, ppath = mapping_path_for(output), point_sheet_path_for(output)
    header = (f"Import mapping of the form {Path(output).name} (written by `hiddenpop field form`).\n"
              f"hiddenpop referrals import STORE EXPORT.csv --mapping {mpath.name}")
    write_form(output, form.sheets(), mpath, form.mapping(), header=header, overwrite=overwrite,
               extra_forms={ppath: sheet.sheets()})
    n_points = int((form.choices["list_name"] == "points").sum())
    add_result(files=[str(output), str(mpath), str(ppath)], exported_columns=len(form.export_columns()),
               points=n_points)
    click.echo(f"wrote {output} ({len(form.export_columns())} exported columns, {n_points} points, "
               f"{len(settings.languages)} language(s)), {mpath} and the point sheet {ppath}")
    if form.personal:
        click.echo(f"personal fields asked: {', '.join(form.personal)} (hashed on import, never exported)")
    for lang, keys in form.untranslated.items():
        echo_err(f"note: {len(keys)} text(s) in {lang} fall back to {settings.languages[0]}; add them under "
                 f"[translations.\"{lang}\"] in the settings (e.g. {keys[0]} = \"...\")")


@field.command("coupons")
@json_summary_option
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--seeds", type=click.IntRange(min=1, max=5000), default=None,
              help="Print coupons for this many new seed households (coupons per household each).")
@click.option("--for", "for_respondents", multiple=True, metavar="RESPONDENT",
              help="Print coupons for these interviewed respondents (repeat the option, or separate ids with commas).")
@click.option("--per-respondent", type=click.IntRange(min=1, max=9), default=None,
              help="Coupons per household (default: [coupons] per_respondent of --settings, else the store's "
                   "--max-coupons, else 2).")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False), default=None,
              help="Questionnaire settings (TOML): survey title, contact text, coupon validity.")
@click.option("--issue-date", default=None, help="Day the coupons are handed out (YYYY-MM-DD; default: today); "
                                                 "the expiry date printed is this day + the validity in days.")
@output_option(help="The PDF to write (8 coupons to an A4 page, with cut lines).")
@overwrite_option
def coupons_cmd(store, seeds, for_respondents, per_respondent, settings_path, issue_date, output, overwrite) -> None:
    """Print coupons (PDF) and register their numbers in the store as printed, not yet issued.

    Each coupon has a short number with a check digit (Damm), a QR code of the same number,
    the expiry date and the survey's contact text. Once coupons are registered, every import
    checks the coupon numbers: a mistyped number (wrong check digit) or a number that was never
    printed is quarantined with what to do.

    \b
    Examples:
      hiddenpop field coupons survey.hpstore --seeds 20 --settings field.toml -o seeds.pdf
      hiddenpop field coupons survey.hpstore --for R00012 --for R00013 -o coupons_R00012.pdf
    """
    import datetime as dt

    from hiddenpop.errors import InputFileError
    from hiddenpop.field.couponsheet import Coupon, coupon_sheet_pdf
    from hiddenpop.field.form import FormSettings
    from hiddenpop.io.field import read_form_settings, write_pdf
    from hiddenpop.io.store import ReferralStore

    who = [r.strip() for item in for_respondents for r in item.split(",") if r.strip()]
    if (seeds is None) == (not who):
        raise click.UsageError("give either --seeds N or --for RESPONDENT (not both)")
    settings = read_form_settings(settings_path) if settings_path else FormSettings()
    for key, text in (("[form] title", settings.title), ("[coupons] contact", settings.contact)):
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise InputFileError(f"{key} {text!r} has letters the coupon PDF cannot print (Latin script only)",
                                 where=str(settings_path), fix="write the coupon texts in a Latin-script "
                                 "language; the questionnaire itself can use any language") from None
    st = ReferralStore.open(store)
    k = per_respondent or (settings.coupons_per_respondent if settings_path else None) \
        or st.settings.get("max_coupons") or 2
    if who:
        known = set(st.respondents()["respondent_id"].astype(str))
        missing = [r for r in who if r not in known]
        if missing:
            raise InputFileError(f"respondent(s) {', '.join(missing[:5])} not in the store", where=str(store),
                                 fix="import their interview first, or check the ids (`hiddenpop referrals status`)")
    try:
        day = dt.date.fromisoformat(issue_date) if issue_date else dt.date.today()
    except ValueError:
        raise click.BadParameter(f"{issue_date!r} is not a date like 2024-03-18", param_hint="--issue-date") from None
    days = settings.coupon_expiry_days if settings_path else int(st.settings.get("expiry_days") or
                                                                 settings.coupon_expiry_days)
    expires = (day + dt.timedelta(days=days)).isoformat()
    owners = [r for r in who for _ in range(k)] if who else [None] * (seeds * k)
    notes = ([f"for {r}" for r in owners] if who else [f"seed set {i // k + 1}" for i in range(len(owners))])
    with st.print_coupons(len(owners), for_respondents=owners, printed_on=day.isoformat(), expires=expires) as codes:
        pdf = coupon_sheet_pdf([Coupon(c, expires=expires, note=n) for c, n in zip(codes, notes)],
                               title=settings.title, contact=settings.contact)
        write_pdf(output, pdf, overwrite=overwrite)
    pages = -(-len(codes) // 8)
    click.echo(f"wrote {output}: {len(codes)} coupons ({codes[0]} … {codes[-1]}) on {pages} page(s), valid until "
               f"{expires}; registered in {store} as printed, not yet issued")
