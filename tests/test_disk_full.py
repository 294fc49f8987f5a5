"""A training on a full disk: the runner's own writes never stop fairseq (a lost log line, not a killed training),
a failure for a full disk is told as such with where the rerun resumes from, partial saves are removed, a resume
whose next save cannot fit is refused before fairseq starts, and once there is space the run ends exactly as an
uninterrupted one. The end-to-end test fills a real file system (a small tmpfs: needs root, as CI is)."""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lssd import layout
from lssd.run import attempts, disk_space, processes, train_run
from tests.helpers import LSSD, REPO
from tests.test_runs import runner_command

FULL = OSError(errno.ENOSPC, "No space left on device")


class FlakyDisk:
    """``write_some`` of a disk that is full for the first ``failures`` writes, then takes at most ``chunk`` bytes a
    write (an unbuffered write can be partial)."""

    def __init__(self, failures: int, chunk: int = 1 << 20) -> None:
        self.failures = failures
        self.chunk = chunk
        self.written = bytearray()

    def __call__(self, data: memoryview) -> int:
        if self.failures:
            self.failures -= 1
            raise FULL
        self.written += data[: self.chunk]
        return min(len(data), self.chunk)


def test_a_failed_write_is_counted_and_said_at_the_next_that_succeeds():
    disk = FlakyDisk(failures=2, chunk=5)
    output = attempts.BestEffortOutput(disk)
    assert output.write(b"lost line\n").errno == errno.ENOSPC
    assert output.write(b"another\n") is not None
    assert output.lost == len(b"lost line\nanother\n")
    assert output.write(b"kept\n") is None and output.lost == 0
    assert (
        bytes(disk.written)
        == b"\n[lssd: 18 bytes of output could not be written here (No space left on device)]\nkept\n"
    )


def test_the_attempt_log_survives_a_full_disk_and_notices_it(tmp_path, monkeypatch):
    log = attempts.AttemptLog()
    log.open(tmp_path / "checkpoints")
    disk = FlakyDisk(failures=1)
    log.file = attempts.BestEffortOutput(disk)
    log.say("fairseq-train failed with exit code 1")  # lost in the log, not raised
    assert log.disk_full
    log.say("error: the disk is full")
    assert b"could not be written here (No space left on device)]\nerror: the disk is full\n" in bytes(disk.written)
    # fairseq's own report of a full disk, split between two chunks of its output
    other = attempts.AttemptLog()
    other.write_bytes(b"OSError: [Errno 28] No space le")
    assert not other.disk_full
    other.write_bytes(b"ft on device\n")
    assert other.disk_full
    # stdout on a full disk (the job's log) and the log that cannot be opened: still no exception
    monkeypatch.setattr(attempts, "write_stdout", FlakyDisk(failures=10))
    third = attempts.AttemptLog()
    third.console = attempts.BestEffortOutput(attempts.write_stdout)
    (tmp_path / "blocked").write_text("a file where the save dir's parent should be")
    third.open(tmp_path / "blocked" / "checkpoints")
    assert third.file is None and third.disk_full  # stdout's failure was a full disk


def test_a_log_that_cannot_be_written_does_not_stop_the_training(tmp_path):
    """fairseq writes more than a pipe holds after the log failed: it must finish, not die of a broken pipe (the
    copier stopped reading) or block on a full pipe."""
    log = attempts.AttemptLog()
    log.open(tmp_path / "checkpoints")
    log.file = attempts.BestEffortOutput(FlakyDisk(failures=10**9))
    chatty = "import sys\nfor i in range(5000): print('x' * 100, flush=True)\nprint('finished', file=sys.stderr)"
    assert processes.run_processes([[sys.executable, "-c", chatty]], log=log) == 0
    assert log.file.lost > 500_000 and log.disk_full


def test_partial_saves_are_removed_and_nothing_else(tmp_path):
    save_dir = tmp_path / "checkpoints"
    (save_dir / "teachers").mkdir(parents=True)
    kept = ["checkpoint3.pt", "checkpoint_last.pt", "teachers/teacher_epoch2.pt", "history.json"]
    partial = ["checkpoint4.pt.tmp", "teachers/teacher_epoch4.pt.tmp", ".tmp-checkpoint_last.pt.k2x9"]
    for name in kept + partial:
        (save_dir / name).write_bytes(b"x" * 1000)
    said = []
    assert disk_space.remove_partial_saves(save_dir, said.append) == 3000
    assert sorted(str(p.relative_to(save_dir)) for p in save_dir.rglob("*") if p.is_file()) == sorted(kept)
    assert said == [
        f"removed {save_dir / name} (1 kB): a save that did not complete, which nothing reads" for name in partial
    ]


def test_a_resume_whose_next_save_cannot_fit_is_refused_with_the_space_to_free(tmp_path):
    save_dir = tmp_path / "run" / "checkpoints"
    save_dir.mkdir(parents=True)
    assert disk_space.space_problem(save_dir, free=0) is None  # a new run: its checkpoint size is not known yet
    (save_dir / "checkpoint_last.pt").write_bytes(b"x" * 5_000_000)
    assert disk_space.space_problem(save_dir, free=5_000_000) is None
    stale = save_dir.with_name("checkpoints.stale-20261201-101010")
    stale.mkdir()
    (stale / "checkpoint_last.pt").write_bytes(b"x" * 2_500_000)
    problem = disk_space.space_problem(save_dir, free=4_999_999)
    assert problem == (
        f"the disk is full: 5 MB free on the file system of {save_dir}, and this run's next save writes a whole "
        "checkpoint (5 MB) before it deletes the previous one: fairseq would train until then and fail. Free space "
        "there and run again: the run resumes from checkpoint_last.pt, nothing was changed. Runs moved aside here, "
        f"which no training reads (delete them if you no longer want them): {stale} (2 MB)"
    )
    assert [disk_space.gigabytes(size) for size in (1_234, 56_700_000, 8_910_000_000)] == ["1 kB", "57 MB", "8.9 GB"]


def test_a_full_disk_while_publishing_is_an_error_that_says_so(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "run/.tmp-checkpoint_best.pt.x")

    monkeypatch.setattr(train_run, "train", lambda args, **kwargs: 0)
    monkeypatch.setattr(train_run, "publish", full)
    data = tmp_path / "data"
    data.mkdir()
    (data / "dict.fra.txt").write_text("le 3\n")
    own = ["--save-dir", str(tmp_path / "c"), "--best", "b.pt", "--history", "h.json"]
    assert train_run.main([*own, "--", str(data)]) == 1
    out = capsys.readouterr().out
    assert "error: [Errno 28] No space left on device: 'run/.tmp-checkpoint_best.pt.x': the disk is full (" in out
    assert "the run resumes from the start (no save of this run completed)" in out


CANNOT_MOUNT = (
    "needs Linux and root (it mounts a small tmpfs to fill)" if sys.platform != "linux" or os.geteuid() != 0 else ""
)


def train(workdir: Path, max_epoch: int) -> tuple[int, str]:
    """The runner as the train rule starts it, its output appended to a job log (beside the working directory: on
    another disk than a filled one, so that the test reads every line the runner said; the attempt log, on the
    filled disk, loses some)."""
    job_log = workdir.with_name(workdir.name + ".log")
    with open(job_log, "ab") as out:
        completed = subprocess.run(
            runner_command(max_epoch, "--log-interval", "5", method=LSSD),
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    return completed.returncode, job_log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(bool(CANNOT_MOUNT), reason=CANNOT_MOUNT)
def test_a_training_that_fills_the_disk_resumes_once_there_is_space_and_ends_as_uninterrupted(data_bin, tmp_path):
    root, _ = data_bin
    reference = tmp_path / "reference"
    shutil.copytree(root / "bin", reference / "bin")
    assert train(reference, 4)[0] == 0
    checkpoint = (reference / "run/checkpoints/checkpoint_last.pt").stat().st_size
    data_size = sum(path.stat().st_size for path in (reference / "bin").rglob("*") if path.is_file())
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={data_size + 20 * checkpoint}", "tmpfs", disk], check=True)
    try:
        shutil.copytree(root / "bin", disk / "bin")
        save_dir = disk / "run" / "checkpoints"
        assert train(disk, 2)[0] == 0

        def fill(leaving: int) -> None:
            with open(disk / "filler", "ab") as filler:
                filler.write(b"x" * (disk_space.free_bytes(disk) - leaving))

        # a little more than a checkpoint free: the resume starts (its next save could fit), but epoch 3's save
        # cannot, once the attempt's log has taken its share (fairseq's settings and model alone are about 37 kB)
        fill(leaving=checkpoint + 20_000)
        code, output = train(disk, 4)
        assert code == 1, output[-3000:]
        failure = output[output.index("fairseq-train failed") :]
        assert "error: the disk is full (" in failure and "Traceback" not in failure, failure
        assert "the run resumes from checkpoint_last.pt (2 epochs complete, " in failure, failure
        assert re.search(r"removed run/checkpoints/(checkpoint|teachers/teacher_epoch)3\.pt\.tmp \(\d+ kB\)", output)
        assert not list(save_dir.rglob("*.tmp*"))
        # still full (less free than a checkpoint): the resume is refused before fairseq starts
        fill(leaving=checkpoint // 2)
        code, output = train(disk, 4)
        assert code == 2 and "this run's next save writes a whole checkpoint (" in output, output[-3000:]
        assert "fairseq_cli.train" not in output[output.rindex("this attempt's log") :]
        (disk / "filler").unlink()
        code, output = train(disk, 4)
        assert code == 0, output[-3000:]
        for name in ("history.json", "records.json"):
            assert json.loads((disk / "run" / name).read_text()) == json.loads((reference / "run" / name).read_text())
    finally:
        subprocess.run(["umount", "-l", disk], check=False)


# --- the disk the trainings to run need, said before they start (lssd.run.disk, the workflow's start hook) --------


def paper_trainings(config):
    run = config["run"]
    return [
        (dataset, direction, method, str(seed))
        for dataset in run["datasets"]
        for direction in ("m2o", "o2m")
        for method in run["methods"]
        for seed in run["seeds"]
    ]


def test_the_trainings_to_run_are_weighed_against_the_free_disk(tmp_path, monkeypatch):
    from lssd import config_files
    from lssd.run import disk

    monkeypatch.chdir(tmp_path)  # the run directories are relative, as the workflow's
    config = config_files.load_config([config_files.DEMO, REPO / "config" / "paper.yaml"])
    trainings = paper_trainings(config)
    assert len(trainings) == 24
    message = disk.planned_disk(config, trainings, free=100 * 10**9)
    assert message.startswith("lssd: the 24 trainings to run need up to 236.1 GB more disk while they train, if all ")
    assert f"(123.6 GB once finished: python -m lssd.run.disk); 100.0 GB free on the file system of {tmp_path}" in (
        message
    )
    assert message.endswith(
        "\nlssd: warning: less free than that. A training that finds the disk full stops with 'error: the disk is "
        "full' and resumes once there is space (docs/troubleshooting.md)"
    )
    assert "warning" not in disk.planned_disk(config, trainings, free=300 * 10**9)
    # what a run's directory holds already is not needed again; the runs moved aside in it are not its own
    first = Path(layout.run_dir(*trainings[0]))
    (first / "checkpoints").mkdir(parents=True)
    with open(first / "checkpoints" / "checkpoint_last.pt", "wb") as handle:
        handle.truncate(2 * 10**9)  # sparse: its size without the disk
    (first / "checkpoints.stale-20261201-101010").mkdir()
    with open(first / "checkpoints.stale-20261201-101010" / "checkpoint_last.pt", "wb") as handle:
        handle.truncate(10**9)
    assert "need up to 234.1 GB more disk" in disk.planned_disk(config, trainings, free=300 * 10**9)
    # an architecture without sizes in the table is left out, and said
    config["trainings"]["wmt"]["arch"] = "transformer_vaswani_wmt_en_de_big"
    message = disk.planned_disk(config, trainings, free=300 * 10**9)
    assert "(not counted: the trainings of architecture transformer_vaswani_wmt_en_de_big, of unknown size)" in message


def test_the_start_hook_names_the_trainings_to_run_and_never_stops_the_workflow(monkeypatch, capsys):
    from types import SimpleNamespace

    from lssd.run import disk

    def job(rule, **wildcards):
        return SimpleNamespace(rule=SimpleNamespace(name=rule), wildcards_dict=wildcards)

    planned = [
        job("train", dataset="demo", direction="o2m", method="lssd_whole", seed="1"),
        job("evaluate", dataset="demo", direction="o2m", method="baseline", seed="1"),
        job("train", dataset="demo", direction="m2o", method="baseline", seed="1"),
    ]
    workflow = SimpleNamespace(config={}, dag=SimpleNamespace(needrun_jobs=lambda: planned))
    seen = []
    monkeypatch.setattr(disk, "planned_disk", lambda config, trainings, free: seen.append(trainings) or "the figure")
    disk.on_start(workflow)
    assert seen == [[("demo", "m2o", "baseline", "1"), ("demo", "o2m", "lssd_whole", "1")]]
    assert capsys.readouterr().out == "the figure\n"

    def unreadable(config, trainings, free):
        raise PermissionError(errno.EACCES, "Permission denied", "results/train/demo")

    monkeypatch.setattr(disk, "planned_disk", unreadable)
    disk.on_start(workflow)
    assert capsys.readouterr().out == (
        "lssd: the disk the trainings to run need was not estimated ([Errno 13] Permission denied: "
        "'results/train/demo')\n"
    )
    workflow.dag.needrun_jobs = lambda: planned[1:2]  # no training to run: nothing said
    disk.on_start(workflow)
    assert capsys.readouterr().out == ""
