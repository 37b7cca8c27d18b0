"""Several hundred malformed inputs through the command line (issue #10, "Done when").

The corpus comes from the seeded generator in tests/malformed_inputs.py. Every case must be
refused with exit code 1 (2 for a usage error): one ``Error:`` line on stderr that matches what
is wrong, no traceback, never the internal-error path (exit 70), and no file left behind
(no output, no temporary ``.part`` file) in the case's folder.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from hiddenpop.cli import main
from tests.malformed_inputs import generate


def _files(folder) -> set[str]:
    return {os.path.relpath(os.path.join(dp, f), folder) for dp, _, fs in os.walk(folder) for f in fs}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("malformed"), seed=10)


def test_the_corpus_is_large_and_covers_every_family(corpus):
    assert len(corpus) >= 300
    families = {c.family for c in corpus}
    assert {"swapped", "metres-as-degrees", "feet-assigned-degrees", "degrees-as-utm", "lon-beyond-180",
            "antimeridian", "table-as-frame", "multi-layer", "padded-ids", "sliver", "size-overflow",
            "bad-exclusion", "corrupt-xlsx", "bad-log", "duplicate-hh", "bad-probability",
            "contradicting-margins"} <= families


def test_every_malformed_input_is_refused_in_one_line(corpus, runner):
    failures = []
    start = time.perf_counter()
    for case in corpus:
        for args in case.setup:
            r = runner.invoke(main, args)
            assert r.exit_code == 0, (args, r.output)
        before = _files(case.folder)
        r = runner.invoke(main, case.args)
        errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
        problems = []
        if r.exit_code != case.code:
            problems.append(f"exit code {r.exit_code}")
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            problems.append(f"exception {type(r.exception).__name__}: {r.exception}")
        if "Traceback" in r.output or "internal error" in r.stderr:
            problems.append("traceback / internal error")
        if len(errors) != 1:
            problems.append(f"{len(errors)} Error: lines")
        elif not re.search(case.expect, errors[0]):
            problems.append(f"message does not say what is wrong (expected /{case.expect}/)")
        left = _files(case.folder) - before
        if left:
            problems.append(f"files left behind: {sorted(left)}")
        if problems:
            failures.append(f"{case.family} {' '.join(case.args[:2])}: {'; '.join(problems)} | {r.stderr.strip()[:300]}")
    elapsed = time.perf_counter() - start
    assert not failures, f"{len(failures)} of {len(corpus)} cases:\n" + "\n".join(failures[:40])
    assert elapsed < 300, f"the corpus took {elapsed:.0f} s"  # about 10 s of CPU; generous for a loaded machine
