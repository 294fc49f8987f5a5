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


def prune_fallback_checkpoints(save_dir: Path, say: Say = print) -> None:
    """After a finished training: delete the epoch and mid-epoch checkpoints (``checkpoint_last.pt`` verified)."""
    if not readable_checkpoint(save_dir / layout.LAST):
        say(f"keeping the epoch checkpoints: {save_dir / 'checkpoint_last.pt'} is not readable")
        return
    for path in save_dir.iterdir():
        if EPOCH_CHECKPOINT.fullmatch(path.name):
            path.unlink()
