"""Child weights: household weight, divided by the within-household selection probability."""
from __future__ import annotations

import pandas as pd
import pytest

from hiddenpop.errors import DesignError
from hiddenpop.weights.children import child_weights

HW = pd.DataFrame({"hh_id": ["a", "b"], "base_weight": [8.0, 4.0], "final_weight": [10.0, 5.0],
                   "rep_1": [20.0, 0.0], "psu": ["P1", "P2"], "stratum": ["S", "S"]})


def test_all_children_enumerated_take_household_weight():
    ch = pd.DataFrame({"hh_id": ["a", "a", "b"], "child_id": [1, 2, 3]})
    out = child_weights(ch, HW)
    assert out.final_weight.tolist() == [10.0, 10.0, 5.0]
    assert out.rep_1.tolist() == [20.0, 20.0, 0.0]
    assert out.psu.tolist() == ["P1", "P1", "P2"]  # design columns follow the child


def test_subsampling_k_of_m():
    # household a has M = 4 eligible children, k = 1 interviewed: weight 10 · 4/1 = 40; b: 2 of 2.
    ch = pd.DataFrame({"hh_id": ["a", "b", "b"], "child_id": [1, 2, 3], "m": [4, 2, 2], "k": [1, 2, 2]})
    out = child_weights(ch, HW, eligible_col="m", selected_col="k")
    assert out.final_weight.tolist() == [40.0, 5.0, 5.0]
    # Σ child weights estimates the number of children: 4·10 + 2·5 = 50
    assert out.final_weight.sum() == pytest.approx(50.0)


def test_child_of_unknown_household():
    ch = pd.DataFrame({"hh_id": ["a", "zz"], "child_id": [1, 2]})
    with pytest.raises(DesignError, match=r"children.csv, row 3, column 'hh_id', value 'zz'"):
        child_weights(ch, HW, source="children.csv")
