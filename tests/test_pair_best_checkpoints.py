"""Every run keeps each pair's best checkpoint (model-only ``teachers/teacher_epoch<N>.pt``), a toy model through
the lifecycle as fairseq drives it: an epoch's training, its validation, the checkpoint save, the next epoch."""

import json
import math
import os

import pytest
import torch

from lssd.method.lifecycle import RunFiles, TeacherLifecycle

PAIRS = ["bos-eng", "fra-eng"]


def lifecycle_in(save_dir, distilling=False, keep_pair_best=True, **pool):
    files = RunFiles(
        save_dir=str(save_dir),
        history=str(save_dir / "history.json"),
        records=str(save_dir / "records.json"),
        restore=str(save_dir / "checkpoint_last.pt"),
    )
    return TeacherLifecycle(
        PAIRS, lambda pair: pair.split("-")[0], files, lambda: distilling, keep_pair_best=keep_pair_best, **pool
    )


def never_resumed(state):
    raise AssertionError("no checkpoint to resume from")


def train_epoch(lifecycle, model, epoch, losses, weight, save=True):
    """Epoch ``epoch``: its training leaves the weights at ``weight``, its validation measures ``losses`` (bits per
    token per pair), then fairseq saves a checkpoint (the task state: ``state_dict``)."""
    lifecycle.begin_epoch(epoch, model, never_resumed)
    with torch.no_grad():
        model.weight.fill_(weight)
    lifecycle.begin_validation(epoch, model)
    for pair, bits in losses.items():
        lifecycle.add_validation(pair, bits * math.log(2) * 10, 10)
    return lifecycle.state_dict() if save else None


def kept(save_dir):
    """{epoch: the weight the file holds} of every file in the run's teachers directory."""
    files = {}
    for path in sorted((save_dir / "teachers").glob("teacher_epoch*.pt")):
        state = torch.load(path, map_location="cpu", weights_only=False)
        assert int(path.stem.removeprefix("teacher_epoch")) == state["epoch"]
        files[state["epoch"]] = float(state["model"]["weight"][0, 0])
    return files


# dev losses per epoch: bos is best at 2 (3 ties it, the earliest counts), fra at 4; the weights are 10 * epoch
LOSSES = [{"bos-eng": 5.0, "fra-eng": 6.0}, {"bos-eng": 4.0, "fra-eng": 5.0},
          {"bos-eng": 4.0, "fra-eng": 4.5}, {"bos-eng": 4.5, "fra-eng": 4.0}]  # fmt: skip


def test_a_baseline_keeps_each_pairs_best_so_far_and_deletes_superseded_files(tmp_path):
    model, lifecycle = torch.nn.Linear(2, 2), lifecycle_in(tmp_path)
    seen = []
    for epoch, losses in enumerate(LOSSES, start=1):
        train_epoch(lifecycle, model, epoch, losses, weight=10.0 * epoch)
        seen.append(kept(tmp_path))
    # the file of a save's best epochs is written at that save (the last epoch's too: no next epoch applies it);
    # the previous save's stay one more save, so that a resume from that checkpoint finds them
    assert seen == [{1: 10.0}, {1: 10.0, 2: 20.0}, {2: 20.0, 3: 30.0}, {2: 20.0, 3: 30.0, 4: 40.0}]
    lifecycle.begin_epoch(5, model, never_resumed)
    lifecycle.state_dict()  # a save without a validation of its own writes nothing, and prunes epoch 3's
    assert kept(tmp_path) == {2: 20.0, 4: 40.0}
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["bos-eng"] == [5.0, 4.0, 4.0, 4.5] and history["fra-eng"] == [6.0, 5.0, 4.5, 4.0]


def test_pairs_with_the_same_best_epoch_share_one_file(tmp_path):
    model, lifecycle = torch.nn.Linear(2, 2), lifecycle_in(tmp_path)
    train_epoch(lifecycle, model, 1, {"bos-eng": 5.0, "fra-eng": 5.0}, weight=1.0)
    train_epoch(lifecycle, model, 2, {"bos-eng": 4.0, "fra-eng": 4.0}, weight=2.0)
    train_epoch(lifecycle, model, 3, {"bos-eng": 4.5, "fra-eng": 4.5}, weight=3.0)
    assert kept(tmp_path) == {2: 2.0}


def test_a_later_validation_in_the_same_epoch_rewrites_or_supersedes_the_epochs_file(tmp_path):
    model, lifecycle = torch.nn.Linear(2, 2), lifecycle_in(tmp_path)
    train_epoch(lifecycle, model, 1, {"bos-eng": 5.0, "fra-eng": 5.0}, weight=1.0)
    # epoch 2: a mid-epoch save (weights 2) where both improve, then the end-of-epoch one (weights 3), bos worse
    train_epoch(lifecycle, model, 2, {"bos-eng": 4.0, "fra-eng": 4.0}, weight=2.0)
    with torch.no_grad():
        model.weight.fill_(3.0)
    lifecycle.begin_validation(2, model)
    for pair, bits in {"bos-eng": 6.0, "fra-eng": 3.0}.items():
        lifecycle.add_validation(pair, bits * math.log(2) * 10, 10)
    lifecycle.state_dict()
    assert kept(tmp_path) == {1: 1.0, 2: 3.0}  # fra's best is epoch 2 as it ended; bos's is epoch 1 again


def test_the_switch_off_keeps_no_file_in_a_baseline(tmp_path):
    model, lifecycle = torch.nn.Linear(2, 2), lifecycle_in(tmp_path, keep_pair_best=False)
    for epoch, losses in enumerate(LOSSES, start=1):
        train_epoch(lifecycle, model, epoch, losses, weight=10.0 * epoch)
    lifecycle.begin_epoch(5, model, never_resumed)
    assert not (tmp_path / "teachers").exists()


def run_lssd(save_dir, keep_pair_best, **pool):
    model, lifecycle = torch.nn.Linear(2, 2), lifecycle_in(save_dir, True, keep_pair_best, **pool)
    states = [train_epoch(lifecycle, model, e, losses, 10.0 * e) for e, losses in enumerate(LOSSES, start=1)]
    lifecycle.begin_epoch(5, model, never_resumed)
    states += [lifecycle.state_dict(), lifecycle.state_dict()]  # (the second: the files the first kept, pruned)
    records = json.loads((save_dir / "records.json").read_text())
    return states, records, lifecycle


def test_lssd_teachers_are_the_pair_best_files_and_decide_exactly_as_with_the_switch_off(tmp_path):
    for name in ("on", "off"):
        (tmp_path / name).mkdir()
    on, records_on, lifecycle = run_lssd(tmp_path / "on", keep_pair_best=True)
    off, records_off, _ = run_lssd(tmp_path / "off", keep_pair_best=False)
    assert on == off and records_on == records_off  # pool, history, records: the same
    assert kept(tmp_path / "on") == kept(tmp_path / "off") == {2: 20.0, 4: 40.0}  # the teachers, nothing more
    assert lifecycle.pool.teacher_epochs() == {2, 4}


def test_a_single_teacher_lssd_run_keeps_the_pairs_bests_beside_its_teacher(tmp_path):
    for name in ("on", "off"):
        (tmp_path / name).mkdir()
    on, records_on, lifecycle = run_lssd(tmp_path / "on", keep_pair_best=True, single_teacher=True)
    off, records_off, _ = run_lssd(tmp_path / "off", keep_pair_best=False, single_teacher=True)
    assert on == off and records_on == records_off
    # the overall loss ("all") is 4.25 at epochs 3 and 4: a tie keeps epoch 3's teacher (as the original), the only
    # one; the pairs' bests, bos's epoch 2 and fra's epoch 4, are kept beside it
    assert lifecycle.pool.teacher_epochs() == {3}
    assert kept(tmp_path / "off") == {3: 30.0} and kept(tmp_path / "on") == {2: 20.0, 3: 30.0, 4: 40.0}


def test_a_resumed_run_keeps_the_files_of_the_checkpoint_it_resumed_from(tmp_path):
    model, first = torch.nn.Linear(2, 2), lifecycle_in(tmp_path)
    for epoch, losses in enumerate(LOSSES[:3], start=1):
        state = train_epoch(first, model, epoch, losses, weight=10.0 * epoch)
    torch.save({"task_state": state}, tmp_path / "checkpoint_last.pt")  # the end of epoch 3
    assert kept(tmp_path) == {2: 20.0, 3: 30.0}

    resumed = lifecycle_in(tmp_path)
    resumed.begin_epoch(4, model, lambda task_state: resumed.load_state_dict(task_state))
    assert resumed.teachers.saved_epochs == {2, 3}  # the bests of the checkpoint's history (bos 2, fra 3)
    with torch.no_grad():
        model.weight.fill_(40.0)
    resumed.begin_validation(4, model)
    for pair, bits in LOSSES[3].items():
        resumed.add_validation(pair, bits * math.log(2) * 10, 10)
    resumed.state_dict()
    assert kept(tmp_path) == {2: 20.0, 3: 30.0, 4: 40.0}
    resumed.begin_epoch(5, model, never_resumed)
    resumed.state_dict()
    assert kept(tmp_path) == {2: 20.0, 4: 40.0}


def test_the_disk_estimate_counts_a_model_only_file_per_pair_twice_while_training():
    from lssd.run import disk

    plain = disk.run_disk(1000, pairs=3, fp16=False, mid_epoch_checkpoints=False, distils=False)
    kept = disk.run_disk(1000, pairs=3, fp16=False, mid_epoch_checkpoints=False, distils=False, pair_best=True)
    lssd = disk.run_disk(1000, pairs=3, fp16=False, mid_epoch_checkpoints=False, distils=True, pair_best=True)
    assert kept.finished_bytes - plain.finished_bytes == 3 * 4000  # fp32 weights of 1000 parameters, per pair
    assert kept.training_bytes - plain.training_bytes == 2 * 3 * 4000
    assert lssd == kept  # an LSSD run's teachers are the same files


# ------------------------------------------------------------------------------- real fairseq, through the runner
def runner_command(save_dir, max_epoch, *own):
    import sys

    from lssd.run import commands
    from tests.helpers import LANGS, TINY

    args = commands.train_arguments(
        data_bin="bin", save_dir=str(save_dir), pairs=[f"eng-{lang}" for lang in LANGS], direction="o2m",
        training={**TINY, "lr": 0.01, "max_epoch": max_epoch},  # (dev losses bounce: bests at different epochs)
        method={"criterion": "label_smoothed_cross_entropy"}, seed=3,
    )  # fmt: skip
    outputs = ["--best", f"{save_dir}.best.pt", "--history", f"{save_dir}.history.json"]
    return [sys.executable, "-m", "lssd.run.train_run", "--save-dir", str(save_dir), *outputs, *own, "--", *args,
            "--cpu"]  # fmt: skip


def run_training(workdir, save_dir, max_epoch, *own, expect=0):
    import subprocess

    command = runner_command(save_dir, max_epoch, *own)
    completed = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    output = completed.stdout + completed.stderr
    assert completed.returncode == expect, output[-4000:]
    return output


def best_epochs(save_dir):
    from lssd.method.history import pair_best_epochs

    return pair_best_epochs(json.loads((save_dir / "history.json").read_text()))


def file_epochs(save_dir):
    return {int(path.stem.removeprefix("teacher_epoch")) for path in (save_dir / "teachers").glob("*.pt")}


def same_tensors(a, b):
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


EPOCHS = 5


@pytest.fixture(scope="module")
def baseline_run(data_bin, tmp_path_factory):
    """A finished baseline run of 5 epochs, its epoch checkpoints kept (to compare the files with)."""
    import shutil

    root, _ = data_bin
    workdir = tmp_path_factory.mktemp("pair_best")
    shutil.copytree(root / "bin", workdir / "bin")
    run_training(workdir, "run", EPOCHS, "--keep-epoch-checkpoints")
    return workdir


@pytest.mark.slow
def test_a_baseline_run_keeps_exactly_its_pairs_best_checkpoints_as_trained(baseline_run):
    save_dir = baseline_run / "run"
    epochs = best_epochs(save_dir)
    assert len(epochs) == 3 and file_epochs(save_dir) == set(epochs.values()), epochs
    # (these settings: bests at two epochs, the last among them, which no next epoch applies; two pairs share one)
    assert 1 < len(set(epochs.values())) < len(epochs) and EPOCHS in epochs.values(), epochs
    for epoch in set(epochs.values()):
        kept = torch.load(save_dir / "teachers" / f"teacher_epoch{epoch}.pt", map_location="cpu", weights_only=False)
        trained = torch.load(save_dir / f"checkpoint{epoch}.pt", map_location="cpu", weights_only=False)
        assert kept["epoch"] == epoch and same_tensors(kept["model"], trained["model"]), epoch


@pytest.mark.slow
def test_a_killed_run_resumes_with_its_pairs_best_checkpoints(baseline_run, tmp_path):
    import shutil
    import signal
    import subprocess
    import time

    shutil.copytree(baseline_run / "bin", tmp_path / "bin")
    save_dir = tmp_path / "run"
    command = runner_command("run", EPOCHS, "--keep-epoch-checkpoints")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, **quiet)  # (its group: fairseq too)
    try:
        deadline = time.time() + 300
        while not (save_dir / "checkpoint2.pt").exists() and time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # (past the save: checkpoint_last.pt is copied from it)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (save_dir / f"checkpoint{EPOCHS}.pt").exists(), "the run finished before it was killed"
    output = run_training(tmp_path, "run", EPOCHS, "--keep-epoch-checkpoints")
    assert "Loaded checkpoint" in output
    epochs = best_epochs(save_dir)
    assert file_epochs(save_dir) == set(epochs.values()) and len(epochs) == 3
    for epoch in set(epochs.values()):
        kept = torch.load(save_dir / "teachers" / f"teacher_epoch{epoch}.pt", map_location="cpu", weights_only=False)
        trained = torch.load(save_dir / f"checkpoint{epoch}.pt", map_location="cpu", weights_only=False)
        assert same_tensors(kept["model"], trained["model"]), epoch


@pytest.mark.slow
def test_a_missing_pair_best_file_is_rebuilt_or_named_but_the_run_still_published(baseline_run, tmp_path):
    import shutil

    workdir = tmp_path / "copy"
    shutil.copytree(baseline_run, workdir, symlinks=True)
    save_dir = workdir / "run"
    pair, epoch = next(iter(best_epochs(save_dir).items()))
    kept = save_dir / "teachers" / f"teacher_epoch{epoch}.pt"
    original = torch.load(kept, map_location="cpu", weights_only=False)["model"]
    kept.unlink()
    output = run_training(workdir, "run", EPOCHS, "--keep-epoch-checkpoints")  # finished: published again
    assert f"was missing or torn: rebuilt from run/checkpoint{epoch}.pt" in output
    assert same_tensors(torch.load(kept, map_location="cpu", weights_only=False)["model"], original)
    kept.unlink()
    (save_dir / f"checkpoint{epoch}.pt").unlink()
    (workdir / "run.best.pt").unlink()
    # no file left to rebuild it from: the model is still published (it is the result), with a warning naming it
    output = run_training(workdir, "run", EPOCHS, expect=0)
    assert f"warning: the best checkpoint of {pair} (epoch {epoch}: run/teachers/teacher_epoch" in output
    assert "to get it, train the run again: mv run run.stale-manual" in output
    assert "published without a per-pair best evaluation" in output and (workdir / "run.best.pt").is_file()
    output = run_training(workdir, "run", EPOCHS, "--no-pair-best", expect=0)  # the switch off: nothing to check
    assert "published without a per-pair best evaluation" not in output


@pytest.mark.slow
def test_the_switch_off_keeps_no_file_in_a_baseline_run(baseline_run, tmp_path):
    import shutil

    shutil.copytree(baseline_run / "bin", tmp_path / "bin")
    run_training(tmp_path, "run", 2, "--no-pair-best")
    assert not (tmp_path / "run" / "teachers").exists()
    identity = json.loads((tmp_path / "run" / "run_args.json").read_text())
    assert "--lssd-no-pair-best-checkpoints" not in identity["args"]  # (not the run's identity: a runtime switch)
