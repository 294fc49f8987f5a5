"""The config that CI and the Snakemake workflow catalog run (.test/config/config.yaml): valid against the schema,
and it plans every rule of the DAG, data to report, from a bare working directory."""

import yaml

from lssd import config_files
from tests.helpers import REPO, job_stats, snakemake

CATALOG_CONFIG = REPO / ".test" / "config" / "config.yaml"


def test_the_catalog_config_is_valid_on_its_own():
    config = config_files.load_config([CATALOG_CONFIG])  # the schema and the workflow's checks, defaults filled in
    assert config["run"]["datasets"] == ["ci"] and config["run"]["gpus_per_training"] == 0
    assert config["trainings"]["ci_tiny"]["max_epoch"] == 2


def test_the_catalog_config_plans_the_whole_dag_in_a_bare_directory(tmp_path):
    result = snakemake("-n", "--configfile", str(CATALOG_CONFIG), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = job_stats(result.stdout + result.stderr)
    runs = 2 * 2  # two directions × two methods, one seed
    assert planned == {
        "prepare_demo": 1,
        "spm_train": 3,  # per_language: bos, fra and the English model
        "spm_encode": 2,
        "binarize": 1,
        "train": runs,
        "evaluate": runs,
        "convergence": 2,
        "tables": 2,
        "significance": 2,  # LSSD-Adaptive against the baseline, per direction
        "figure_curves": 2,
        "figure_compare": 2,
        "figure_distillation": 2,
        "evaluate_pair_best": runs,  # each pair with its own best checkpoint (evaluation.per_pair_best)
        "gap_table": 2,
        "figure_pair_best": 2,
        "all": 1,
    }, planned


def test_the_catalog_config_declares_only_what_it_runs():
    """Self-contained: run from a bare directory, the demo config (config/config.yaml, read relative to the
    working directory) is not there to fill in a block."""
    config = yaml.safe_load(CATALOG_CONFIG.read_text(encoding="utf-8"))
    assert set(config["datasets"]) == set(config["run"]["datasets"])
    assert set(config["methods"]) == set(config["run"]["methods"])
    assert {spec["training"] for spec in config["datasets"].values()} == set(config["trainings"])
