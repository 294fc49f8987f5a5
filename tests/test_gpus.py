"""Jobs on one workstation claim distinct GPUs (lssd.run.gpus), and a job asking for more GPUs than it sees stops."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

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
    with gpus.job_gpus(2, setting="run.gpus_per_training", say=said.append) as mine:
        assert mine == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
        assert said == ["using GPU(s) 0,1"]
        assert cli.device_arguments()[-2:] == ["--distributed-world-size", "2"]


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
