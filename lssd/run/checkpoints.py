"""The checkpoint files of a run: a torn ``checkpoint_last.pt`` (fairseq copies it non-atomically) replaced by the
newest readable checkpoint, and the fallback epoch checkpoints deleted once the run is finished."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from lssd import layout
from lssd.io import copy_file
from lssd.run.identity import Say

EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+|_\d+_\d+)\.pt")


def readable_checkpoint(path: Path) -> bool:
    """A complete torch checkpoint (its zip directory present and every member's CRC right)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def recover_last_checkpoint(save_dir: Path, say: Say = print) -> bool:
    """Make ``checkpoint_last.pt`` readable before fairseq resumes from it; False when nothing readable is left.

    fairseq writes its first checkpoint of a save atomically and copies it to the others (``checkpoint_best.pt``,
    ``checkpoint_last.pt``) in place: a kill during that copy leaves a torn file that every retry would fail on.
    The newest readable checkpoint replaces it (the epoch checkpoint kept for this purpose holds the same state;
    the task then restores the history, teachers and records from it).
    """
    last = save_dir / layout.LAST
    if last.exists() and readable_checkpoint(last):
        return True
    others = [path for path in save_dir.glob("checkpoint*.pt") if path.name != last.name]
    if not last.exists() and not others:
        return True  # a new run
    for candidate in sorted(others, key=lambda path: path.stat().st_mtime_ns, reverse=True):
        if readable_checkpoint(candidate):
            state = "is unreadable (torn by a kill during fairseq's copy)" if last.exists() else "is missing"
            say(f"{last} {state}: resuming from {candidate.name}, the newest readable checkpoint")
            copy_file(candidate, last)
            return True
    return False


def crash_checkpoint_note(save_dir: Path, since_ns: int) -> str | None:
    """What to say of the ``crash.pt`` fairseq wrote after ``since_ns`` (a training step raised a floating-point
    error, e.g. fp16's "Minimum loss scale reached", or another exception); None when it wrote none."""
    path = save_dir / layout.CRASH
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    if stat.st_mtime_ns < since_ns:
        return None
    return (
        f"fairseq saved the training state at the failure as {path} ({stat.st_size / 1e6:.0f} MB, for debugging): "
        f"the next attempt resumes from {layout.LAST}, not from it, and it is deleted when the run finishes"
    )


def remove_crash_checkpoint(save_dir: Path, say: Say = print) -> None:
    """A finished run's ``crash.pt`` (of a failure an attempt since has trained past) goes: a full checkpoint's size."""
    path = save_dir / layout.CRASH
    if path.exists():
        path.unlink()
        say(f"deleted {path} (the state at an earlier attempt's failure)")


def prune_fallback_checkpoints(save_dir: Path, say: Say = print) -> None:
    """After a finished training: delete the epoch and mid-epoch checkpoints (``checkpoint_last.pt`` verified)."""
    if not readable_checkpoint(save_dir / layout.LAST):
        say(f"keeping the epoch checkpoints: {save_dir / 'checkpoint_last.pt'} is not readable")
        return
    for path in save_dir.iterdir():
        if EPOCH_CHECKPOINT.fullmatch(path.name):
            path.unlink()
