"""Loaders for tests/data/survey_reference_compare (R survey 4.5, written by its reference.R)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hiddenpop.weights.design import Design
from hiddenpop.weights.replicates import ReplicateWeights

DIR = Path(__file__).resolve().parents[1] / "data" / "survey_reference_compare"
HH_FILE = Path(__file__).resolve().parents[1] / "data" / "survey_reference" / "households.csv"


def load_data(name: str) -> pd.DataFrame:
    """The data of R's designs: api_strat / api_clus1 / api_clus2 (R's api data), hh (households.csv)."""
    if name == "hh":
        d = pd.read_csv(HH_FILE, dtype={"hh_id": str})
        d["works_any"] = (d["children_working"] > 0).astype(float)   # as reference.R
        return d
    return pd.read_csv(DIR / f"api_{name}.csv", keep_default_na=True, na_values=["NA"])


DESIGNS = {  # the svydesign() calls of reference.R
    "strat": ("strat", Design(weight_col="pw", stratum_col="stype", fpc_col="fpc")),
    "clus1": ("clus1", Design(weight_col="pw", psu_col="dnum", fpc_col="fpc")),
    "clus2": ("clus2", Design(weight_col="pw", psu_col="dnum")),
    "clus2fpc": ("clus2", Design(weight_col="pw", psu_col="dnum", fpc_col="fpc1", ssu_col="snum", ssu_fpc_col="fpc2")),
    "hh": ("hh", Design(weight_col="weight", stratum_col="stratum", psu_col="psu")),
}
SURVEY_REFERENCE = HH_FILE.parent


def design_for(key: str):
    """(data, design) of reference.R's design ``key``; ``hhcal`` is the households design after the linear
    calibration to ../survey_reference/margins.csv (a PreparedDesign carrying the calibration residuals)."""
    if key != "hhcal":
        name, design = DESIGNS[key]
        return load_data(name), design
    from hiddenpop.io.tables import read_margins
    from hiddenpop.weights.calibrate import calibrate

    data = load_data("hh")
    data["region_registered"] = data["region"] + "_" + data["registered"].astype(str)
    res = calibrate(data, "weight", read_margins(SURVEY_REFERENCE / "margins.csv"), method="linear")
    return data, res.apply_to(DESIGNS["hh"][1].prepare(data))


REPLICATES = {("strat", "jkn"): "strat_jkn", ("clus1", "jk1"): "clus1_jk1", ("clus2", "bootstrap"): "clus2_boot",
              ("hh", "bootstrap"): "hh_boot", ("hh", "jkn"): "hh_jkn"}


def replicate_weights(name: str, weights: np.ndarray, method: str) -> ReplicateWeights:
    """R's replicate analysis weights (weight x multiplier) with R's scale, rscales and mse."""
    mult = pd.read_csv(DIR / f"rep_{name}_mult.csv.gz").set_index("group").to_numpy(dtype=float)
    index = pd.read_csv(DIR / f"rep_{name}_index.csv")["group"].to_numpy() - 1
    params = pd.read_csv(DIR / f"rep_{name}_params.csv")
    return ReplicateWeights(np.asarray(weights, dtype=float)[:, None] * mult[index], float(params["scale"].iloc[0]),
                            params["rscale"].to_numpy(dtype=float), method, bool(params["mse"].iloc[0]))


def replicate_degf(name: str) -> int:
    return int(pd.read_csv(DIR / f"rep_{name}_params.csv")["degf"].iloc[0])


def reference(file: str) -> pd.DataFrame:
    return pd.read_csv(DIR / file, keep_default_na=False, na_values=["NA"], dtype={"level": str, "reference": str})
