"""The sampler's field records against the population they were drawn from."""
from __future__ import annotations

import dataclasses

import numpy as np

from hiddenpop.simulate import generate_population
from hiddenpop.simulate.sampler import Sampler


def test_eligible_network_size_counts_unregistered_contacts_even_for_isolated_last_household():
    # The last household (row order) is given no contacts: an isolated household at the end of
    # the contact matrix once made the sampler fail. Its recorded network sizes must be 0, and
    # every interviewed household's eligible network size must equal the population's own count
    # of unregistered contacts (degree_unregistered, computed from the edge list: a second route).
    pop = generate_population({"households": {"n": 1500}}, rng=4)
    last = pop.n_households - 1
    edges = pop.edges[(pop.edges != last).all(axis=1)]
    hh = pop.households.copy()
    unreg = (hh["registered"] == 0).to_numpy(np.int64)
    hh["degree"] = np.bincount(edges.ravel(), minlength=len(hh))
    hh["degree_unregistered"] = (np.bincount(edges[:, 0], weights=unreg[edges[:, 1]], minlength=len(hh))
                                 + np.bincount(edges[:, 1], weights=unreg[edges[:, 0]], minlength=len(hh))).astype(int)
    pop = dataclasses.replace(pop, edges=edges, households=hh)
    sampler = Sampler(pop, {"stage1": {"points": 40}})
    sample = sampler.draw(rng=1)
    rows = sample.population_rows
    np.testing.assert_array_equal(sample.households["network_size"], hh["degree"].to_numpy()[rows])
    np.testing.assert_array_equal(sample.households["network_size_eligible"], hh["degree_unregistered"].to_numpy()[rows])
    assert sampler._degree[last] == 0 and sampler._degree_eligible[last] == 0
