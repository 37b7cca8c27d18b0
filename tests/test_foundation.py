"""Foundation: error messages, atomic non-clobbering I/O, the CLI shell, the recruitment-tree core."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop import __version__
from hiddenpop.cli import main
from hiddenpop.errors import FrameError, OutputExistsError, RecruitmentError
from hiddenpop.io import OutputSet, write_csv, write_text
from hiddenpop.rds import build_tree

from .conftest import RDS_ORACLE


def test_error_message_names_place_and_fix():
    err = FrameError("sizes must be >= 0", where="f.gpkg, row 3, column 'pop', value -1", fix="correct the count")
    assert str(err) == "f.gpkg, row 3, column 'pop', value -1: sizes must be >= 0. Fix: correct the count."
    assert isinstance(err, ValueError)


def test_write_refuses_to_clobber_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    write_csv(target, pd.DataFrame({"a": [1]}))
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_csv(target, pd.DataFrame({"a": [2]}))
    assert pd.read_csv(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_output_set_is_all_or_nothing(tmp_path):
    def boom(path):
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        with OutputSet() as out:
            out.add(tmp_path / "a.txt", lambda p: p.write_text("a"))
            out.add(tmp_path / "b.txt", boom)
    assert list(tmp_path.iterdir()) == []


def test_output_set_csv_and_figure_match_the_single_file_writers(tmp_path):
    # Two routes to the same bytes: OutputSet.add_csv/add_figure and write_csv/save_figure.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hiddenpop.io import save_figure

    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    write_csv(tmp_path / "one.csv", table)
    save_figure(tmp_path / "one.png", fig, dpi=60)
    with OutputSet() as out:
        out.add_csv(tmp_path / "set.csv", table)
        out.add_figure(tmp_path / "set.png", fig, dpi=60)
    plt.close(fig)
    assert (tmp_path / "set.csv").read_bytes() == (tmp_path / "one.csv").read_bytes() == b"a,b\n1,x\n2,y\n"
    assert (tmp_path / "set.png").read_bytes() == (tmp_path / "one.png").read_bytes()


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path, monkeypatch):
    target = tmp_path / "t.txt"
    write_text(target, "old")

    def failing_write_bytes(self, data):
        raise OSError("disk full")

    monkeypatch.setattr("pathlib.Path.write_bytes", failing_write_bytes)
    with pytest.raises(OSError):
        write_text(target, "new", overwrite=True)
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_cli_version_and_help(runner):
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0
    for group in ("frame", "referrals", "rds", "weights", "estimate", "simulate", "report"):
        assert group in res.output


@pytest.mark.parametrize("name,marker", [("faux", "seed"), ("fauxmadrona", "seed"), ("fauxmadrona2_rds1", "0")])
def test_tree_matches_r_waves_seeds_recruits(name, marker):
    # Source: R RDS 0.9-10 get.wave / get.seed.id / get.number.of.recruits, stored in the data files.
    d = pd.read_csv(RDS_ORACLE / "data" / f"{name}.csv", dtype={"id": str, "recruiter.id": str})
    tree = build_tree(d["id"], d["recruiter.id"], seed_marker=marker)
    np.testing.assert_array_equal(tree.wave, d[".wave"])
    np.testing.assert_array_equal(tree.seed_ids(), d[".seed_id"].astype(str))
    np.testing.assert_array_equal(tree.n_recruits, d[".n_recruits"])
    np.testing.assert_array_equal(tree.is_seed, d[".is_seed"])


def test_tree_errors_name_the_respondents():
    with pytest.raises(RecruitmentError, match="duplicate respondent ids: a"):
        build_tree(["a", "a"], [None, None])
    with pytest.raises(RecruitmentError, match="not in the data: b \\(recruiter zz\\)"):
        build_tree(["a", "b"], [None, "zz"])
    with pytest.raises(RecruitmentError, match="self-recruitment: b"):
        build_tree(["a", "b"], [None, "b"])
    with pytest.raises(RecruitmentError, match="cycle: 2 respondent"):
        build_tree(["a", "b", "c"], [None, "c", "b"])


def test_tree_chain_sizes_hand_example():
    # Two chains: s1 -> (x, y -> z) has 4 members, s2 alone has 1.
    t = build_tree(["s1", "x", "y", "z", "s2"], ["", "s1", "s1", "y", ""])
    assert t.chain_size.tolist() == [4, 4, 4, 4, 1]
    assert t.bfs_order.tolist()[:2] == [0, 4]


def test_cli_closed_pipe_exits_quietly(runner):
    # `hiddenpop referrals status STORE | head` closes the pipe early: no "Error: Broken pipe" line.
    import click

    from hiddenpop.cli import _HiddenPopGroup

    @click.group(cls=_HiddenPopGroup)
    def group():
        """A throwaway group with the hiddenpop error handling."""

    @group.command()
    def talk():
        raise BrokenPipeError(32, "Broken pipe")

    res = runner.invoke(group, ["talk"])
    assert res.exit_code == 0 and "Broken pipe" not in res.output
