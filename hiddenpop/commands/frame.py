"""``hiddenpop frame``: first-stage frames, points and inclusion probabilities.

Commands stay thin: parse options, read through :mod:`hiddenpop.io.spatial`, call one
library function of :mod:`hiddenpop.spatial`, write through :mod:`hiddenpop.io`.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import click

from hiddenpop.commands._common import (add_result, echo_err, json_option, json_summary_option, output_option,
                                        overwrite_option, progress, RegistryChoice, renamed_option, rng_seed_option)

__all__ = ["frame"]

_EMPTY_RULE = ("A point with no refugee household is a valid zero: record it, never replace it. "
               "Use a reserve only when a point cannot be reached.")

_frame_args = [
    click.argument("frame_path", metavar="FRAME", type=click.Path(dir_okay=False)),
    click.option("--id-col", default="unit_id", show_default=True, help="Column with the unit id."),
    click.option("--stratum-col", default=None, help="Column with the stratum label."),
    click.option("--size-col", default=None, help="Measure of size (e.g. registered refugees), numbers >= 0."),
    click.option("--crs", "assign_crs", default=None,
                 help="CRS to assign when the frame file has none (e.g. EPSG:4326)."),
    click.option("--layer", default=None, help="Layer of a file with several (GeoPackage)."),
]


def _with(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


def _created() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (_dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc) if epoch
           else _dt.datetime.now(tz=_dt.timezone.utc))
    return now.replace(microsecond=0).isoformat()


@click.group()
def frame() -> None:
    """Spatial first stage: check a frame, draw points, inclusion probabilities.

    \b
      hiddenpop frame check FRAME                    validate and summarise a frame
      hiddenpop frame sample FRAME --n 120 ...       draw points (+ reserves, manifest, map)
      hiddenpop frame inclusion DESIGN.json HH.csv   household first-stage probabilities
      hiddenpop frame size --margin 0.05 ...         points needed per stratum
      hiddenpop frame replace DESIGN.json POINT ...  log the use of a reserve point

    An empty point (no refugee household) is a valid zero and must NOT be replaced.
    """


@frame.command("check")
@_with(_frame_args)
@click.option("--working-crs", default=None, help="Metric CRS for areas/distances (default: LAEA centred on the frame).")
@json_option
def check(frame_path, id_col, stratum_col, size_col, assign_crs, layer, working_crs, as_json):
    """Validate FRAME and print a summary table per stratum.

    The table gives units, area and size per stratum, and the working CRS.

    Checks unique ids, valid non-empty polygons, a CRS, sizes >= 0, no stratum with total
    size 0, and no two units of a stratum overlapping; reports the working CRS that areas
    and radii will use and its largest distance distortion over the frame.

    \b
    Example:
      hiddenpop frame check examples/data/frame.geojson --stratum-col stratum \\
          --size-col registered_refugees
    """
    import json

    import shapely

    from hiddenpop.io.spatial import read_frame
    from hiddenpop.spatial import choose_working_crs
    from hiddenpop.spatial.frame import check_overlaps, check_stratum_sizes

    fr = read_frame(frame_path, id_col=id_col, stratum_col=stratum_col, size_col=size_col, crs=assign_crs, layer=layer)
    crs, info = choose_working_crs(fr, working_crs)
    geoms = fr.to_crs(crs).to_numpy()
    check_overlaps(fr, geoms)
    area = shapely.area(geoms)
    labels = fr.stratum_labels.to_numpy()
    rows = []
    for s in fr.strata:
        sel = labels == s
        row = {"stratum": s, "units": int(sel.sum()), "area_km2": round(float(area[sel].sum()) / 1e6, 4)}
        if fr.sizes is not None:
            row["size"] = float(fr.sizes.to_numpy()[sel].sum())
        rows.append(row)
    check_stratum_sizes(fr)
    crs_out = {k: info[k] for k in ("name", "choice", "max_scale_distortion")}
    if as_json:
        click.echo(json.dumps({"units": len(fr), "strata": rows, "area_km2": round(float(area.sum()) / 1e6, 4),
                               "crs": crs_out}))
        return
    click.echo(_summary_table(frame_path, fr, rows, float(area.sum()), info))


def _summary_table(frame_path, fr, rows: list[dict], total_area_m2: float, info: dict) -> str:
    """The plain-text summary of 'frame check' (a table a survey designer can read at a glance)."""
    has_size = fr.sizes is not None
    head = ["stratum", "units", "area km²"] + ([f"size ({fr.size_col})", "size/km²"] if has_size else [])
    body = []
    for r in rows + [{"stratum": "TOTAL", "units": len(fr), "area_km2": total_area_m2 / 1e6,
                      **({"size": float(fr.sizes.sum())} if has_size else {})}]:
        line = [str(r["stratum"]), f"{r['units']:,}", f"{r['area_km2']:,.2f}"]
        if has_size:
            dens = r["size"] / r["area_km2"] if r["area_km2"] > 0 else float("nan")
            line += [f"{r['size']:,.0f}", f"{dens:,.1f}"]
        body.append(line)
    width = [max(len(head[k]), *(len(b[k]) for b in body)) for k in range(len(head))]

    def fmt(cells):
        return "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(cells, width)))

    rule = "  ".join("-" * w for w in width)
    dist = info["max_scale_distortion"]
    lines = [f"{frame_path}: OK, {len(fr):,} units in {len(rows)} {'stratum' if len(rows) == 1 else 'strata'} (no overlaps, all geometries valid)",
             "", fmt(head), rule, *[fmt(b) for b in body[:-1]], rule, fmt(body[-1]), "",
             f"working CRS: {info['choice']}",
             f"  largest distance distortion over the frame: {dist:.2g} "
             f"({dist * 1000:.2g} m per km{'; fine' if dist < 1e-3 else '; consider --working-crs or splitting the frame'})"
             if dist is not None else "  distortion: not available for this CRS"]
    return "\n".join(lines)


@frame.command("sample")
@json_summary_option
@_with(_frame_args)
@click.option("--n", "n", type=click.IntRange(min=1), default=None, help="Total number of main points (split by --allocation).")
# choices read from the library registries when first needed (no spatial import at CLI start)
@click.option("--method", type=RegistryChoice("hiddenpop.spatial.designs:SAMPLING_METHODS"), default="uniform", show_default=True,
              help="uniform/pps: independent points; balanced: spatially balanced (see --balance).")
@click.option("--balance", type=RegistryChoice("hiddenpop.spatial.balanced:BALANCED_METHODS"), default="grts", show_default=True,
              help="Balanced method: GRTS (Stevens & Olsen) or local pivotal method.")
@click.option("--density", type=RegistryChoice("hiddenpop.spatial.density:DENSITIES"), default=None,
              help="Point density (default: raster with --raster, size for pps, else uniform).")
@click.option("--raster", type=click.Path(dir_okay=False), default=None, help="Population raster (GeoTIFF) for PPS.")
@click.option("--allocation", default="proportional", show_default=True,
              help="proportional | equal | neyman | min:K | a CSV file with columns stratum,n.")
@click.option("--variability-col", default=None, help="Variability per unit, for --allocation neyman.")
@click.option("--radius", "radius", type=click.FloatRange(min=0, min_open=True), default=None,
              help="RGCS circle radius in metres.")
@click.option("--reserve", type=click.IntRange(min=0), default=0, show_default=True,
              help="Ordered reserve points per stratum (only for unreachable points, never for empty ones).")
@click.option("--min-distance", "min_distance", type=click.FloatRange(min=0), default=None, help="Minimum distance between points, metres.")
@click.option("--exclude", "exclude", type=click.Path(dir_okay=False), default=None,
              help="Exclusion layer: polygons where no point may fall.")
@click.option("--working-crs", default=None, help="Metric CRS for areas/distances (default: LAEA centred on the frame).")
@click.option("--n-candidates", type=click.IntRange(min=1), default=None, help="Candidates per stratum for balanced designs.")
@click.option("--format", "formats", multiple=True,
              type=RegistryChoice("hiddenpop.io.spatial:POINT_FORMATS", extra=["all"]),
              help="Extra formats written next to -o (repeat, or 'all').")
@click.option("--no-map", is_flag=True, default=False, help="Do not write the PNG map.")
@rng_seed_option
@output_option(help="Points file; its suffix picks the format (.gpkg .geojson .csv .gpx .kml .odk.csv). "
                    "The manifest goes to <stem>.design.json, the map to <stem>.png.")
@overwrite_option
def sample(frame_path, id_col, stratum_col, size_col, assign_crs, layer, n, method, balance, density, raster, allocation,
           variability_col, radius, reserve, min_distance, exclude, working_crs, n_candidates, formats, no_map,
           rng_seed, output, overwrite):
    """Draw stratified first-stage points from FRAME, with reserves.

    Writes the points (-o and --format), the manifest <stem>.design.json (everything needed
    to recompute household probabilities and to redraw the same sample) and a PNG map.

    A point with no refugee household is a valid zero: record it, NEVER replace it. Use a
    reserve only when a point cannot be reached, in rank order, and log it with
    'hiddenpop frame replace'.

    \b
    Example:
      hiddenpop frame sample examples/data/frame.geojson --stratum-col stratum --n 40 \\
          --radius 250 --reserve 3 --exclude examples/data/exclusion.geojson \\
          --rng-seed 7 --format all -o points.gpkg
    """
    from hiddenpop.io import OutputSet, json_text
    from hiddenpop.io.spatial import (FORMAT_SUFFIX, POINT_FORMATS, format_from_suffix, read_exclusion, read_frame,
                                      read_raster)
    from hiddenpop.spatial import FirstStageDesign, plot_points, sample_points, with_provenance

    out = Path(output)
    main_fmt = format_from_suffix(out)
    stem = str(out)[: -len(FORMAT_SUFFIX[main_fmt])] if str(out).lower().endswith(FORMAT_SUFFIX[main_fmt]) else str(out.with_suffix(""))
    fmts = [main_fmt] + [f for f in (list(POINT_FORMATS) if "all" in formats else formats) if f != main_fmt]
    fmts = list(dict.fromkeys(fmts))
    fr = read_frame(frame_path, id_col=id_col, stratum_col=stratum_col, size_col=size_col, crs=assign_crs, layer=layer)
    excl = read_exclusion(exclude) if exclude else None
    rast = read_raster(raster) if raster else None
    alloc = _allocation_table(allocation, fr.strata) if allocation.lower().endswith(".csv") else allocation
    with progress(len(fr.strata), "strata") as advance:
        result = sample_points(fr, n=n, method=method, balance=balance, density=density, allocation=alloc,
                               radius_m=radius, reserve=reserve, min_distance_m=min_distance, exclusion=excl,
                               raster=rast, variability_col=variability_col, crs=working_crs,
                               n_candidates=n_candidates, rng=rng_seed, progress=advance)
    from hiddenpop import __version__

    paths = {f: (out if f == main_fmt else Path(stem + FORMAT_SUFFIX[f])) for f in fmts}
    inputs = {"frame": frame_path, "exclusion": exclude if excl is not None else None,
              "raster": raster if rast is not None else None}
    manifest = with_provenance(result.manifest, created=_created(),
                               toolkit={"name": "hiddenpop", "version": __version__},
                               input_paths={k: os.path.relpath(p, out.parent or ".") for k, p in inputs.items() if p},
                               outputs={f: Path(p).name for f, p in paths.items()})
    manifest_path = Path(stem + ".design.json")
    with OutputSet(overwrite=overwrite) as outs:
        for f, p in paths.items():
            outs.add(p, lambda tmp, f=f: POINT_FORMATS[f](result.points, tmp))
        outs.add(manifest_path, lambda tmp: tmp.write_text(json_text(manifest), encoding="utf-8"))
        if not no_map:
            fig = plot_points(fr, result.points, exclusion=excl, crs=working_crs)
            outs.add(Path(stem + ".png"), lambda tmp: fig.savefig(tmp, format="png", dpi=110,
                                                                  metadata={"Software": None}, bbox_inches="tight"))
    main = result.main
    n_strata = len(FirstStageDesign.from_manifest(manifest).strata)
    echo_err(f"{len(main)} points + {len(result.points) - len(main)} reserves in {n_strata} strata "
             f"-> {', '.join(str(p) for p in paths.values())}, {manifest_path}")
    add_result(points=len(main), reserves=len(result.points) - len(main),
               files=[str(p) for p in paths.values()] + [str(manifest_path)]
               + ([stem + ".png"] if not no_map else []))
    echo_err(_EMPTY_RULE)


def _allocation_table(path: str, strata: list[str]) -> dict[str, int]:
    """Read a fixed allocation table (columns stratum,n), naming the row of any problem."""
    import pandas as pd

    from hiddenpop._checks import check_columns
    from hiddenpop.errors import DesignError, format_where
    from hiddenpop.io import read_csv

    table = read_csv(path, dtype={"stratum": str, "n": str})
    check_columns(table, ["stratum", "n"], source=path)
    n = pd.to_numeric(table["n"], errors="coerce")
    for k, (s, v, raw) in enumerate(zip(table["stratum"], n, table["n"])):
        where = format_where(path, row=k + 2, column="n", value=raw)
        if pd.isna(s):
            raise DesignError("missing stratum label", where=format_where(path, row=k + 2, column="stratum"),
                              fix="give every row of the allocation table a stratum")
        if not (pd.notna(v) and float(v) >= 0 and float(v) == int(v)):
            raise DesignError("the number of points must be a whole number >= 0", where=where,
                              fix="write a whole number of main points for this stratum")
    for k, s in enumerate(table["stratum"]):
        if s not in strata:
            raise DesignError(f"stratum not in the frame (frame strata: {', '.join(strata)})",
                              where=format_where(path, row=k + 2, column="stratum", value=s),
                              fix="spell the stratum as in the frame's --stratum-col, or remove the row")
    dup = table["stratum"].duplicated()
    if dup.any():
        k = int(dup.to_numpy().argmax())
        raise DesignError("stratum listed twice", where=format_where(path, row=k + 2, column="stratum",
                                                                      value=table["stratum"].iloc[k]),
                          fix="list every stratum exactly once")
    missing = [s for s in strata if s not in set(table["stratum"])]
    if missing:
        raise DesignError(f"the table gives no n for stratum {missing[0]!r}"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                          where=f"{path}, column 'stratum'",
                          fix="add a row for every stratum of the frame (n may be 0)")
    return {str(s): int(v) for s, v in zip(table["stratum"], n)}


@frame.command("inclusion")
@json_summary_option
@click.argument("design", type=click.Path(dir_okay=False))
@click.argument("households", type=click.Path(dir_okay=False))
@click.option("--lon-col", default="lon", show_default=True, help="Longitude column of the households (WGS84).")
@click.option("--lat-col", default="lat", show_default=True, help="Latitude column of the households (WGS84).")
@click.option("--stratum-col", default=None, help="Households' stratum column (default: located from lon/lat).")
@click.option("--id-col", default="hh_id", show_default=True, help="Household id column copied to the output.")
@click.option("--radius", type=float, default=None, help="Override the design's radius (metres).")
@output_option(help="Output CSV ('-' for standard output).")
@overwrite_option
def inclusion(design, households, lon_col, lat_col, stratum_col, id_col, radius, output, overwrite):
    """First-stage probabilities of HOUSEHOLDS (CSV with lon/lat) under DESIGN.

    Output columns: id, stratum, p_hit (per-draw chance that a point falls within R),
    expected_hits (n_h * p_hit), stage1_prob (1 - (1 - p_hit)^n_h), n_points. Household
    coordinates are not copied to the output.

    \b
    Example:
      hiddenpop frame inclusion points.design.json examples/data/households.csv -o stage1.csv
    """
    from hiddenpop.io import read_csv, write_csv
    from hiddenpop.io.spatial import read_design
    from hiddenpop.spatial import first_stage_probabilities

    design_ = read_design(design, radius_m=radius)
    hh = read_csv(households)
    res = first_stage_probabilities(design_, hh, lon_col=lon_col, lat_col=lat_col, stratum_col=stratum_col,
                                    source=str(households))
    if id_col in hh.columns:
        res.insert(0, id_col, hh[id_col].to_numpy())
    write_csv(output, res, overwrite=overwrite)


@frame.command("size")
@click.option("--margin", type=float, required=True, help="Target margin of error for a proportion (e.g. 0.05).")
@click.option("--proportion", type=float, default=0.5, show_default=True, help="Expected proportion.")
@click.option("--deff", type=float, default=2.0, show_default=True, help="Design effect (clustering in circles).")
@click.option("--households-per-point", type=float, required=True,
              help="Expected eligible households per point (circle).")
@click.option("--response-rate", type=float, default=1.0, show_default=True,
              help="Expected share of eligible households that are interviewed (e.g. 0.8).")
@click.option("--level", "confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the margin of error.")
@renamed_option("--confidence", "--level", "old_confidence", type=float, default=None)
@click.option("--strata", default=None, help="Comma-separated stratum labels (each reaches the margin).")
@json_option
def size(margin, proportion, deff, households_per_point, response_rate, confidence, old_confidence, strata, as_json):
    """Points needed per stratum for a target margin of error.

    \b
    Example:
      hiddenpop frame size --margin 0.05 --deff 2 --households-per-point 4 \\
          --response-rate 0.8 --strata Centre,East,West
    """
    from hiddenpop.spatial import points_per_stratum

    confidence = old_confidence if old_confidence is not None else confidence
    labels = [s.strip() for s in strata.split(",")] if strata else None
    tab = points_per_stratum(margin, households_per_point=households_per_point, strata=labels, proportion=proportion,
                             deff=deff, response_rate=response_rate, confidence=confidence)
    if as_json:
        click.echo(tab.to_json(orient="records"))
        return
    for r in tab.itertuples(index=False):
        click.echo(f"stratum {r.stratum}: {r.points} points ({r.households} responding households, "
                   f"{r.households_per_point:g} eligible per point, response {response_rate:g}, deff {deff:g})")
    click.echo(f"total: {int(tab['points'].sum())} points")


@frame.command("replace")
@json_summary_option
@click.argument("design", type=click.Path(dir_okay=False))
@click.argument("point_id")
@click.option("--points", "points_path", type=click.Path(dir_okay=False), required=True,
              help="The points file (.csv/.gpkg/.geojson) of the design.")
@click.option("--reason", type=RegistryChoice("hiddenpop.spatial.designs:REPLACEMENT_REASONS"),
              required=True, help="Why the point cannot be visited. 'No households' is never a reason.")
@click.option("--note", default="", help="Free text for the log.")
@click.option("--date", default=None, help="ISO date of the decision.")
@output_option(help="Updated manifest (use the same path with --overwrite to update in place).")
@overwrite_option
def replace(design, point_id, points_path, reason, note, date, output, overwrite):
    """Log that POINT_ID cannot be reached and take the next reserve.

    A point with no refugee household is a valid zero: it is NOT replaced.

    \b
    Example:
      hiddenpop frame replace points.design.json P-CENTRE-0003 --points points.csv \\
          --reason inaccessible --note "flooded road" -o points.design.json --overwrite
    """
    from hiddenpop.io.spatial import read_manifest, read_points, write_manifest
    from hiddenpop.spatial import record_replacement

    man = read_manifest(design)
    pts = read_points(points_path)
    new, reserve_id = record_replacement(man, point_id, reason=reason, points=pts, note=note, date=date)
    write_manifest(output, new, overwrite=overwrite)
    click.echo(reserve_id)
