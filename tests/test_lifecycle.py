"""LSSD's state over a run without fairseq: a toy model through epochs, validations, a checkpoint and a resume."""

import json
import math

import pytest
import torch

from lssd.method.lifecycle import RunFiles, TeacherLifecycle

PAIRS = ["bos-eng", "fra-eng"]


def lifecycle_in(save_dir, distilling=True):
    files = RunFiles(
        save_dir=str(save_dir),
        history=str(save_dir / "history.json"),
        records=str(save_dir / "records.json"),
        restore=str(save_dir / "checkpoint_last.pt"),
    )
    return TeacherLifecycle(PAIRS, lambda pair: pair.split("-")[0], files, lambda: distilling)


def validate(lifecycle, epoch, losses, model=None):
    """One validation: each pair's (summed loss in nats, tokens) such that its dev loss is ``losses[pair]`` bits."""
    lifecycle.begin_validation(epoch, model)
    for pair, bits in losses.items():
        lifecycle.add_validation(pair, bits * math.log(2) * 10, 10)


def never_resumed(state):
    raise AssertionError("no checkpoint to resume from")


def set_weights(model, value):
    with torch.no_grad():
        model.weight.fill_(value)


def test_epochs_pick_teachers_switch_pairs_and_write_history_and_records(tmp_path):
    model = torch.nn.Linear(2, 2)
    lifecycle = lifecycle_in(tmp_path)
    set_weights(model, 1.0)
    lifecycle.begin_epoch(1, model, never_resumed)
    assert lifecycle.kd_on == {"bos-eng": False, "fra-eng": False}
    validate(lifecycle, 1, {"bos-eng": 5.0, "fra-eng": 5.0})
    lifecycle.begin_epoch(2, model, never_resumed)  # applies epoch 1: both pairs' teacher is the model of epoch 1
    assert (tmp_path / "teachers" / "teacher_epoch1.pt").exists()
    set_weights(model, 2.0)
    validate(lifecycle, 2, {"bos-eng": 6.0, "fra-eng": 4.0})  # bos got worse, fra improved
    lifecycle.begin_epoch(3, model, never_resumed)
    assert lifecycle.kd_on == {"bos-eng": True, "fra-eng": False}  # bos: best at 1, 3 - 1 > 1
    teacher = lifecycle.teacher("bos-eng")
    assert torch.equal(teacher.weight, torch.full((2, 2), 1.0)) and not teacher.weight.requires_grad
    assert lifecycle.teacher("fra-eng") is None
    lifecycle.add_training("bos-eng", kd_sum=8 * math.log(2), gate_sum=3.0, kd_ntokens=4, ntokens=4)
    lifecycle.add_training("fra-eng", kd_sum=0.0, gate_sum=0.0, kd_ntokens=0, ntokens=6)
    lifecycle.commit_records()
    history = json.loads((tmp_path / "history.json").read_text())
    assert history == {"bos-eng": [5.0, 6.0], "fra-eng": [5.0, 4.0], "all": [5.0, 5.0]}
    records = json.loads((tmp_path / "records.json").read_text())
    assert records["bos-eng"]["kd_on"] == [False, False, True] and records["bos-eng"]["best_epoch"][2] == 1
    assert records["bos-eng"]["mean_gate"][2] == pytest.approx(0.75) and records["bos-eng"]["kd_loss"][2] == 2.0
    assert records["fra-eng"]["kd_on"][2] is False and records["fra-eng"]["best_epoch"][2] == 2
    assert records["bos-eng"]["train_tokens"][2] == 4 and records["bos-eng"]["kd_tokens"][2] == 4
    assert records["fra-eng"]["train_tokens"][2] == 6 and records["fra-eng"]["kd_tokens"][2] == 0


def test_a_resumed_run_gets_history_teachers_and_switch_back_from_its_checkpoint(tmp_path):
    model = torch.nn.Linear(2, 2)
    first = lifecycle_in(tmp_path)
    for epoch, losses, weight in ((1, 5.0, 1.0), (2, 6.0, 2.0)):
        first.begin_epoch(epoch, model, never_resumed)
        set_weights(model, weight)  # what the epoch trained
        validate(first, epoch, {"bos-eng": losses, "fra-eng": 7.0 - epoch})
    torch.save({"task_state": first.state_dict()}, tmp_path / "checkpoint_last.pt")  # the end of epoch 2

    set_weights(model, 9.0)  # fairseq restored the weights of epoch 2 into the model; the teacher is epoch 1's
    resumed = lifecycle_in(tmp_path)
    resumed.begin_epoch(3, model, lambda state: resumed.load_state_dict(state))
    assert resumed.history.to_json() == first.history.to_json()
    assert resumed.kd_on == {"bos-eng": True, "fra-eng": False}
    assert torch.equal(resumed.teacher("bos-eng").weight, torch.full((2, 2), 1.0))  # from teachers/teacher_epoch1.pt


def test_teacher_files_no_pair_refers_to_are_pruned_after_the_next_checkpoint(tmp_path):
    model = torch.nn.Linear(2, 2)
    lifecycle = lifecycle_in(tmp_path)
    for epoch in (1, 2, 3):
        lifecycle.begin_epoch(epoch, model, never_resumed)
        validate(lifecycle, epoch, {"bos-eng": 5.0 - epoch, "fra-eng": 5.0 - epoch})  # both improve every epoch
        lifecycle.state_dict()
    lifecycle.begin_epoch(4, model, never_resumed)
    lifecycle.state_dict()
    lifecycle.state_dict()
    names = sorted(path.name for path in (tmp_path / "teachers").iterdir())
    assert names == ["teacher_epoch3.pt"]


def test_the_baseline_keeps_history_and_records_but_copies_no_teacher(tmp_path):
    model = torch.nn.Linear(2, 2)
    lifecycle = lifecycle_in(tmp_path, distilling=False)
    for epoch in (1, 2, 3):
        lifecycle.begin_epoch(epoch, model, never_resumed)
        validate(lifecycle, epoch, {"bos-eng": 5.0 + epoch, "fra-eng": 5.0})
    lifecycle.begin_epoch(4, model, never_resumed)
    assert not (tmp_path / "teachers").exists() and lifecycle.kd_on == {"bos-eng": False, "fra-eng": False}
    assert json.loads((tmp_path / "records.json").read_text())["bos-eng"]["best_epoch"] == [None, 1, 1]


def test_a_save_after_later_updates_leaves_the_pair_best_file_of_the_validation(tmp_path):
    """fairseq 0.12 also saves ``crash.pt`` (through the task's state) when a training step fails, with the weights
    of the updates since the last validation: the pair's best file keeps the weights that validation measured."""
    model = torch.nn.Linear(2, 2)
    lifecycle = lifecycle_in(tmp_path)
    lifecycle.keep_pair_best = True
    lifecycle.begin_epoch(1, model, never_resumed)
    set_weights(model, 1.0)
    # a mid-epoch validation (--save-interval-updates): epoch 1 is the best
    validate(lifecycle, 1, {"bos-eng": 5.0, "fra-eng": 5.0}, model)
    lifecycle.state_dict()  # the checkpoint save that follows it
    pair_best = tmp_path / "teachers" / "teacher_epoch1.pt"
    assert torch.equal(torch.load(pair_best)["model"]["weight"], torch.full((2, 2), 1.0))
    set_weights(model, 2.0)  # training goes on, then a step fails and fairseq writes crash.pt
    state = lifecycle.state_dict()
    assert torch.equal(torch.load(pair_best)["model"]["weight"], torch.full((2, 2), 1.0))
    assert state["lssd_history"] == {"bos-eng": [5.0], "fra-eng": [5.0], "all": [5.0]}
    set_weights(model, 3.0)
    validate(lifecycle, 1, {"bos-eng": 4.0, "fra-eng": 4.0})  # the end-of-epoch validation: better again
    lifecycle.state_dict()
    assert torch.equal(torch.load(pair_best)["model"]["weight"], torch.full((2, 2), 3.0))
