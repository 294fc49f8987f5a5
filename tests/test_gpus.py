"""Jobs on one workstation claim distinct GPUs (lssd.run.gpus), and a job asking for more GPUs than it sees stops."""

import subprocess
import sys
import textwrap
import time

import pytest

from lssd.run import gpus


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
    assert gpus.visible_devices() == ["0", "1"]
    with gpus.claim(0) as mine:
        assert gpus.environment(mine)["CUDA_VISIBLE_DEVICES"] == ""
