"""The teacher pool of LSSD: for every teacher key (the non-English language of a pair) the epoch and value of
its best per-pair dev loss, and a frozen copy of the model of that epoch.

Rules (as the authors' fork keeps its teachers, github.com/OrangeInSouth/LSSD):

* after each end-of-epoch validation, every key whose dev loss strictly improved (every key after epoch 1) points
  to a copy of the current weights; keys that improve in the same epoch share one copy; a copy that no key points
  to any more is freed;
* single-teacher ablation: every key follows the overall dev loss instead (one shared teacher); as in the original,
  which compares it with fairseq's best so far (``save_checkpoint.best``) before fairseq saves the epoch, an
  end-of-epoch loss, rounded to 3 decimals as fairseq logs it, must be below every earlier validation's (strictly:
  a tie keeps the teacher), the mid-epoch ones (``--save-interval-updates``) included (``observe_mid_epoch``);
  copies are still made only at end-of-epoch validations;
* the switch: key ℓ is distilled in epoch e when e > warm-up, ℓ has a teacher, and e − best_epoch(ℓ) > 1 (the pair
  did not improve at the last validation).

This module knows nothing of fairseq: the copy is made by a callable the task passes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def as_fairseq_logs(loss: float) -> float:
    """A dev loss as fairseq logs and compares it (its meters round to 3 decimals): the original's single teacher
    changes when this value is below fairseq's best so far (``<``: a tie keeps the teacher; fairseq's own
    ``checkpoint_best.pt``, saved after, takes the newer on a tie)."""
    return round(loss, 3)


# where a run keeps its teachers' weights: ``<save-dir>/teachers/teacher_epoch<N>.pt`` (lssd.method.lifecycle writes
# them; the runner checks and rebuilds them before a resume)
TEACHERS_DIRECTORY = "teachers"


def teacher_file_name(epoch: int) -> str:
    return f"teacher_epoch{epoch}.pt"


def teacher_path(save_dir, epoch: int):
    """The file of ``epoch``'s teacher (and, in every run, of the pairs whose best it is) in a checkpoint dir."""
    from pathlib import Path

    return Path(save_dir) / TEACHERS_DIRECTORY / teacher_file_name(epoch)


@dataclass
class TeacherEntry:
    best_epoch: int = -1
    best_loss: float = math.inf
    teacher_epoch: int = -1  # the copy this key distils from: its best epoch, unless a cap merged it into another


@dataclass
class TeacherPool:
    keys: list[str]
    single_teacher: bool = False
    warmup_epochs: int = 1
    entries: dict[str, TeacherEntry] = field(default_factory=dict)
    copies: dict[int, Any] = field(default_factory=dict)  # epoch → frozen model shared by the keys at that epoch
    updated_through: int = 0  # the last epoch whose validation has been applied
    overall_best: float = math.inf
    max_copies: int = 0  # 0: one copy per distinct best epoch (the original); else at most this many

    def __post_init__(self) -> None:
        for key in self.keys:
            self.entries.setdefault(key, TeacherEntry())

    # ------------------------------------------------------------------------------------------- updates
    def improved_keys(self, epoch: int, losses: Mapping[str, float], overall: float | None = None) -> list[str]:
        """The keys whose teacher becomes the model of ``epoch`` (strict improvement; all of them at epoch 1)."""
        if self.single_teacher:
            if overall is None:
                raise ValueError("the single-teacher pool needs the overall dev loss")
            return list(self.keys) if epoch == 1 or as_fairseq_logs(overall) < self.overall_best else []
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
                self.entries[key] = TeacherEntry(best_epoch=epoch, best_loss=value, teacher_epoch=epoch)
        if self.single_teacher and overall is not None:
            self.overall_best = min(self.overall_best, as_fairseq_logs(overall))
        self.updated_through = epoch
        self.merge_to_cap()
        self.free_unused()
        return improved

    def observe_mid_epoch(self, overall: float) -> None:
        """A mid-epoch validation's overall dev loss: for the single teacher, the next end-of-epoch validation
        must beat it too (the original compares with fairseq's best, which every saved validation updates)."""
        if self.single_teacher:
            self.overall_best = min(self.overall_best, as_fairseq_logs(overall))

    def merge_to_cap(self) -> None:
        """With ``max_copies``: while more copies are referenced, the keys of the earlier of the two closest
        teacher epochs move to the later one's copy (their best epoch and loss, which the switch uses, stay)."""
        if self.max_copies < 1:
            return
        while len(epochs := sorted(self.teacher_epochs())) > self.max_copies:
            gaps = [(later - earlier, earlier, later) for earlier, later in zip(epochs, epochs[1:])]  # noqa: B905
            _, earlier, later = min(gaps)
            for entry in self.entries.values():
                if entry.teacher_epoch == earlier:
                    entry.teacher_epoch = later

    def free_unused(self) -> None:
        referenced = self.teacher_epochs()
        for epoch in [e for e in self.copies if e not in referenced]:
            del self.copies[epoch]

    def memory_bytes(self) -> int:
        """Bytes of the teacher copies held (parameters and buffers, in their precision)."""
        return sum(module_bytes(copy) for copy in self.copies.values() if copy is not None)

    # ------------------------------------------------------------------------------------------- queries
    def teacher_epochs(self) -> set[int]:
        """Epochs whose model is still some key's teacher (their checkpoints must be kept)."""
        return {entry.teacher_epoch for entry in self.entries.values() if entry.teacher_epoch > 0}

    def best_epoch(self, key: str) -> int:
        return self.entries[key].best_epoch

    def should_distill(self, key: str, epoch: int) -> bool:
        entry = self.entries[key]
        return epoch > self.warmup_epochs and entry.best_epoch > 0 and epoch - entry.best_epoch > 1

    def teacher(self, key: str):
        return self.copies.get(self.entries[key].teacher_epoch)

    # ------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {
            "entries": {
                k: {"best_epoch": e.best_epoch, "best_loss": e.best_loss, "teacher_epoch": e.teacher_epoch}
                for k, e in self.entries.items()
            },
            "updated_through": self.updated_through,
            "overall_best": self.overall_best,
            "single_teacher": self.single_teacher,
        }

    def load_state_dict(self, state: Mapping, load_copy: Callable[[int], Any] | None = None) -> None:
        """Restore the table; ``load_copy(epoch)`` rebuilds the frozen model of each teacher epoch."""
        for key, entry in state["entries"].items():
            if key in self.entries:
                best = int(entry["best_epoch"])
                # checkpoints from before the cap existed have no teacher_epoch: the best epoch's copy
                teacher = int(entry.get("teacher_epoch", best))
                self.entries[key] = TeacherEntry(best, float(entry["best_loss"]), teacher)
        self.updated_through = int(state["updated_through"])
        self.overall_best = float(state["overall_best"])
        self.copies = {}
        if load_copy is not None:
            for epoch in sorted(self.teacher_epochs()):
                self.copies[epoch] = load_copy(epoch)


def module_bytes(module) -> int:
    """Bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def teacher_dtype(precision: str, on_gpu: bool):
    """The dtype of the frozen teachers: ``auto`` is fp16 on GPU (the original's) and fp32 on CPU."""
    import torch

    if precision == "auto":
        return torch.float16 if on_gpu else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def freeze_teacher(model, dtype):
    """Make ``model`` a teacher: eval mode (no dropout), no gradients, floating-point weights in ``dtype``.

    A fairseq model is also made "generation fast": in eval mode its decoder layers otherwise compute and
    average the encoder-attention weights of every layer (for alignment output), which takes the slow attention
    path; a teacher only needs the output distribution.
    """
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if hasattr(model, "make_generation_fast_"):
        model.make_generation_fast_()
    return model.to(dtype=dtype)
