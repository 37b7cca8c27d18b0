"""The field map: true-scale circles, scale bar, north arrow, legend, hatched exclusions, labels."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
from matplotlib.collections import LineCollection
from shapely.geometry import box

from hiddenpop.spatial import SamplingFrame, sample_points
from hiddenpop.spatial.plot import _nice_length, plot_points
from tests.spatial.helpers import city_frame


def test_map_elements_and_true_scale_circles():
    frame = SamplingFrame(city_frame(), stratum_col="region")
    pts = sample_points(frame, n=6, reserve=1, radius_m=300, rng=3).points
    park = gpd.GeoDataFrame(geometry=[box(28.941, 41.001, 28.949, 41.009)], crs=4326)
    fig = plot_points(frame, pts, exclusion=park)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "main point (6)" in legend and any(t.startswith("reserve (3)") for t in legend)
    assert "excluded (no points)" in legend and any("300 m (true scale" in t for t in legend)
    assert {"stratum A", "stratum B", "stratum C"} <= set(legend)
    texts = [t.get_text() for t in ax.texts]
    assert "N" in texts and any(t.endswith(" m") or t.endswith(" km") for t in texts)  # north arrow, scale bar
    # every point is labelled with its number; reserves with their rank
    assert sum(t.endswith("(R1)") for t in texts) == 3
    # hatched exclusion
    assert any(getattr(c, "get_hatch", lambda: None)() == "////" for c in ax.collections)
    # circles drawn in metres: each red ring spans 2R = 600 m (128-gon, so within 0.1 %) in x and y
    rings = [seg for c in ax.collections if isinstance(c, LineCollection)
             for seg in c.get_segments() if len(seg) > 100]
    assert len(rings) == len(pts)
    span = np.array([np.ptp(r, axis=0) for r in rings])
    assert np.allclose(span, 600, rtol=1e-3)
    assert ax.get_aspect() == 1.0


def test_scale_bar_lengths_are_round():
    # a fifth of the width, rounded down to 1, 2 or 5 × 10^k: 7,300 m → 1,460 → 1,000; 2,600 → 520 → 500
    assert _nice_length(7300) == 1000 and _nice_length(2600) == 500 and _nice_length(11000) == 2000
