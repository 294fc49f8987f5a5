"""The figures of benchmarks/teacher_overhead.py: the confidence interval of its medians, and a finished run's actual
extra time from its records.json (the timings themselves are the benchmark's job, not a test's)."""

import json
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import teacher_overhead  # noqa: E402


@pytest.mark.parametrize(("count", "ranks"), [(15, (4, 12)), (9, (2, 8)), (5, (1, 5))])
def test_the_median_interval_is_the_order_statistics_of_the_binomial(count, ranks):
    """P(the median lies between the k-th smallest and k-th largest of n values) = 1 - 2 P(Bin(n, 1/2) < k), k the
    largest rank that keeps it >= 95%: for 15 values 1 - 2 * 576/2^15 = 96.5% at k = 4 (k = 5: 88%); for 9,
    1 - 2 * 10/2^9 = 96.1% at k = 2; five values are too few (k = 1 leaves 93.75%): the whole range."""
    values = [float(value) for value in range(count, 0, -1)]  # any order
    assert teacher_overhead.median_interval(values) == tuple(float(rank) for rank in ranks)


def test_a_run_pays_the_per_update_extra_on_its_distilled_tokens_only(tmp_path, capsys):
    run = tmp_path / "m2o" / "lssd_whole" / "seed1"
    run.mkdir(parents=True)
    records = {  # two epochs: nothing distilled, then a's 300 tokens of 1000
        "a-eng": {"kd_on": [False, True], "train_tokens": [400, 300], "kd_tokens": [0, 300]},
        "b-eng": {"kd_on": [False, False], "train_tokens": [600, 700], "kd_tokens": [0, 0]},
    }
    (run / "records.json").write_text(json.dumps(records))
    old = tmp_path / "o2m" / "lssd_whole" / "seed1"
    old.mkdir(parents=True)
    (old / "records.json").write_text(json.dumps({"a-eng": {"kd_on": [True]}}))  # before tokens were recorded
    results = {"baseline": {"update_s": [1.0, 1.0, 1.0]}, "lssd_whole": {"update_s": [1.2, 1.25, 1.3]}}
    teacher_overhead.report_runs(tmp_path, results)
    out = capsys.readouterr().out
    # 300 of 2000 tokens distilled (15%), each distilled update +25%: +3.75% for the run
    assert "m2o/lssd_whole/seed1: 15.0% of its 2000 training tokens distilled x +25.0% per distilled update" in out
    assert "= +3.75% training time over the baseline" in out
    assert "o2m/lssd_whole/seed1: no token counts in records.json" in out


def test_the_rounds_of_independent_processes_are_pooled_and_each_process_keeps_its_median():
    first = {"baseline": {"update_s": [1.0, 1.0], "tokens_per_update": 900.0}, "lssd_whole": {"update_s": [1.2, 1.2]}}
    first["lssd_whole"] |= {"teacher_forward_s": [0.2, 0.2], "kd_floor_s": [0.01, 0.01]}
    second = {"baseline": {"update_s": [2.0, 2.0, 2.0], "tokens_per_update": 900.0}, "lssd_whole": {}}
    second["lssd_whole"] = {"update_s": [2.6] * 3, "teacher_forward_s": [0.4] * 3, "kd_floor_s": [0.02] * 3}
    merged = teacher_overhead.merge_processes([first, second])
    assert merged["baseline"]["update_s"] == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert merged["lssd_whole"]["teacher_forward_s"] == [0.2, 0.2, 0.4, 0.4, 0.4]
    assert merged["baseline"]["rounds_per_process"] == [2, 3]
    assert first["baseline"]["update_s"] == [1.0, 1.0]  # the inputs are left as they were
    overheads = [(c - a) / b for a, c, b in zip(merged["baseline"]["update_s"], merged["lssd_whole"]["update_s"],
                                                merged["lssd_whole"]["teacher_forward_s"], strict=True)]  # fmt: skip
    assert teacher_overhead.per_process(overheads, [2, 3]) == "1.000, 1.500"
