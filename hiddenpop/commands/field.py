"""``hiddenpop field``: the questionnaire and the coupon sheets generated from the design.

Commands stay thin: read through :mod:`hiddenpop.io.field`, build with :mod:`hiddenpop.field`,
write through :mod:`hiddenpop.io`.
"""
from __future__ import annotations

from pathlib import Path

import click

from hiddenpop.commands._common import echo_err, output_option, overwrite_option

__all__ = ["field", "mapping_path_for"]


def mapping_path_for(form_path: str | Path) -> Path:
    """The mapping file written beside a form: ``survey.xlsx`` → ``survey.mapping.toml``."""
    p = Path(form_path)
    return p.with_name(p.stem + ".mapping.toml")


@click.group()
def field() -> None:
    """The field loop from the design: questionnaire (XLSForm) and printable coupons.

    \b
      hiddenpop field form points.design.json --points points.csv -o survey.xlsx
      hiddenpop field coupons survey.hpstore --seeds 40 -o coupons.pdf
    """


@field.command("form")
@click.argument("design", type=click.Path(dir_okay=False))
@click.option("--points", "points_path", type=click.Path(dir_okay=False), required=True,
              help="The first-stage points (points.csv from `hiddenpop frame sample`).")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False), default=None,
              help="Questionnaire settings (TOML): languages, coupons per household, eligibility, teams, "
                   "child modules, personal fields. Defaults are used without it.")
@output_option(help="The XLSForm to write (.xlsx); the import mapping is written beside it (NAME.mapping.toml).")
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
    from hiddenpop.field.form import FormSettings, build_form
    from hiddenpop.io import read_csv
    from hiddenpop.io.field import read_design, read_form_settings, write_form

    if not output.lower().endswith(".xlsx"):
        raise click.BadParameter("the XLSForm must be an .xlsx file", param_hint="-o/--output")
    settings = read_form_settings(settings_path) if settings_path else FormSettings()
    man = read_design(design)
    points = read_csv(points_path, dtype={"point_id": str, "stratum": str})
    form = build_form(man, points, settings, design_source=str(design), points_source=str(points_path))
    mpath = mapping_path_for(output)
    header = (f"Import mapping of the form {Path(output).name} (written by `hiddenpop field form`).\n"
              f"hiddenpop referrals import STORE EXPORT.csv --mapping {mpath.name}")
    write_form(output, form.sheets(), mpath, form.mapping(), header=header, overwrite=overwrite)
    n_points = int((form.choices["list_name"] == "points").sum())
    click.echo(f"wrote {output} ({len(form.export_columns())} exported columns, {n_points} points, "
               f"{len(settings.languages)} language(s)) and {mpath}")
    if form.personal:
        click.echo(f"personal fields asked: {', '.join(form.personal)} (hashed on import, never exported)")
    for lang, keys in form.untranslated.items():
        echo_err(f"note: {len(keys)} text(s) in {lang} fall back to {settings.languages[0]}; add them under "
                 f"[translations.\"{lang}\"] in the settings (e.g. {keys[0]} = \"...\")")
