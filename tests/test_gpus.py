"""Jobs on one workstation claim distinct GPUs (lssd.run.gpus), and a job asking for more GPUs than it sees stops."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from lssd.run import cli, gpus


def test_jobs_claim_distinct_gpus_and_release_them(tmp_path):
    devices = ["0", "1", "2", "3"]
    with gpus.claim(2, devices, tmp_path) as first, gpus.claim(1, devices, tmp_path) as second:
        assert first == ["0", "1"] and second == ["2"]
        with gpus.claim(1, devices, tmp_path) as third:
            assert third == ["3"]
    with gpus.claim(4, devices, tmp_path) as everything:  # all released again
        assert everything == devices


def test_a_killed_job_releases_its_gpus(tmp_path):
    """The locks are flocks: they go with the process, even on SIGKILL, so no stale lock blocks a GPU."""
    holder = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from lssd.run import gpus
        with gpus.claim(1, ["0", "1"], Path({str(tmp_path)!r})) as mine:
            print(mine[0], flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    completed = subprocess.run([sys.executable, "-c", holder], capture_output=True, text=True, timeout=60)
    assert completed.returncode == -9 and completed.stdout.strip() == "0"
    with gpus.claim(2, ["0", "1"], tmp_path, poll_seconds=0.01) as both:
        assert both == ["0", "1"]


def test_a_job_waits_until_enough_gpus_are_free(tmp_path):
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from lssd.run import gpus
        with gpus.claim(2, ["0", "1", "2"], Path({str(tmp_path)!r})) as mine:
            print(",".join(mine), flush=True)
            time.sleep(1.5)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "0,1"
    started = time.monotonic()
    with gpus.claim(2, ["0", "1", "2"], tmp_path, poll_seconds=0.05) as mine:
        waited = time.monotonic() - started
        assert sorted(mine) == ["0", "2"]
    assert waited > 1.0  # it got a second GPU only once the other job had let go of its two (after 1.5 s)
    holder.wait(timeout=30)


def test_asking_for_every_visible_gpu_takes_them_without_locks(tmp_path):
    with gpus.claim(2, ["5", "7"], tmp_path / "locks") as mine:
        assert mine == ["5", "7"]
    assert not (tmp_path / "locks").exists()


def test_more_gpus_than_visible_is_an_error_naming_the_setting(tmp_path):
    with pytest.raises(gpus.GPUError, match=r"run.gpus_per_training = 8, but this job sees 2 GPU\(s\) \(0,1\)"):
        with gpus.claim(8, ["0", "1"], tmp_path):
            pass


def test_no_gpus_hides_them(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with gpus.job_gpus(0, setting="run.gpus_per_training") as mine:
        assert mine == [] and os.environ["CUDA_VISIBLE_DEVICES"] == ""
        assert gpus.visible_gpu_count() == 0 and cli.device_arguments() == ["--cpu"]


def test_a_job_sees_only_the_gpus_it_claimed(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    monkeypatch.setenv("LSSD_GPU_LOCK_DIR", str(tmp_path))
    said = []
    with gpus.job_gpus(2, setting="run.gpus_per_training", say=said.append, probe=lambda: usable(2)) as mine:
        assert mine == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
        assert said == ["using GPU(s) 0,1", "torch 2.11.0+cu130 (CUDA 13.0) sees 2 GPU(s): 2 × NVIDIA H100 80GB HBM3"]
        assert cli.device_arguments()[-2:] == ["--distributed-world-size", "2"]


# What the probe (gpus.cuda_report) says, for torch builds and drivers this machine does not have
def usable(count: int) -> dict:
    names = ["NVIDIA H100 80GB HBM3"] * count
    return {"torch": "2.11.0+cu130", "cuda": "13.0", "available": True, "count": count, "names": names, "warnings": []}


CPU_BUILD = {"torch": "2.13.0+cpu", "cuda": None, "available": False, "count": 0, "names": [], "warnings": []}
OLD_DRIVER = {
    **usable(0),
    "available": False,
    "warnings": [
        "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040). Please update "
        "your GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/"
        "index.aspx"
    ],
}


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (CPU_BUILD, r"torch 2\.13\.0\+cpu in \S+ is a CPU build, which would run on the CPU and leave them idle: "
                    r"install a CUDA build of torch there \(README, \"On a GPU\"\), or set run.gpus_per_training: 0"),
        (OLD_DRIVER, r"torch 2\.11\.0\+cu130 \(CUDA 13\.0\) finds no usable GPU \(CUDA initialization: The NVIDIA "
                     r"driver on your system is too old \(found version 12040\)\..*\): check the NVIDIA driver with "
                     r"nvidia-smi \(it must support CUDA 13\.0\), or set run.gpus_per_training: 0"),
        (usable(1), r"torch 2\.11\.0\+cu130 \(CUDA 13\.0\) sees 1 GPU\(s\): NVIDIA H100 80GB HBM3: check the "
                    r"devices with nvidia-smi, or lower run.gpus_per_training to 1"),
        ({"error": "/venv/bin/python could not import torch to check the GPUs: ImportError: libcudart.so.13"},
         r"/venv/bin/python could not import torch to check the GPUs: ImportError: libcudart\.so\.13$"),
    ],
)  # fmt: skip
def test_a_job_whose_torch_cannot_use_its_gpus_stops_with_the_reason(monkeypatch, report, reason):
    """A CPU build of torch, or a CUDA without a usable GPU, would train and translate on the CPU in silence while
    the job holds its GPUs (fairseq falls back to the CPU): the job stops before any work, saying why and what
    to do. So does one whose torch sees fewer GPUs than it was given (fairseq's world size would be wrong)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # what SLURM gives a job of 2 GPUs: all of them its own
    said = []
    with pytest.raises(gpus.GPUError, match=r"^this job has 2 GPU\(s\) \(0,1; run.gpus_per_training\), but " + reason):
        with gpus.job_gpus(2, setting="run.gpus_per_training", say=said.append, probe=lambda: report):
            pytest.fail("the block ran")
    assert said == ["using GPU(s) 0,1"]


def test_a_job_without_gpus_does_not_check_cuda(monkeypatch):
    """No probe (a child process importing torch, about 2 s) for a CPU job, nor for a training told --cpu."""

    def probe():
        raise AssertionError("probed")

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with gpus.job_gpus(0, setting="run.gpus_per_training", probe=probe) as mine:
        assert mine == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # (job_gpus(0) hid them)
    with gpus.job_gpus(None, setting="run.gpus_per_training", need_cuda=False, probe=probe) as mine:
        assert mine == ["0", "1"]


def test_the_probe_reports_this_environments_torch():
    """The real probe, in a child process with the job's CUDA_VISIBLE_DEVICES: what torch says here."""
    report = gpus.cuda_report()
    assert report["torch"] == torch.__version__ and report["cuda"] == torch.version.cuda
    assert report["available"] == torch.cuda.is_available()
    assert report["count"] == len(report["names"]) == (torch.cuda.device_count() if report["available"] else 0)


def fake_nvidia_smi(directory, gpus):
    """An ``nvidia-smi`` on PATH that lists ``gpus`` GPUs as the real one does."""
    program = directory / "nvidia-smi"
    lines = "".join(f"echo 'GPU {index}: NVIDIA H100 80GB HBM3 (UUID: GPU-{index:08d})'\n" for index in range(gpus))
    program.write_text(f"#!/bin/sh\n{lines}")
    program.chmod(0o755)


@pytest.mark.parametrize(
    ("visible", "count"),
    [("0,1,2,3", 4), ("3", 1), ("", 0), ("-1", 0), ("1,-1,0", 1), ("GPU-8a1b,GPU-77c2", 2), (None, 8)],
)
def test_the_gpus_the_job_sees_are_counted_as_cuda_counts_them(monkeypatch, tmp_path, visible, count):
    """CUDA_VISIBLE_DEVICES (SLURM's, or the GPU claim's) as CUDA reads it, up to the first entry naming no
    device; unset: every GPU of the machine (nvidia-smi). The count is fairseq's world size."""
    fake_nvidia_smi(tmp_path, 8)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpus.visible_gpu_count() == count
    flags = cli.device_arguments()
    if count == 0:
        assert flags == ["--cpu"]
    elif count == 1:
        assert "--cpu" not in flags and "--distributed-world-size" not in flags
    else:
        assert flags[flags.index("--distributed-world-size") + 1] == str(count)


def test_without_an_nvidia_driver_no_gpu_is_counted(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpus.visible_gpu_count() == 0 and cli.device_arguments() == ["--cpu"]


needs_cpu_torch = pytest.mark.skipif(torch.version.cuda is not None, reason="torch here is a CUDA build")


@needs_cpu_torch
def test_a_training_given_a_gpu_with_a_cpu_torch_stops_before_fairseq(tmp_path):
    """What a SLURM job of 1 GPU does where the environment has a CPU build of torch: exit 2 with the reason, in
    the job's log and the attempt's log, and fairseq-train never started."""
    save_dir = tmp_path / "checkpoints"
    command = [
        sys.executable, "-m", "lssd.run.train_run", "--save-dir", str(save_dir), "--best", str(tmp_path / "best.pt"),
        "--history", str(tmp_path / "history.json"), "--gpus", "1", "--fp16", "--", str(tmp_path / "bin"),
    ]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    reason = f"error: this job has 1 GPU(s) (0; run.gpus_per_training), but torch {torch.__version__} in "
    assert completed.returncode == 2 and reason in completed.stdout, completed.stdout + completed.stderr
    attempt = (save_dir / "logs" / "attempt-1.log").read_text()
    assert reason in attempt and "is a CPU build" in attempt
    assert "fairseq_cli.train" not in attempt and not (tmp_path / "best.pt").exists()


@needs_cpu_torch
def test_an_evaluation_given_a_gpu_with_a_cpu_torch_stops_before_translating(tmp_path):
    command = [
        sys.executable, "-m", "lssd.run.evaluate", "--output-dir", str(tmp_path / "eval"), "--plan", "[]",
        "--gpus", "1", "--", str(tmp_path / "bin"), "--path", str(tmp_path / "checkpoint_best.pt"),
    ]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    reason = f"error: this job has 1 GPU(s) (0; run.gpus_per_evaluation), but torch {torch.__version__} in "
    assert completed.returncode == 2 and reason in completed.stderr, completed.stdout + completed.stderr
    assert list((tmp_path / "eval").iterdir()) == []


@pytest.mark.parametrize(
    ("gpu", "gres", "given"),
    [(8, "", 8), (0, "gpu:8", 8), (0, "gpu:a100:4", 4), (0, "gpu", 1), (0, "shard:2,gpu:2", 2), (0, "shard:2", 0),
     (0, "", 0), (None, "", None), (None, "gpu:2", 2)],
)  # fmt: skip
def test_the_gpus_of_a_gres_request_are_the_jobs(gpu, gres, given):
    """The SLURM profile's alternative for clusters that only take --gres (gpu: 0, gres: "gpu:8"): the job's runner
    gets both resources and counts the gres's GPUs, where it used to take gpu 0 to mean none and hide them."""
    assert gpus.given_gpus(gpu, gres) == given


@needs_cpu_torch
def test_a_training_given_its_gpu_by_gres_uses_it(tmp_path):
    """--gpus 0 --gres=gpu:1, what the train rule runs with the profile's gres alternative, in a job SLURM gave GPU 3:
    the job takes that GPU (here it then stops: this torch is a CPU build) instead of hiding it and training on the
    CPU."""
    save_dir = tmp_path / "checkpoints"
    command = [
        sys.executable, "-m", "lssd.run.train_run", "--save-dir", str(save_dir), "--best", str(tmp_path / "best.pt"),
        "--history", str(tmp_path / "history.json"), "--gpus", "0", "--gres=gpu:1", "--", str(tmp_path / "bin"),
    ]  # fmt: skip
    completed = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": "3"}, timeout=300
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "using GPU(s) 3\nerror: this job has 1 GPU(s) (3; run.gpus_per_training), but torch" in completed.stdout
