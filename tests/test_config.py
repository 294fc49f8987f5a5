"""A bad config fails before any job runs, with a message naming the key."""

import copy

import pytest
import yaml

from tests.conftest import REPO, snakemake

DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def dry_run(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return snakemake("-n", "--configfile", str(path), cwd=tmp_path)


def edited(change):
    config = copy.deepcopy(DEMO)
    change(config)
    return config


def test_the_demo_config_plans_the_whole_dag(tmp_path):
    result = dry_run(tmp_path, DEMO)
    assert result.returncode == 0, result.stderr
    plan = result.stdout + result.stderr
    # 4 methods × 2 directions; 8 pairs per direction; 3 LSSD variants tested against the baseline
    expected = {"prepare_demo": 1, "train": 8, "evaluate": 64, "tables": 2, "significance": 6, "convergence": 2}
    expected.update(figure_curves=2, figure_compare=2, figure_distillation=2)
    for rule, count in expected.items():
        assert any(line.split() == [rule, str(count)] for line in plan.splitlines()), (rule, plan)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["run"].update(datasets=["ted8"]), "run.datasets[0]: unknown dataset 'ted8'"),
        (
            lambda c: c["datasets"]["demo"]["languages"].update(xyz={"role": "low", "reference_size": 9}),
            "datasets.demo.languages.xyz: unknown language",
        ),
        (lambda c: c["datasets"]["demo"]["spm"].update(vocab_size="big"), "['datasets']['demo']['spm']['vocab_size']"),
        (lambda c: c["datasets"]["demo"]["spm"].update(recipe="bpe_per_pair"), "['datasets']['demo']['spm']['recipe']"),
        (lambda c: c["run"].update(directions=["m2m"]), "['run']['directions'][0]"),
        (lambda c: c["datasets"]["demo"].update(paper_setting="ted9"), "['datasets']['demo']['paper_setting']"),
        (lambda c: c["trainings"]["demo_tiny"].update(max_epochs=3), "'max_epochs' was unexpected"),
        (lambda c: c["run"].update(methods=["lssd_fancy"]), "run.methods[0]: unknown method 'lssd_fancy'"),
        (lambda c: c["datasets"]["demo"].update(training="big"), "datasets.demo.training: unknown training preset"),
        (
            lambda c: c["methods"]["lssd_whole"]["criterion_args"].update(language_aware=True),
            "methods.lssd_whole.criterion_args.language_aware: language-aware distillation is for eng→X (o2m) only",
        ),
        (
            lambda c: c["methods"]["lssd_whole"]["by_direction"]["o2m"].update(weight=1),
            "['methods']['lssd_whole']['by_direction']['o2m']",
        ),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path, change, expected):
    result = dry_run(tmp_path, edited(change))
    assert result.returncode != 0
    assert expected in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()
