"""The per-pair best stage in the DAG (evaluation.per_pair_best): planned by default, nothing of it when off, and a
published run without its per-pair best checkpoints (trained by lssd 0.1.0, or its files deleted) left out with a
warning instead of failing the whole report."""

import json

from tests.helpers import REPO, job_stats, snakemake

CATALOG_CONFIG = REPO / ".test" / "config" / "config.yaml"
PAIR_BEST_RULES = ("evaluate_pair_best", "gap_table", "figure_pair_best")


def planned(tmp_path, *args):
    result = snakemake("-n", "--configfile", str(CATALOG_CONFIG), *args, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return job_stats(result.stdout + result.stderr), result.stdout + result.stderr


def test_every_run_is_evaluated_with_its_pairs_best_checkpoints_by_default(tmp_path):
    jobs, _ = planned(tmp_path)
    # 2 directions × (baseline, LSSD-Adaptive); a gap table and a figure per direction
    assert {rule: jobs.get(rule) for rule in PAIR_BEST_RULES} == {
        "evaluate_pair_best": 4,
        "gap_table": 2,
        "figure_pair_best": 2,
    }


def test_the_switch_off_plans_none_of_it(tmp_path):
    jobs, _ = planned(tmp_path, "--config", "evaluation={per_pair_best: false}")
    assert not any(rule in jobs for rule in PAIR_BEST_RULES), jobs
    assert jobs["evaluate"] == 4 and jobs["tables"] == 2


def test_a_published_run_without_its_files_is_left_out_with_a_warning(tmp_path):
    run = tmp_path / "results" / "train" / "ci" / "m2o" / "baseline" / "seed1"
    run.mkdir(parents=True)
    history = {"bos-eng": [3.0, 2.0], "fra-eng": [3.0, 2.5], "all": [3.0, 2.2]}
    (run / "history.json").write_text(json.dumps(history))
    jobs, output = planned(tmp_path)
    missing = "results/train/ci/m2o/baseline/seed1/checkpoints/teachers/teacher_epoch2.pt"
    assert f"ci/m2o/baseline/seed1: no per-pair best row (its per-pair best checkpoint {missing} is missing" in output
    # its direction has no baseline per-pair best: no gap table or figure there; the other direction has both
    assert {rule: jobs.get(rule) for rule in PAIR_BEST_RULES} == {
        "evaluate_pair_best": 3,
        "gap_table": 1,
        "figure_pair_best": 1,
    }
    (run / "checkpoints" / "teachers").mkdir(parents=True)
    (run / "checkpoints" / "teachers" / "teacher_epoch2.pt").write_bytes(b"a model")
    jobs, output = planned(tmp_path)
    assert "no per-pair best row" not in output and jobs["evaluate_pair_best"] == 4
