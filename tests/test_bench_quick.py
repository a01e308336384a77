"""`make bench-quick`'s verdict: a ratio more than the tolerance above its committed figure fails."""

from __future__ import annotations

from bench.quick import compare


def test_a_ratio_more_than_the_tolerance_above_the_committed_one_is_a_regression():
    committed = {"dense/mme": 1.40, "dense/segments": 1.20, "start-up/taperwise --help": 1.50}
    now = {"dense/mme": 1.70, "dense/segments": 1.43, "start-up/taperwise --help": 1.10, "sparse/mme": 1.3}
    lines = {line.split(None, 1)[1].split(":")[0]: line for line in compare(now, committed, 0.20)}
    assert lines["dense/mme"].startswith("REGRESSED")  # +21%
    assert lines["dense/segments"].startswith("ok")  # +19%
    assert lines["start-up/taperwise --help"].startswith("ok")  # faster
    assert lines["sparse/mme"].startswith("new")
