"""What a run's ``checkpoint_last.pt`` says before fairseq resumes from it: where training stands (the epoch it
resumes with, the updates done), whether the run is already finished, and whether the LSSD teachers it refers to
can be reloaded.

A finished run is published again without starting fairseq (a rerun of a done job costs seconds and cannot fail
on anything fairseq would load). A teacher file that is missing or unreadable is rebuilt from the checkpoint of
its epoch when one is left; otherwise the runner stops before fairseq with what to do, instead of a traceback on
every retry. Before a finished run is published, each pair's best checkpoint (the same files) is checked likewise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lssd import layout
from lssd.method.flags import DISTILLING_CRITERION
from lssd.method.history import pair_best_epochs
from lssd.method.teachers import TEACHERS_DIRECTORY, TeacherPool, teacher_file_name, teacher_path
from lssd.run.checkpoints import readable_checkpoint
from lssd.run.commands import option_value
from lssd.run.identity import Say


@dataclass(frozen=True)
class Progress:
    """Where a checkpoint stands: the epoch fairseq starts when it resumes, the updates done, and the epochs whose
    models are LSSD teachers in its teacher table."""

    next_epoch: int
    updates: int
    teacher_epochs: frozenset[int] = field(default_factory=frozenset)


def load_checkpoint_state(path: Path) -> dict:
    """A checkpoint's state without reading its tensors (memory-mapped: cheap for a multi-GB file)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def progress_of(state: dict) -> Progress:
    """The progress recorded in a fairseq checkpoint's state (``extra_state``, ``optimizer_history``, the task's
    LSSD teacher table)."""
    iterator = (state.get("extra_state") or {}).get("train_iterator") or {}
    history = state.get("optimizer_history") or [{}]
    teachers: frozenset[int] = frozenset()
    pool_state = (state.get("task_state") or {}).get("lssd_pool")
    if pool_state:  # the pool reads its own table (and an earlier version's, without teacher epochs)
        pool = TeacherPool(keys=list(pool_state["entries"]))
        pool.load_state_dict(pool_state)
        teachers = frozenset(pool.teacher_epochs())
    return Progress(int(iterator.get("epoch", 1)), int(history[-1].get("num_updates", 0)), teachers)


def checkpoint_progress(save_dir: Path) -> Progress | None:
    """The progress of the run's ``checkpoint_last.pt``; None when there is none (a new run)."""
    last = save_dir / layout.LAST
    if not last.exists():
        return None
    return progress_of(load_checkpoint_state(last))


def trained_updates(save_dir: Path) -> int:
    """Updates the run in ``save_dir`` has trained (0 when it has no readable ``checkpoint_last.pt``)."""
    try:
        return progress_of(load_checkpoint_state(save_dir / layout.LAST)).updates
    except Exception:  # missing or torn (the runner then resumes from another checkpoint, or starts anew)
        return 0


def finished(progress: Progress, args: list[str]) -> bool:
    """fairseq's own stopping rule: the next epoch is beyond ``--max-epoch``, or ``--max-update`` is reached."""
    max_epoch = int(option_value(args, "--max-epoch") or 0)
    max_update = int(option_value(args, "--max-update") or 0)
    return (max_epoch > 0 and progress.next_epoch > max_epoch) or (max_update > 0 and progress.updates >= max_update)


def rebuild_teacher(source: Path, target: Path, epoch: int) -> None:
    """A teacher file from a checkpoint of its epoch (the same weights the teacher was copied from)."""
    import torch

    state = load_checkpoint_state(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    torch.save({"model": state["model"], "epoch": epoch}, partial)
    os.replace(partial, target)


def check_teachers(save_dir: Path, progress: Progress, args: list[str], say: Say) -> str | None:
    """None when every teacher the checkpoint's table refers to can be reloaded (rebuilt from ``checkpoint<N>.pt``
    where its file is missing or torn); else the error, saying what to do. Runs that do not distil load none."""
    if not distils(args):
        return None
    for epoch in sorted(progress.teacher_epochs):
        path = teacher_path(save_dir, epoch)
        if readable_checkpoint(path):
            continue
        state = "missing" if not path.exists() else "unreadable (torn or truncated)"
        fallback = save_dir / f"checkpoint{epoch}.pt"
        if readable_checkpoint(fallback):
            rebuild_teacher(fallback, path, epoch)
            say(f"the LSSD teacher of epoch {epoch} ({path}) was {state}: rebuilt from {fallback.name}")
            continue
        return (
            f"the LSSD teacher of epoch {epoch} ({path}) is {state}, and no readable {fallback.name} is left to "
            f"rebuild it from: this run cannot continue as it trained. To train it again from scratch, move the "
            f"run aside (mv {save_dir} {save_dir}.broken) and run again; nothing else was changed"
        )
    return None


def distils(args: list[str]) -> bool:
    """Whether the ``fairseq-train`` arguments train an LSSD run (one with teachers)."""
    return option_value(args, "--criterion") == DISTILLING_CRITERION


def prune_kept_files(save_dir: Path, pair_best: bool, teachers: bool) -> None:
    """After a finished training: delete the files of ``<save-dir>/teachers`` that neither, with ``teachers``, the
    teacher table of ``checkpoint_last.pt`` (a raised max_epoch resumes from it) nor, with ``pair_best``, a pair's
    best epoch in the history refers to (while training, the previous checkpoint's stay too, for a resume)."""
    directory = save_dir / TEACHERS_DIRECTORY
    if not directory.is_dir() or not readable_checkpoint(save_dir / layout.LAST):
        return
    keep = set(checkpoint_progress(save_dir).teacher_epochs) if teachers else set()
    if pair_best:
        keep |= set(pair_best_epochs(json.loads((save_dir / layout.HISTORY).read_text(encoding="utf-8"))).values())
    for path in directory.glob("teacher_epoch*.pt"):
        if path.name not in {teacher_file_name(epoch) for epoch in keep}:
            path.unlink()


def check_pair_best(save_dir: Path, say: Say) -> str | None:
    """None when the file of every pair's best epoch in the run's history is readable (rebuilt from
    ``checkpoint<N>.pt`` where it is missing or torn); else the error, naming the pairs and files, saying what to do."""
    history = json.loads((save_dir / layout.HISTORY).read_text(encoding="utf-8"))
    missing = []
    for pair, epoch in pair_best_epochs(history).items():
        path, fallback = teacher_path(save_dir, epoch), save_dir / f"checkpoint{epoch}.pt"
        if readable_checkpoint(path):
            continue
        if readable_checkpoint(fallback):
            rebuild_teacher(fallback, path, epoch)
            say(f"the best checkpoint of {pair} (epoch {epoch}, {path}) was missing or torn: rebuilt from {fallback}")
            continue
        missing.append(f"{pair} (epoch {epoch}: {path})")
    if not missing:
        return None
    return (
        f"the best checkpoint of {', '.join(missing)} is missing or unreadable, and no checkpoint of its epoch is "
        f"left to rebuild it from (the run was trained, at least in part, before each pair's best checkpoint was "
        f"kept, or with evaluation.per_pair_best false; to get it, train the run again: mv {save_dir} "
        f"{save_dir}.stale-manual, and run snakemake again)"
    )
