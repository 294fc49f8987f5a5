"""A run's teacher files: one model-only file per teacher (or pair's best) epoch, written by the main process only,
reloaded on resume, pruned when nothing refers to it."""

from __future__ import annotations

import logging
import os
import re
from copy import deepcopy

import torch

from lssd.method.teachers import TEACHERS_DIRECTORY, freeze_teacher, teacher_dtype, teacher_file_name

logger = logging.getLogger(__name__)


def is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


class TeacherFiles:
    """One file per teacher (``<save-dir>/teachers/teacher_epoch<N>.pt``), so that a resumed run reloads the same
    teachers even where fairseq pruned its epoch checkpoints; written by the main process only."""

    def __init__(self, save_dir: str | None, precision: str = "auto"):
        self.save_dir = save_dir
        self.directory = os.path.join(save_dir, TEACHERS_DIRECTORY) if save_dir else None
        self.precision = precision
        self.saved_epochs: set[int] = set()  # the teachers of the last saved checkpoint's table

    def path(self, epoch: int) -> str | None:
        return os.path.join(self.directory, teacher_file_name(epoch)) if self.directory else None

    def freeze(self, copy):
        """A teacher: eval mode, no gradients, in the teacher precision (``--lssd-teacher-precision``)."""
        on_gpu = next(copy.parameters()).is_cuda
        return freeze_teacher(copy, teacher_dtype(self.precision, on_gpu))

    def copy(self, model, epoch: int):
        """A frozen copy of ``model`` as the teacher of ``epoch``, saved to its file."""
        copy = self.freeze(deepcopy(model))
        self.write(copy.state_dict(), epoch)
        return copy

    def write(self, weights: dict, epoch: int) -> None:
        """The file of ``epoch`` (atomically, by the main process only)."""
        path = self.path(epoch)
        if path and is_main_process():
            os.makedirs(self.directory, exist_ok=True)
            torch.save({"model": weights, "epoch": epoch}, f"{path}.tmp")
            os.replace(f"{path}.tmp", path)

    def load(self, model, epoch: int):
        """The frozen teacher of ``epoch`` from its file, or else from fairseq's epoch checkpoint."""
        path = self.path(epoch)
        if not (path and os.path.exists(path)):
            path = os.path.join(self.save_dir or "", f"checkpoint{epoch}.pt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"the teacher of epoch {epoch} is neither in {self.directory} nor {path}")
        state = torch.load(path, map_location="cpu", weights_only=False)
        copy = deepcopy(model)
        copy.load_state_dict(state["model"])
        logger.info(f"LSSD teacher of epoch {epoch} reloaded from {path}")
        return self.freeze(copy)

    def prune(self, referenced: set[int]) -> None:
        """Delete the files no teacher (or pair's best) refers to, keeping those of the previously saved
        checkpoint."""
        keep = referenced | self.saved_epochs
        self.saved_epochs = set(referenced)
        if not (self.directory and os.path.isdir(self.directory) and is_main_process()):
            return
        for name in os.listdir(self.directory):
            match = re.fullmatch(r"teacher_epoch(\d+)\.pt", name)
            if match and int(match.group(1)) not in keep:
                os.remove(os.path.join(self.directory, name))
