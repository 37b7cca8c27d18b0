"""``hiddenpop report``: the end-to-end HTML/Markdown report."""
from __future__ import annotations

from pathlib import Path

import click

from hiddenpop.commands._common import echo_err, json_summary_option, overwrite_option

__all__ = ["report"]

_IMAGES = {"map": ("points.png", "First-stage points over the frame: every refugee household within the listing radius of a point was interviewed"),
           "tree": ("recruitment_tree.png", "Recruitment trees: households found at points and the households they referred")}
_BY_NAMES = {"registered": "registration status", "age_group": "age group", "stratum": "stratum", "sex": "sex"}
_RECRUITMENT_CAPTION = ("Left: households interviewed at the points and through coupons (wave 1, 2, …), by "
                        "registration. Right: with one wave, how many households each household found at a point "
                        "brought in; with several waves, the largest referral chains (each dot a household, each "
                        "line a coupon redeemed).")


@click.command()
@json_summary_option
@click.argument("workdir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Report HTML file.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as Markdown (images next to it as PNG files).")
@click.option("--title", default="Survey of refugee households: registered and unregistered", show_default=True,
              help="Title at the top of the report.")
@overwrite_option
def report(workdir: str, output: str, markdown_path: str | None, title: str, overwrite: bool) -> None:
    """Write the end-to-end HTML report of WORKDIR.

    WORKDIR is the folder the demo or your own commands wrote.

    Reads, when present: popsize_households.csv and popsize_children.csv (weights popsize: the
    number of unregistered households and children, shown first), points.design.json and
    points.png (design, map), recruitment_tree.png (replaced by a legible summary of the chains
    when the weights hold recruiter_id), weights_calibrated.csv or weights.csv with their
    .settings.json (weight distribution, how the weights were made), child_weights_calibrated.csv
    or child_weights.csv (children's totals checked against the households', and the unregistered
    vs registered differences of the child indicators), estimates*.csv (tables).
    One self-contained HTML file: images embedded, no scripts, renders offline.

    \b
    Example:
      hiddenpop report demo-output -o demo-output/report.html --markdown demo-output/report.md
    """
    from hiddenpop.io import OutputSet, read_csv, read_json
    from hiddenpop.report import ReportInputs, build_report, figure_png, recruitment_figure, weight_figure

    wd = Path(workdir)
    inputs = ReportInputs(title=title)
    manifests = sorted(wd.glob("*.design.json"))
    if manifests:
        from hiddenpop.io.spatial import read_design

        inputs.design = read_design(manifests[0])
    for key, (name, caption) in _IMAGES.items():
        if (wd / name).exists():
            inputs.images[key] = ((wd / name).read_bytes(), caption)
    for name in ("weights_calibrated.csv", "weights.csv"):
        if (wd / name).exists():
            header = read_csv(wd / name, nrows=0).columns
            inputs.n_replicates = sum(1 for c in header if str(c).startswith("rep_"))
            w = read_csv(wd / name, usecols=lambda c: not c.startswith("rep_"))
            inputs.weights = w
            inputs.calibrated = name == "weights_calibrated.csv"
            from hiddenpop.commands.weights import settings_path

            if settings_path(wd / name).exists():
                inputs.settings = read_json(settings_path(wd / name))
            inputs.images["weights"] = (figure_png(weight_figure(w)),
                                        f"Distribution of the final weights ({name}), by how households were found")
            if {"hh_id", "recruiter_id"} <= set(w.columns):
                # drawn here (legible at page width) instead of the field plot of every chain
                inputs.images["tree"] = (figure_png(recruitment_figure(w)), _RECRUITMENT_CAPTION)
            break
    for name in ("child_weights_calibrated.csv", "child_weights.csv"):
        if (wd / name).exists():
            kids = read_csv(wd / name, usecols=lambda c: not c.startswith("rep_"))
            inputs.child_weights = kids
            inputs.child_weights_calibrated = name == "child_weights_calibrated.csv"
            inputs.comparisons = _headline_comparisons(wd / name)
            if "age" in kids:
                import pandas as pd

                age = pd.to_numeric(kids["age"], errors="coerce")
                if age.notna().any():
                    inputs.ranges["age"] = (float(age.min()), float(age.max()))
            break
    for unit in ("households", "children"):
        if (wd / f"popsize_{unit}.csv").exists():
            inputs.popsize[unit] = read_csv(wd / f"popsize_{unit}.csv")
    registry = (inputs.settings.get("registry_total") if inputs.settings else None)
    if registry is None and (wd / "margins_complete.csv").exists():
        import pandas as pd

        m = read_csv(wd / "margins_complete.csv", dtype=str)
        totals = pd.to_numeric(m["total"], errors="coerce") if "total" in m else None
        if totals is not None and totals.notna().any():
            registry = float(totals.sum())
    inputs.registry_total = registry
    for path in sorted(wd.glob("estimates*.csv")):
        label = path.stem.replace("estimates_", "").replace("_", " ").strip() or "all"
        table = read_csv(path)
        if "method" in table and table["method"].notna().any():
            inputs.replicate_method = str(table["method"].dropna().iloc[0])
        by = ""
        if "domain" in table and table["domain"].notna().any():
            keys = [p.split("=")[0].strip() for p in str(table["domain"].dropna().iloc[0]).split(",") if "=" in p]
            names = [_BY_NAMES.get(k, k.replace("_", " ")) for k in keys]
            by = (", by " + (" and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1])
                  if names else "")
        heading = f"{label.split()[0].capitalize()}{by}"
        inputs.estimates[heading if heading not in inputs.estimates else f"{heading} ({path.name})"] = table
    if not (inputs.design is not None or inputs.images or inputs.estimates or inputs.popsize
            or inputs.comparisons is not None):
        from hiddenpop.errors import InputFileError

        raise InputFileError("nothing to report: no design manifest, images, weights or estimates found",
                             where=str(wd), fix="run the demo or the pipeline commands with -o into this folder")
    drawn_tree = inputs.images.get("tree", (b"", ""))[1] == _RECRUITMENT_CAPTION
    page, md = build_report(inputs, image_links={"map": "points.png", "weights": "report_weights.png",
                                                 "tree": "report_referrals.png" if drawn_tree else "recruitment_tree.png"})
    with OutputSet(overwrite=overwrite) as out:
        out.add(output, lambda p: p.write_text(page, encoding="utf-8"))
        if markdown_path:
            out.add(markdown_path, lambda p: p.write_text(md, encoding="utf-8"))
            for key, file in (("weights", "report_weights.png"), ("tree", "report_referrals.png")):
                if key in inputs.images and (key != "tree" or drawn_tree):
                    png = inputs.images[key][0]
                    out.add(Path(markdown_path).parent / file, lambda p, png=png: p.write_bytes(png))
    echo_err(f"wrote {output}" + (f" and {markdown_path}" if markdown_path else ""))


def _headline_comparisons(path: Path):
    """Unregistered − registered for the child indicators of the child weights (None when not possible).

    The design is the one the estimates used: final_weight, stratum/psu when present, and the
    bootstrap replicate columns rep_* when present (else linearisation).
    """
    import re

    from hiddenpop.errors import HiddenPopError
    from hiddenpop.io import read_csv
    from hiddenpop.weights.compare import headline_comparisons
    from hiddenpop.weights.design import Design

    kids = read_csv(path)
    if not {"registered", "final_weight"} <= set(kids.columns):
        return None
    reps = tuple(sorted((c for c in kids.columns if re.fullmatch(r"rep_\d+", str(c))), key=lambda c: int(c[4:])))
    design = Design(weight_col="final_weight", stratum_col="stratum" if "stratum" in kids else None,
                    psu_col="psu" if "psu" in kids else None, lonely_psu="adjust", replicate_cols=reps or None,
                    replicate_method="bootstrap" if reps else None, allow_zero_weights=True)
    try:
        return headline_comparisons(kids, design, variance="replicate" if reps else "linearization", reference=1)
    except HiddenPopError as exc:
        echo_err(f"note: no registered/unregistered comparison in the report ({exc})")
        return None
