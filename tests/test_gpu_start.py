"""The start hook for GPU jobs run on this machine (lssd/run/gpu_start.py): torch is checked before any job, so a
CPU build or a missing GPU stops the workflow before the data preparation, not at its first training."""

import pytest
import torch
import yaml

from lssd.run import gpu_start
from tests.helpers import reduced_config, snakemake

H100 = {"torch": "2.11.0+cu130", "cuda": "13.0", "available": True, "count": 2, "names": ["NVIDIA H100 80GB HBM3"] * 2}


def test_the_gpu_jobs_to_run_are_those_their_settings_give_gpus():
    run = {"gpus_per_training": 8, "gpus_per_evaluation": 1}
    assert gpu_start.gpu_jobs(run, {"train", "evaluate", "tables"}) == {
        "run.gpus_per_training": 8,
        "run.gpus_per_evaluation": 1,
    }
    assert gpu_start.gpu_jobs(run, {"spm_train", "binarize"}) == {}  # no training or evaluation to run: no check
    assert gpu_start.gpu_jobs({"gpus_per_training": 0, "gpus_per_evaluation": 1}, {"train"}) == {}


def test_torch_that_can_use_the_gpus_lets_the_workflow_start():
    problem, seen = gpu_start.start_problem({"run.gpus_per_training": 2}, ["0", "1"], probe=lambda: H100)
    assert problem is None and seen == "torch 2.11.0+cu130 (CUDA 13.0) sees 2 GPU(s): 2 × NVIDIA H100 80GB HBM3"


def test_fewer_gpus_than_a_job_asks_for_stop_the_workflow_without_probing():
    def probe():
        raise AssertionError("probed")

    problem, _ = gpu_start.start_problem({"run.gpus_per_training": 8, "run.gpus_per_evaluation": 1}, ["0"], probe)
    assert (
        problem
        == "run.gpus_per_training = 8, but this machine shows 1 (0): lower run.gpus_per_training or run where there are"
    )
    problem, _ = gpu_start.start_problem({"run.gpus_per_evaluation": 1}, [], probe)
    assert problem.startswith("run.gpus_per_evaluation = 1, but this machine shows none (nvidia-smi")


def test_a_cpu_build_of_torch_stops_the_workflow():
    cpu = {"torch": "2.13.0+cpu", "cuda": None, "available": False, "count": 0, "names": [], "warnings": []}
    problem, _ = gpu_start.start_problem({"run.gpus_per_training": 1}, ["0"], probe=lambda: cpu)
    assert problem.startswith("this machine has 1 GPU(s) (0; run.gpus_per_training), but torch 2.13.0+cpu in ")
    assert "is a CPU build" in problem


@pytest.mark.skipif(torch.version.cuda is not None, reason="torch here is a CUDA build")
def test_the_workflow_stops_before_any_job_where_its_gpu_jobs_could_not_run(tmp_path, monkeypatch):
    """The real Snakemake on the reduced demo with one GPU per training, the machine showing one GPU
    (CUDA_VISIBLE_DEVICES) and torch a CPU build: the start hook stops it, no job (no data preparation) ran."""
    config = reduced_config()
    config["run"]["gpus_per_training"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    result = snakemake("--cores", "1", "--configfile", "config.yaml", cwd=tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "lssd: the GPU jobs to run cannot use this machine's GPUs: this machine has 1 GPU(s) (0; " in output
    assert "is a CPU build" in output and "No job was started." in output, output[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()
    # a dry run plans without checking (the hooks do not run), so the plan can still be looked at
    assert snakemake("-n", "--cores", "1", "--configfile", "config.yaml", cwd=tmp_path, timeout=300).returncode == 0
