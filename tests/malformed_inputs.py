"""A seeded generator of malformed inputs for every input boundary of the command line (issue #10).

``generate(root, seed)`` writes several hundred broken files under ``root`` and returns one
:class:`Case` per command line to run: the arguments, and a regular expression that the
one-line error message must match (it names what is wrong). Every case must be refused with
exit code 1 (or 2 for a usage error), one ``Error:`` line, no traceback, and no file written.

Families (the kinds listed in issue #10, section 2):

* frames whose coordinates do not fit the declared CRS: latitude/longitude swapped, projected
  metres or feet labelled EPSG:4326 (in the file, or assigned with ``--crs``), degrees labelled
  as a UTM zone, longitudes beyond ±180, units crossing the antimeridian;
* frames that are not frames: CSV/XLSX tables, GeoPackages with several layers (and a wrong
  ``--layer``), point layers, truncated, empty or random-byte files; ids that differ only by
  surrounding spaces, duplicate or missing ids, slivers that vanish at 1 mm, sizes that overflow;
* exclusion layers that are invalid, points or lines, tables, truncated, without CRS;
* truncated, random-byte, empty and mislabelled XLSX files wherever a spreadsheet is read;
* referral logs with no respondent-id column, only a header, short or long rows, NUL bytes,
  ids with line breaks or thousands of characters, non-UTF-8 bytes;
* ``estimate`` on a weights file with a repeated household id; ``weights calibrate`` on
  probabilities outside [0, 1] and on margins whose subtotals contradict each other.

Run it by hand to see the corpus: ``python -m tests.malformed_inputs /tmp/corpus``.
"""
from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point, Polygon, box


@dataclasses.dataclass
class Case:
    """One command line that must be refused."""

    family: str
    args: list[str]
    expect: str  # regular expression the one-line message must match
    folder: Path  # where outputs would go: nothing may appear here
    code: int = 1
    setup: list[list[str]] = dataclasses.field(default_factory=list)  # commands run first (must succeed)


def _boxes(x0: float, y0: float, w: float, k: int) -> list[Polygon]:
    return [box(x0 + i * w, y0, x0 + (i + 1) * w, y0 + w) for i in range(k)]


def _frame(geoms, *, crs=4326, ids=None, **cols) -> gpd.GeoDataFrame:
    ids = ids if ids is not None else [f"U{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"unit_id": ids, **cols}, geometry=list(geoms), crs=crs)


def _write(gdf: gpd.GeoDataFrame, path: Path, *, layer: str | None = None) -> Path:
    driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
    gdf.to_file(path, driver=driver, layer=layer, engine="pyogrio")
    return path


def _write_no_crs(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """A shapefile without a .prj, on purpose (pyogrio's warning about it is silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        gdf.to_file(path, engine="pyogrio")


def _weights_table(rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "hh_id": [f"H{i:03d}" for i in range(n)],
        "stratum": np.repeat(["A", "B"], n // 2),
        "psu": [f"P{i // 4}" for i in range(n)],
        "registered": rng.integers(0, 2, n),
        "stage1_prob": rng.uniform(0.05, 0.9, n).round(6),
        "final_weight": rng.uniform(1, 20, n).round(6),
        "works": rng.integers(0, 2, n),
    })


LOG_HEADER = "respondent_id,redeemed_coupon,coupon_1,coupon_2,network_size,interview_time"


def _log_rows(rng: np.random.Generator, n: int) -> list[str]:
    rows = []
    for i in range(n):
        red = "" if i < 2 else f"C{i - 1:03d}"
        rows.append(f"R{i:04d},{red},C{2 * i + 1:03d},C{2 * i + 2:03d},{int(rng.integers(1, 40))},"
                    f"2024-03-04T{8 + i // 60:02d}:{i % 60:02d}")
    return rows


def generate(root: Path, seed: int = 10) -> list[Case]:
    """Write the malformed inputs under ``root``; return the command lines that must be refused."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    cases: list[Case] = []
    counter = iter(range(10**6))

    def folder(family: str) -> Path:
        d = root / f"{family}-{next(counter):04d}"
        d.mkdir(parents=True)
        return d

    def frame_cmd(d: Path, path: Path, *extra: str, sample: bool = False) -> list[str]:
        if sample:
            return ["frame", "sample", str(path), "--n", "4", "--rng-seed", "1", "--no-map", "-o",
                    str(d / "out" / "points.csv"), *extra]
        return ["frame", "check", str(path), *extra]

    def add(family: str, d: Path, args: list[str], expect: str, code: int = 1, setup=()) -> None:
        cases.append(Case(family, [str(a) for a in args], expect, d, code, [list(map(str, a)) for a in setup]))

    good_frame = root / "good_frame.gpkg"
    _write(_frame(_boxes(29.0, 41.0, 0.01, 4)), good_frame)

    # ---- coordinates that do not fit the declared CRS
    for _ in range(15):  # lat/lon swapped (east or west Asia/Pacific: the "latitude" is beyond ±90)
        d = folder("swapped")
        lon = float(rng.choice([-1, 1]) * rng.uniform(95, 175))
        lat = float(rng.uniform(-60, 60))
        k = int(rng.integers(1, 6))
        geoms = [box(lat + 0.01 * i, lon, lat + 0.01 * (i + 1), lon + 0.01) for i in range(k)]
        p = _write(_frame(geoms), d / "frame.gpkg")
        add("swapped", d, frame_cmd(d, p, sample=bool(rng.integers(0, 2))), r"latitude .* beyond ±90 .*swapped")
    for _ in range(15):  # projected metres labelled EPSG:4326
        d = folder("metres-as-degrees")
        x, y = float(rng.uniform(2e5, 8e5)), float(rng.uniform(1e6, 6e6))
        p = _write(_frame(_boxes(x, y, float(rng.uniform(50, 500)), int(rng.integers(1, 5)))), d / "frame.geojson")
        add("metres-as-degrees", d, frame_cmd(d, p), r"metres or feet, not degrees")
    for _ in range(10):  # state-plane feet in a file without CRS, assigned --crs EPSG:4326
        d = folder("feet-assigned-degrees")
        x, y = float(rng.uniform(1.0e6, 1.2e6)), float(rng.uniform(1.8e6, 1.95e6))
        gdf = _frame(_boxes(x, y, 2000.0, 3), crs=None)
        p = d / "frame.shp"
        _write_no_crs(gdf, p)
        add("feet-assigned-degrees", d, frame_cmd(d, p, "--crs", "EPSG:4326"), r"metres or feet, not degrees")
    for _ in range(10):  # degrees labelled as a UTM zone
        d = folder("degrees-as-utm")
        zone = int(rng.integers(30, 40))
        p = _write(_frame(_boxes(float(rng.uniform(25, 40)), float(rng.uniform(30, 45)), 0.01, 3),
                          crs=f"EPSG:326{zone}"), d / "frame.gpkg")
        add("degrees-as-utm", d, frame_cmd(d, p), r"look like degrees")
    for _ in range(10):  # longitudes beyond ±180 in a geographic CRS
        d = folder("lon-beyond-180")
        lon = float(rng.choice([-1, 1]) * rng.uniform(180.5, 359))
        p = _write(_frame(_boxes(lon, float(rng.uniform(-40, 40)), 0.05, 2)), d / "frame.geojson")
        add("lon-beyond-180", d, frame_cmd(d, p, sample=True), r"longitude .* beyond ±180")
    for _ in range(10):  # a unit crossing the antimeridian, digitised naively (179 → -179)
        d = folder("antimeridian")
        lat = float(rng.uniform(-20, 60))
        a, b = float(rng.uniform(178, 179.9)), float(rng.uniform(-179.9, -178))
        poly = Polygon([(a, lat), (b, lat), (b, lat + 0.5), (a, lat + 0.5)])
        p = _write(_frame([poly]), d / "frame.geojson")
        add("antimeridian", d, frame_cmd(d, p, sample=bool(rng.integers(0, 2))), r"antimeridian")
    for _ in range(5):  # units on both sides of 180°: the frame as a whole crosses it
        d = folder("antimeridian-frame")
        lat = float(rng.uniform(-20, 20))
        p = _write(_frame([box(179.5, lat, 179.9, lat + 0.4), box(-179.9, lat, -179.5, lat + 0.4)]), d / "f.gpkg")
        add("antimeridian-frame", d, frame_cmd(d, p), r"antimeridian")

    # ---- files that are not frames
    for k in range(6):  # CSV / XLSX / TXT tables passed as a frame
        d = folder("table-as-frame")
        t = pd.DataFrame({"unit_id": ["A", "B"], "lon": [29.0, 29.1], "lat": [41.0, 41.1]})
        suffix = [".csv", ".xlsx", ".txt", ".csv", ".xlsx", ".tsv"][k]
        p = d / f"frame{suffix}"
        if suffix == ".xlsx":
            t.to_excel(p, index=False)
        else:
            t.to_csv(p, index=False, sep="\t" if suffix == ".tsv" else ",")
        add("table-as-frame", d, frame_cmd(d, p, sample=k % 2 == 1), r"table has no geometry")
    for k in range(8):  # GeoPackages with several layers, no --layer
        d = folder("multi-layer")
        p = d / "frame.gpkg"
        names = [f"layer_{c}" for c in "abcdef"[: int(rng.integers(2, 5))]]
        for name in names:
            _write(_frame(_boxes(29.0, 41.0, 0.01, 2)), p, layer=name)
        add("multi-layer", d, frame_cmd(d, p, sample=k % 2 == 0), r"holds \d+ layers .*--layer")
        if k < 4:
            d2 = folder("wrong-layer")
            add("wrong-layer", d2, frame_cmd(d2, p, "--layer", "nope"), r"no layer 'nope'")
    for k in range(6):  # point and line layers as a frame
        d = folder("not-polygons")
        geoms = [Point(29 + 0.01 * i, 41) for i in range(3)] if k % 2 else \
            [LineString([(29, 41), (29.01 + 0.01 * i, 41.01)]) for i in range(3)]
        p = _write(_frame(geoms), d / "frame.gpkg")
        add("not-polygons", d, frame_cmd(d, p), r"not a polygon")
    for k in range(10):  # ids that differ only by surrounding spaces
        d = folder("padded-ids")
        ids = ["D-01", "D-02", "D-03"]
        j = int(rng.integers(0, 3))
        ids.append(rng.choice([" ", "  ", "\t"]) + ids[j] if k % 2 else ids[j] + " ")
        p = _write(_frame(_boxes(29.0, 41.0, 0.01, 4), ids=ids), d / "frame.gpkg")
        add("padded-ids", d, frame_cmd(d, p, sample=k % 3 == 0), r"spaces at its start or end")
    for k in range(5):  # duplicate and missing ids
        d = folder("bad-ids")
        ids = ["A", "B", "A"] if k % 2 == 0 else ["A", None, "C"]
        p = _write(_frame(_boxes(29.0, 41.0, 0.01, 3), ids=ids), d / "frame.gpkg")
        add("bad-ids", d, frame_cmd(d, p), r"duplicate unit id|missing unit id")
    for k in range(8):  # a sliver smaller than the 1 mm grid
        d = folder("sliver")
        # a digitising sliver: 1e-7 to 1e-5 mm wide (1e-15 to 1e-13 degrees), 100 m to 1 km long
        eps, length = float(rng.uniform(1e-15, 1e-13)), float(rng.uniform(0.001, 0.01))
        geoms = _boxes(29.0, 41.0, 0.01, 3) + [box(29.05, 41.0, 29.05 + eps, 41.0 + length)]
        p = _write(_frame(geoms), d / "frame.gpkg")
        add("sliver", d, frame_cmd(d, p, sample=True), r"vanish when coordinates are rounded")
    for k in range(8):  # sizes so large they overflow, or written as infinity
        d = folder("size-overflow")
        big = [1e308, 1.5e308, 9e307, 1e300 * 1e8][k % 4]
        sizes = [big, big, 1.0, 2.0] if k < 6 else [float("inf"), 1.0, 2.0, 3.0]
        p = _write(_frame(_boxes(29.0, 41.0, 0.01, 4), pop=sizes), d / "frame.gpkg")
        add("size-overflow", d, frame_cmd(d, p, "--size-col", "pop", sample=k % 2 == 0),
            r"too large to add up|numbers >= 0")
    src_bytes = good_frame.read_bytes()
    for k in range(12):  # truncated, empty, random-byte spatial files
        d = folder("broken-spatial")
        kind = k % 4
        if kind == 0:
            p = d / "frame.gpkg"
            p.write_bytes(src_bytes[: int(rng.integers(100, len(src_bytes) // 2))])
        elif kind == 1:
            p = d / "frame.geojson"
            text = _frame(_boxes(29.0, 41.0, 0.01, 3)).to_json()
            p.write_text(text[: int(rng.integers(10, len(text) - 5))])
        elif kind == 2:
            p = d / rng.choice(["frame.gpkg", "frame.geojson", "frame.shp"])
            p.write_bytes(b"")
        else:
            p = d / rng.choice(["frame.gpkg", "frame.geojson", "frame.parquet"])
            p.write_bytes(rng.bytes(int(rng.integers(10, 5000))))
        add("broken-spatial", d, frame_cmd(d, p, sample=k % 3 == 0), r"cannot read the frame|no geometry")

    # ---- exclusion layers that do not fit
    for k in range(21):
        d = folder("bad-exclusion")
        kind = k % 7
        if kind == 0:  # invalid: a bow-tie
            x = 29.0 + float(rng.uniform(0, 0.03))
            bow = Polygon([(x, 41.0), (x + 0.005, 41.005), (x + 0.005, 41.0), (x, 41.005)])
            p, expect = _write(gpd.GeoDataFrame(geometry=[bow], crs=4326), d / "excl.gpkg"), r"invalid polygon"
        elif kind == 1:  # points
            pts = [Point(29.0 + float(rng.uniform(0, 0.04)), 41.005) for _ in range(3)]
            p, expect = _write(gpd.GeoDataFrame(geometry=pts, crs=4326), d / "excl.geojson"), r"not a polygon"
        elif kind == 2:  # lines
            p, expect = _write(gpd.GeoDataFrame(geometry=[LineString([(29, 41), (29.04, 41.01)])], crs=4326),
                               d / "excl.gpkg"), r"not a polygon"
        elif kind == 3:  # a table
            p, expect = d / "excl.csv", r"table has no geometry"
            pd.DataFrame({"lon": [29.0], "lat": [41.0]}).to_csv(p, index=False)
        elif kind == 4:  # truncated
            p, expect = d / "excl.gpkg", r"cannot read the exclusion layer"
            p.write_bytes(src_bytes[: int(rng.integers(100, 4000))])
        elif kind == 5:  # no CRS
            p, expect = d / "excl.shp", r"no coordinate reference system"
            _write_no_crs(gpd.GeoDataFrame(geometry=[box(29.0, 41.0, 29.005, 41.005)]), p)
        else:  # metres labelled as degrees
            p, expect = _write(gpd.GeoDataFrame(geometry=[box(4e5, 4.5e6, 4.1e5, 4.51e6)], crs=4326),
                               d / "excl.gpkg"), r"metres or feet, not degrees"
        add("bad-exclusion", d, frame_cmd(d, good_frame, "--exclude", str(p), sample=True), expect)

    # ---- truncated or corrupt XLSX files wherever a spreadsheet is read
    buf = io.BytesIO()
    pd.DataFrame([r.split(",") for r in _log_rows(rng, 20)], columns=LOG_HEADER.split(",")).to_excel(buf, index=False)
    xlsx = buf.getvalue()
    for k in range(20):
        d = folder("corrupt-xlsx")
        kind = k % 5
        p = d / "day1.xlsx"
        if kind in (0, 1):
            p.write_bytes(xlsx[: int(rng.integers(20, len(xlsx) - 30))])
        elif kind == 2:
            p.write_bytes(rng.bytes(int(rng.integers(1, 3000))))
        elif kind == 3:
            p.write_bytes(b"")
        else:
            p.write_text(LOG_HEADER + "\n" + "\n".join(_log_rows(rng, 5)) + "\n")  # a CSV named .xlsx
        if k % 2:
            store = d / "s.hpstore"
            add("corrupt-xlsx", d, ["referrals", "import", str(store), str(p)], r"cannot read the spreadsheet",
                setup=[["referrals", "init", str(store)]])
        else:
            add("corrupt-xlsx", d, ["referrals", "validate", str(p)], r"cannot read the spreadsheet")
    for k in range(6):  # spreadsheets (or broken ones) where a CSV is expected
        d = folder("xlsx-as-csv")
        p = d / "table.csv"
        p.write_bytes(xlsx if k % 2 == 0 else xlsx[: int(rng.integers(50, 500))])
        args = [["estimate", str(p), "--var", "works", "-o", str(d / "out" / "est.csv")],
                ["weights", "calibrate", str(p), "--margins", str(p), "-o", str(d / "out" / "cal.csv")],
                ["frame", "inclusion", str(root / "no_design.json"), str(p), "-o", str(d / "out" / "inc.csv")]][k % 3]
        # a whole workbook named .csv is read as a workbook (issue 13: tables read the first sheet), so its
        # columns are then checked: this one holds a referral log, not the table the command needs
        add("xlsx-as-csv", d, args, r"cannot read|not found|missing column")

    # ---- referral logs that do not fit
    for k in range(80):
        d = folder("bad-log")
        kind = k % 10
        n = int(rng.integers(3, 30))
        rows = _log_rows(rng, n)
        j = int(rng.integers(0, n))
        header = LOG_HEADER
        data = None
        if kind == 0:  # no respondent-id column
            header = header.replace("respondent_id", rng.choice(["resp", "id_respondent", "Respondent ID", "rid"]))
            expect = r"no respondent id column"
        elif kind == 1:  # only a header
            rows, expect = [], r"header but no data rows"
        elif kind == 2:  # a short row
            rows[j] = ",".join(rows[j].split(",")[: int(rng.integers(1, 5))])
            expect = r"row has \d fields but the header has 6 .*cut short"
        elif kind == 3:  # a long row (an unquoted comma)
            rows[j] = rows[j] + ",extra" * int(rng.integers(1, 3))
            expect = r"row has \d+ fields but the header has 6"
        elif kind == 4:  # NUL bytes
            text = (header + "\n" + "\n".join(rows) + "\n").encode()
            at = int(rng.integers(len(header) + 2, len(text) - 1))
            data, expect = text[:at] + b"\x00" * int(rng.integers(1, 4)) + text[at:], r"NUL bytes"
        elif kind == 5:  # an id with a line break (quoted)
            cells = rows[j].split(",")
            cells[0] = f'"{cells[0]}\n{rng.choice(["x", "R9", "2"])}"'
            rows[j], expect = ",".join(cells), r"line break or another control character"
        elif kind == 6:  # an id of thousands of characters
            cells = rows[j].split(",")
            cells[0] = "R" * int(rng.integers(201, 20000))
            rows[j], expect = ",".join(cells), r"characters long \(at most 200\)"
        elif kind == 7:  # not UTF-8 (Latin-1 accents)
            text = (header + ",name\n" + "\n".join(r + ",Müller" for r in rows) + "\n").encode("latin-1")
            data, expect = text, r"not UTF-8"
        elif kind == 8:  # a coupon code with a tab/CR inside (quoted)
            cells = rows[j].split(",")
            ctrl = str(rng.choice(["\t", "\r"]))
            cells[2] = '"C' + ctrl + str(j) + '"'
            rows[j], expect = ",".join(cells), r"control character"
        else:  # an empty file
            data, expect = b"", r"cannot read"
        p = d / "day1.csv"
        p.write_bytes(data if data is not None else (header + "\n" + "\n".join(rows) + ("\n" if rows else "")).encode())
        if k % 4 == 3:
            store = d / "s.hpstore"
            add("bad-log", d, ["referrals", "import", str(store), str(p)], expect,
                setup=[["referrals", "init", str(store)]])
        else:
            add("bad-log", d, ["referrals", "validate", str(p)], expect)

    # ---- estimate with a repeated household id; calibrate on bad probabilities or margins
    for k in range(12):
        d = folder("duplicate-hh")
        t = _weights_table(rng)
        j = int(rng.integers(1, len(t)))
        t.loc[j, "hh_id"] = t.loc[int(rng.integers(0, j)), "hh_id"]
        p = d / "weights.csv"
        t.to_csv(p, index=False)
        add("duplicate-hh", d, ["estimate", str(p), "--var", "works", "-o", str(d / "out" / "est.csv")],
            r"duplicate id")
    margins_ok = "variable,level,total\nstratum,A,300\nstratum,B,500\n"
    for k in range(12):
        d = folder("bad-probability")
        t = _weights_table(rng)
        t.loc[int(rng.integers(0, len(t))), "stage1_prob"] = float(rng.choice([1.5, -0.2, 120.0, 1.0000001, -1e-9]))
        p = d / "weights.csv"
        t.to_csv(p, index=False)
        (d / "margins.csv").write_text(margins_ok)
        add("bad-probability", d, ["weights", "calibrate", str(p), "--margins", str(d / "margins.csv"), "-o",
                                   str(d / "out" / "cal.csv")], r"probability must lie between 0 and 1")
    for k in range(12):
        d = folder("contradicting-margins")
        t = _weights_table(rng)
        p = d / "weights.csv"
        t.to_csv(p, index=False)
        cells = {("A", "0"): 100, ("A", "1"): 200, ("B", "0"): 150, ("B", "1"): 350}
        lines = ["variable,level,total"] + [f"stratum x registered,{a}|{r},{v}" for (a, r), v in cells.items()]
        shift = float(rng.uniform(5, 100))
        if k % 2:
            lines += [f"stratum,A,{300 + shift:g}", f"stratum,B,{500 - shift:g}"]
        else:
            lines += [f"registered,0,{250 - shift:g}", f"registered,1,{550 + shift:g}"]
        (d / "margins.csv").write_text("\n".join(lines) + "\n")
        add("contradicting-margins", d, ["weights", "calibrate", str(p), "--margins", str(d / "margins.csv"), "-o",
                                         str(d / "out" / "cal.csv")], r"cells of 'stratum x registered' .*add up to")
    return cases


if __name__ == "__main__":  # pragma: no cover - for looking at the corpus by hand
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "malformed-corpus")
    found = generate(out)
    print(json.dumps({"cases": len(found), "families": pd.Series([c.family for c in found]).value_counts().to_dict()},
                     indent=1))
