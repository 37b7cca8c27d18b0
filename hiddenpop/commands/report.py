"""``hiddenpop report``: the end-to-end HTML/Markdown report."""
from __future__ import annotations

from pathlib import Path

import click

from hiddenpop.commands._common import echo_err, overwrite_option

__all__ = ["report"]

_IMAGES = {"map": ("points.png", "First-stage points over the frame (circles: listing radius)"),
           "tree": ("recruitment_tree.png", "Recruitment trees: households found at points and the households they referred")}


@click.command()
@click.argument("workdir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Report HTML file.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as Markdown (images next to it as PNG files).")
@click.option("--title", default="Survey of refugee households: registered and unregistered", show_default=True)
@overwrite_option
def report(workdir: str, output: str, markdown_path: str | None, title: str, overwrite: bool) -> None:
    """Write the end-to-end report of WORKDIR (the folder the demo or your own commands wrote).

    Reads, when present: points.design.json and points.png (design, map), recruitment_tree.png,
    weights_calibrated.csv or weights.csv (weight distribution), estimates*.csv (tables).
    One self-contained HTML file: images embedded, no scripts, renders offline.
    """
    from hiddenpop.io import OutputSet, read_csv, read_json
    from hiddenpop.report import ReportInputs, build_report, figure_png, weight_figure

    wd = Path(workdir)
    inputs = ReportInputs(title=title)
    manifests = sorted(wd.glob("*.design.json"))
    if manifests:
        inputs.manifest = read_json(manifests[0])
    for key, (name, caption) in _IMAGES.items():
        if (wd / name).exists():
            inputs.images[key] = ((wd / name).read_bytes(), caption)
    for name in ("weights_calibrated.csv", "weights.csv"):
        if (wd / name).exists():
            w = read_csv(wd / name, usecols=lambda c: not c.startswith("rep_"))
            inputs.weights = w
            inputs.images["weights"] = (figure_png(weight_figure(w)),
                                        f"Distribution of the final weights ({name}), by how households were found")
            break
    for path in sorted(wd.glob("estimates*.csv")):
        label = path.stem.replace("estimates_", "").replace("_", " ").strip() or "estimates"
        inputs.estimates[f"Estimates: {label}"] = read_csv(path)
    if not (inputs.manifest or inputs.images or inputs.estimates):
        from hiddenpop.errors import InputFileError

        raise InputFileError("nothing to report: no design manifest, images, weights or estimates found",
                             where=str(wd), fix="run the demo or the pipeline commands with -o into this folder")
    page, md = build_report(inputs, image_links={"map": "points.png", "tree": "recruitment_tree.png",
                                                 "weights": "report_weights.png"})
    with OutputSet(overwrite=overwrite) as out:
        out.add(output, lambda p: p.write_text(page, encoding="utf-8"))
        if markdown_path:
            out.add(markdown_path, lambda p: p.write_text(md, encoding="utf-8"))
            if "weights" in inputs.images:
                png = inputs.images["weights"][0]
                out.add(Path(markdown_path).parent / "report_weights.png", lambda p: p.write_bytes(png))
    echo_err(f"wrote {output}" + (f" and {markdown_path}" if markdown_path else ""))
