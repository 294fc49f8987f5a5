"""The teacher pool of LSSD: for every teacher key (the non-English language of a pair) the epoch and value of
its best per-pair dev loss, and a frozen copy of the model of that epoch.

Rules (spec §1.4–§1.5):

* after each end-of-epoch validation, every key whose dev loss strictly improved (every key after epoch 1) points
  to a copy of the current weights; keys that improve in the same epoch share one copy; a copy that no key points
  to any more is freed;
* single-teacher ablation: every key follows the overall dev loss instead (one shared teacher);
* the switch: key ℓ is distilled in epoch e when e > warm-up, ℓ has a teacher, and e − best_epoch(ℓ) > 1 (the pair
  did not improve at the last validation).

This module knows nothing of fairseq: the copy is made by a callable the task passes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TeacherEntry:
    best_epoch: int = -1
    best_loss: float = math.inf


@dataclass
class TeacherPool:
    keys: list[str]
    single_teacher: bool = False
    warmup_epochs: int = 1
    entries: dict[str, TeacherEntry] = field(default_factory=dict)
    copies: dict[int, Any] = field(default_factory=dict)  # epoch → frozen model shared by the keys at that epoch
    updated_through: int = 0  # the last epoch whose validation has been applied
    overall_best: float = math.inf

    def __post_init__(self) -> None:
        for key in self.keys:
            self.entries.setdefault(key, TeacherEntry())

    # ------------------------------------------------------------------------------------------- updates
    def improved_keys(self, epoch: int, losses: Mapping[str, float], overall: float | None = None) -> list[str]:
        """The keys whose teacher becomes the model of ``epoch`` (strict improvement; all of them at epoch 1)."""
        if self.single_teacher:
            if overall is None:
                raise ValueError("the single-teacher pool needs the overall dev loss")
            return list(self.keys) if epoch == 1 or overall < self.overall_best else []
        return [key for key in self.keys if epoch == 1 or losses[key] < self.entries[key].best_loss]

    def update(
        self, epoch: int, losses: Mapping[str, float], make_copy: Callable[[], Any] | None, overall: float | None = None
    ) -> list[str]:
        """Apply the end-of-epoch validation of ``epoch``; returns the keys that got a new teacher."""
        if epoch <= self.updated_through:
            return []
        improved = self.improved_keys(epoch, losses, overall)
        if improved:
            copy = make_copy() if make_copy is not None else None
            self.copies[epoch] = copy
            for key in improved:
                value = overall if self.single_teacher else losses[key]
                self.entries[key] = TeacherEntry(best_epoch=epoch, best_loss=value)
        if self.single_teacher and overall is not None:
            self.overall_best = min(self.overall_best, overall) if epoch > 1 else overall
        self.updated_through = epoch
        self.free_unused()
        return improved

    def free_unused(self) -> None:
        referenced = self.teacher_epochs()
        for epoch in [e for e in self.copies if e not in referenced]:
            del self.copies[epoch]

    # ------------------------------------------------------------------------------------------- queries
    def teacher_epochs(self) -> set[int]:
        """Epochs whose model is still some key's teacher (their checkpoints must be kept)."""
        return {entry.best_epoch for entry in self.entries.values() if entry.best_epoch > 0}

    def best_epoch(self, key: str) -> int:
        return self.entries[key].best_epoch

    def should_distill(self, key: str, epoch: int) -> bool:
        entry = self.entries[key]
        return epoch > self.warmup_epochs and entry.best_epoch > 0 and epoch - entry.best_epoch > 1

    def teacher(self, key: str):
        return self.copies.get(self.entries[key].best_epoch)

    # ------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {
            "entries": {k: {"best_epoch": e.best_epoch, "best_loss": e.best_loss} for k, e in self.entries.items()},
            "updated_through": self.updated_through,
            "overall_best": self.overall_best,
            "single_teacher": self.single_teacher,
        }

    def load_state_dict(self, state: Mapping, load_copy: Callable[[int], Any] | None = None) -> None:
        """Restore the table; ``load_copy(epoch)`` rebuilds the frozen model of each teacher epoch."""
        for key, entry in state["entries"].items():
            if key in self.entries:
                self.entries[key] = TeacherEntry(int(entry["best_epoch"]), float(entry["best_loss"]))
        self.updated_through = int(state["updated_through"])
        self.overall_best = float(state["overall_best"])
        self.copies = {}
        if load_copy is not None:
            for epoch in sorted(self.teacher_epochs()):
                self.copies[epoch] = load_copy(epoch)
