"""The life of an LSSD run between fairseq's hooks, without fairseq: histories, teachers, switch and records.

The fairseq task (``lssd.plugin.task``) calls this at its hooks and does nothing else with LSSD's state:

* every validation: ``begin_validation`` (a second validation in the same epoch makes the previous one a mid-epoch
  validation, which the single teacher's threshold includes), ``add_validation`` per pair, and on the next epoch or
  checkpoint ``commit_validation`` (the history under the epoch, the history file written);
* every epoch: ``begin_epoch`` restores the state of the checkpoint a resumed run starts from (once), commits the
  last validation and the records, applies the previous epoch's validation to the teacher pool (the model still
  holds that epoch's weights: a new teacher is a frozen copy of it) and switches distillation on or off per pair;
* every training step: ``teacher(pair)`` (the frozen teacher when the pair is distilled) and ``add_training``
  (the KD loss and gate sums of the epoch's records);
* every checkpoint: ``state_dict`` (history, pool, records, the open epoch's sums, the last validation), restored
  by ``load_state_dict``. Teachers live in their own files (``TeacherFiles``), pruned when no pair refers to them.

With ``keep_pair_best`` every run, the baseline too, also keeps each pair's best checkpoint so far (the epoch of
its lowest dev loss, ``lssd.method.history.pair_best_epochs``) as a model-only file of the same name: the teacher
copy where the pool made one, else the model's weights as trained, written at the checkpoint save after the
validation (so the last epoch's is written too) and, where no save wrote it, when the validation is applied.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lssd.method.history import ALL, History, PairLossSums, Records, bits_per_token, pair_best_epochs
from lssd.method.teacher_files import TeacherFiles, is_main_process
from lssd.method.teachers import TeacherPool

logger = logging.getLogger(__name__)


@dataclass
class RunFiles:
    """Where a run's files are: the checkpoint directory, the history and records files, the checkpoint a
    resumed run starts from (None: none of them; a run without a save directory writes nothing)."""

    save_dir: str | None = None
    history: str | None = None
    records: str | None = None
    restore: str | None = None


class TeacherLifecycle:
    """LSSD's state over a run (see the module docstring); ``distilling`` says whether the run distils (the
    baseline keeps the history and records only)."""

    def __init__(self, pairs, teacher_key: Callable[[str], str], files: RunFiles, distilling: Callable[[], bool],
                 *, single_teacher=False, warmup_epochs=1, max_copies=0, teacher_precision="auto",
                 keep_pair_best=False):  # fmt: skip
        self.pairs, self.teacher_key, self.files, self.distilling = list(pairs), teacher_key, files, distilling
        keys = [teacher_key(pair) for pair in self.pairs]
        self.pool = TeacherPool(keys, single_teacher=single_teacher, warmup_epochs=warmup_epochs, max_copies=max_copies)
        self.teachers = TeacherFiles(files.save_dir, teacher_precision)
        self.history, self.records = History(), Records()
        self.valid_sums, self.valid_epoch, self.restored_validation = PairLossSums(), None, None
        self.epoch: int | None = None
        self.kd_on: dict[str, bool] = {}
        self.best_during: dict[str, int] = {}
        self.open_epoch: int | None = None
        self.open_sums: dict[str, list[float]] = {}
        self.resume_checked = False
        self.pending_pool_state: dict | None = None
        self.keep_pair_best, self.model = keep_pair_best, None  # (the model: the one validated last)
        self.validated_weights_saved = True  # (no validation yet whose weights are still to be written)

    # ------------------------------------------------------------------------------------------- validation
    def begin_validation(self, epoch: int, model=None) -> None:
        self.model = model if model is not None else self.model
        previous = self.last_validation()
        if previous is not None and previous[0] == epoch:
            # another validation in the same epoch: the previous one was mid-epoch (the end-of-epoch one is an
            # epoch's last); the single teacher's threshold includes it
            self.pool.observe_mid_epoch(previous[1])
        self.restored_validation = None
        self.valid_sums, self.valid_epoch = PairLossSums(), epoch
        self.validated_weights_saved = False

    def add_validation(self, pair: str, loss_nats: float, ntokens: float) -> None:
        self.valid_sums.add(pair, loss_nats, ntokens)

    def last_validation(self) -> tuple[int, float] | None:
        """(epoch, overall dev loss) of the last validation, also across a resume (saved in the checkpoint)."""
        if self.valid_epoch is not None and self.valid_sums:
            return self.valid_epoch, self.valid_sums.bits_per_token()[ALL]
        return self.restored_validation

    def commit_validation(self) -> None:
        """Record the last validation's per-pair losses under its epoch and write the history file."""
        if self.valid_epoch is None or not self.valid_sums:
            return
        self.history.record(self.valid_epoch, self.valid_sums.bits_per_token())
        if self.files.history and is_main_process():
            self.history.save(self.files.history)

    # ------------------------------------------------------------------------------------------- epochs
    def begin_epoch(self, epoch: int, model, load_task_state: Callable[[dict], None]) -> None:
        if not self.resume_checked:
            self.resume_checked = True
            self.restore(epoch, model, load_task_state)
        else:
            self.commit_validation()
            self.commit_records()
        self.valid_epoch = None
        # the model still holds the weights of the end of the previous epoch: its validation picks the teachers
        self.apply_validation(epoch - 1, model)
        self.start_epoch(epoch)

    def restore(self, epoch: int, model, load_task_state: Callable[[dict], None]) -> None:
        """On resume, take history, teacher table and records from the checkpoint training resumed from."""
        path = self.files.restore
        if path and os.path.exists(path):
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            load_task_state(state.get("task_state") or {})
            logger.info(f"per-pair history restored from {path}: epochs {sorted(self.history.epochs)}")
        self.history.truncate(before_epoch=epoch)
        self.records.truncate(before_epoch=epoch)
        if self.pending_pool_state is not None:
            load = (lambda e: self.teachers.load(model, e)) if self.distilling() else None
            self.pool.load_state_dict(self.pending_pool_state, load)
            self.teachers.saved_epochs = self.kept_epochs()
            self.pending_pool_state = None

    def apply_validation(self, epoch: int, model) -> None:
        """Update the teacher pool with the end-of-epoch validation of ``epoch`` (the model holds its weights)."""
        values = self.history.epochs.get(epoch)
        if epoch < 1 or values is None or self.pool.updated_through >= epoch:
            return
        losses = {self.teacher_key(pair): values[pair] for pair in self.pairs}
        make_copy = (lambda: self.teachers.copy(model, epoch)) if self.distilling() else None
        improved = self.pool.update(epoch, losses, make_copy, overall=values.get(ALL))
        if improved:
            logger.info(f"LSSD: the model of epoch {epoch} is now the teacher of {', '.join(improved)}")
        path = self.teachers.path(epoch)
        if path and not os.path.exists(path):  # (no checkpoint save wrote it)
            self.write_pair_best(epoch, model)

    def pair_best_epochs(self) -> set[int]:
        """The epochs that are some pair's best so far, whose files are kept (none when they are not kept)."""
        return set(pair_best_epochs(self.history.to_json()).values()) if self.keep_pair_best else set()

    def kept_epochs(self) -> set[int]:
        """The epochs whose files stay: the teachers' (a baseline's table has no copies) and the pairs' bests."""
        return (self.pool.teacher_epochs() if self.distilling() else set()) | self.pair_best_epochs()

    def write_pair_best(self, epoch: int | None, model) -> None:
        """The weights of ``model`` as the file of ``epoch`` when that is some pair's best epoch."""
        if model is not None and epoch in self.pair_best_epochs():
            self.teachers.write({name: tensor.cpu() for name, tensor in model.state_dict().items()}, epoch)

    def start_epoch(self, epoch: int) -> None:
        """The switch per pair for ``epoch`` and the teachers the epoch distils from."""
        self.epoch = epoch
        if self.open_epoch != epoch:  # (a run resumed mid-epoch keeps the sums of the epoch's first part)
            self.open_epoch, self.open_sums = epoch, {}
        distilling = self.distilling()
        keys = {pair: self.teacher_key(pair) for pair in self.pairs}
        self.kd_on = {pair: distilling and self.pool.should_distill(key, epoch) for pair, key in keys.items()}
        self.best_during = {pair: self.pool.best_epoch(key) for pair, key in keys.items()}
        if distilling:
            distilled = [pair for pair, on in self.kd_on.items() if on]
            logger.info(f"LSSD epoch {epoch}: distilling {', '.join(distilled) if distilled else 'no pair'}")

    # ------------------------------------------------------------------------------------------- training
    def teacher(self, pair: str):
        """The frozen teacher of ``pair`` in this epoch, or None when the pair is not distilled."""
        return self.pool.teacher(self.teacher_key(pair)) if self.kd_on.get(pair) else None

    def add_training(self, pair: str, kd_sum: float, gate_sum: float, kd_ntokens: float, ntokens: float) -> None:
        """Sums of a training step (or several): KD loss and gate over the distilled tokens, the distilled tokens
        and the tokens trained on."""
        sums = self.open_sums.setdefault(pair, [0.0, 0.0, 0.0, 0.0])
        for index, value in enumerate((kd_sum, gate_sum, kd_ntokens, ntokens)):
            sums[index] += value

    def commit_records(self) -> None:
        """Record the current epoch's switch, teacher epoch, mean gate, KD loss and tokens per pair."""
        if self.epoch is None:
            return
        for pair in self.pairs:
            kd_sum, gate_sum, kd_ntokens, ntokens = self.open_sums.get(pair, (0.0, 0.0, 0.0, 0.0))
            best = self.best_during.get(pair, -1)
            self.records.record(
                self.epoch, pair, best_epoch=best if best > 0 else None, kd_on=bool(self.kd_on.get(pair)),
                mean_gate=gate_sum / kd_ntokens if kd_ntokens else None,
                kd_loss=bits_per_token(kd_sum, kd_ntokens) if kd_ntokens else None,
                train_tokens=int(ntokens), kd_tokens=int(kd_ntokens),
            )  # fmt: skip
        if self.files.records and is_main_process():
            self.records.save(self.files.records)

    # ------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        self.commit_validation()
        self.commit_records()
        # the save after a validation holds the weights it measured; not a later one (fairseq's crash.pt at a failed
        # training step is saved through here too, with the weights of the updates since)
        if not self.validated_weights_saved:
            self.write_pair_best(self.valid_epoch if self.valid_sums else None, self.model)
        self.validated_weights_saved = True
        self.teachers.prune(self.kept_epochs())
        return {
            "lssd_history": self.history.to_json(),
            "lssd_pool": self.pool.state_dict(),
            "lssd_records": self.records.to_json(),
            "lssd_open": {"epoch": self.open_epoch, "sums": self.open_sums},
            "lssd_last_validation": self.last_validation(),
        }

    def load_state_dict(self, state: dict) -> dict:
        """Take LSSD's entries out of a checkpoint's task state; returns the rest (fairseq's own)."""
        state = dict(state or {})
        history = state.pop("lssd_history", None)
        if history is not None:
            self.history = History.from_json(history)
        records = state.pop("lssd_records", None)
        if records is not None:
            self.records = Records.from_json(records)
        self.pending_pool_state = state.pop("lssd_pool", None)
        last_validation = state.pop("lssd_last_validation", None)
        self.restored_validation = tuple(last_validation) if last_validation else None
        opened = state.pop("lssd_open", None)
        if opened:
            # a checkpoint of an earlier version kept three sums (no tokens trained on)
            sums = {pair: [*values, 0.0, 0.0, 0.0, 0.0][:4] for pair, values in opened["sums"].items()}
            self.open_epoch, self.open_sums = opened["epoch"], sums
        return state
