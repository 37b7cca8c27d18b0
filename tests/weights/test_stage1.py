"""Stage-1 probabilities: PPS with certainty cells, segment listing, list frame, checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError
from hiddenpop.weights.stage1 import (from_column, list_srs_probabilities, pps_cell_probabilities,
                                      pps_segment_probabilities, stage1_probabilities)


def test_pps_sums_to_n_and_certainty():
    # Σπ = n is the defining property of a fixed-size πps design (Särndal et al. 1992, §3.6);
    # cell of size 60 of 100 with n = 3 is certain (3·60/100 > 1), the rest share 2 draws.
    mos = np.array([60.0, 10, 10, 10, 5, 5])
    pi = pps_cell_probabilities(mos, 3)
    assert pi.sum() == pytest.approx(3.0)
    assert pi[0] == 1.0
    assert pi[1:].tolist() == pytest.approx((2 * mos[1:] / 40).tolist())


def test_pps_by_stratum():
    pi = pps_cell_probabilities([1, 1, 2, 2, 4], {"a": 1, "b": 2}, stratum=["a", "a", "b", "b", "b"])
    assert pi.tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 1.0])


def test_segment_probability_hand():
    # π_c = 0.2, segment 1 of 4 (q = 0.25), 5 of 20 listed households: 0.2·0.25·5/20 = 0.0125
    assert pps_segment_probabilities([0.2], [0.25], [5], [20])[0] == pytest.approx(0.0125)
    hh = pd.DataFrame({"cell_prob": [0.2], "segment_prob": [0.25], "households_selected": [5],
                       "households_listed": [20]})
    assert stage1_probabilities(hh, "pps-segment").stage1_prob[0] == pytest.approx(0.0125)


def test_list_frame_srs():
    assert list_srs_probabilities(["a", "b", "b"], {"a": 10, "b": 40}).tolist() == [0.1, 0.05, 0.05]


@pytest.mark.parametrize("bad", [0.0, 1.01, -1.0, "x"])
def test_column_out_of_range_named(bad):
    hh = pd.DataFrame({"hh_id": ["a", "b"], "stage1_prob": [0.5, bad]})
    with pytest.raises(DesignError, match=r"hh.csv, row 3, column 'stage1_prob'.*household b"):
        from_column(hh, source="hh.csv")


def test_listed_fewer_than_selected():
    with pytest.raises(DesignError, match="households_selected"):
        pps_segment_probabilities([0.2], [1.0], [6], [5])
