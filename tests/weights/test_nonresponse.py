"""Nonresponse adjustment within cells."""
from __future__ import annotations

import numpy as np
import pytest

from hiddenpop.errors import DesignError
from hiddenpop.weights.nonresponse import nonresponse_factors


def test_cell_totals_preserved():
    # Weighting-class adjustment keeps each cell's weighted total (Kalton & Flores-Cervantes 2003).
    # By hand: cell x has Σw = 2+3+5 = 10, respondents 2+5 = 7, factor 10/7; cell y has
    # Σw = 4+4 = 8, respondent 4, factor 2; nonrespondents get 0.
    w = np.array([2.0, 3.0, 5.0, 4.0, 4.0])
    r = np.array([1, 0, 1, 1, 0])
    cells = np.array(["x", "x", "x", "y", "y"])
    f, rep = nonresponse_factors(w, r, cells)
    adj = w * f
    assert adj[cells == "x"].sum() == pytest.approx(10.0)
    assert adj[cells == "y"].sum() == pytest.approx(8.0)
    assert f.tolist() == pytest.approx([10 / 7, 0.0, 10 / 7, 2.0, 0.0])
    assert rep.n_respondents.tolist() == [2, 1]


def test_cell_without_respondent_is_an_error():
    with pytest.raises(DesignError, match="no respondent: y"):
        nonresponse_factors([1.0, 1.0], [1, 0], ["x", "y"])
