"""One config loader for every command outside Snakemake (lssd.config_files): Snakemake's merge, the schema's
defaults, the checks; the disk estimate reads the paper config through it."""

from lssd import config_files
from lssd.run import disk


def test_the_paper_config_is_merged_over_the_demo_with_the_schemas_defaults():
    config = config_files.load_config([config_files.DEMO, config_files.PAPER])
    assert config["run"]["datasets"] == ["ted8_diverse", "ted8_related", "wmt6"]  # paper.yaml's run
    assert "demo" in config["datasets"]  # mappings merged key by key, as Snakemake merges them
    ted = config["trainings"]["ted"]
    assert ted["arch"] == "transformer_iwslt_de_en" and ted["pure_batch"] is True  # a schema default
    assert config["run"]["keep_epoch_checkpoints"] is False


def test_the_disk_estimate_reads_configs_as_the_workflow_does(tmp_path, capsys):
    assert disk.main(["--configfile", str(config_files.PAPER)]) == 0
    table = capsys.readouterr().out
    assert all(f"| {name} |" in table for name in ("ted8_diverse", "ted8_related", "wmt6"))
    assert "| demo |" not in table
    broken = tmp_path / "broken.yaml"
    broken.write_text("run: [unclosed\n")
    assert disk.main(["--configfile", str(config_files.PAPER), str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {broken}: not valid YAML")
