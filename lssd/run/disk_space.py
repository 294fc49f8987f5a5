"""A run on a full disk: the partial saves removed, a resume refused before fairseq starts when its next save cannot
fit, and a failure for a full disk told as such, with what the rerun resumes from.

fairseq writes each save to ``checkpoint<N>.pt.tmp`` and renames it when complete (the teachers likewise, to
``teacher_epoch<N>.pt.tmp``): a save cut short by a full disk, or a kill, leaves that partial file, as large as the
save got, which nothing ever reads. It is removed when an attempt starts (under the run's lock: no save of this run
is in flight) and when one fails, so that it does not hold the space the next save needs.

A save writes a whole new checkpoint before it deletes the previous one, so a resume needs at least one
checkpoint's size free (its teachers and per-pair best files besides); with less, fairseq would train until its
next save and fail there, an epoch of the GPUs' time lost, so the runner stops before it starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lssd import layout
from lssd.method.teachers import TEACHERS_DIRECTORY
from lssd.run import resume
from lssd.run.identity import Say, moved_aside_runs

# fairseq's atomic save (checkpoint_utils.torch_persistent_save) and the teacher files' (lssd.method.teacher_files)
PARTIAL_SAVES = ("*.pt.tmp", f"{TEACHERS_DIRECTORY}/*.pt.tmp", ".tmp-*")


def gigabytes(size: int) -> str:
    """A size as people read it: GB, MB, or kB for the small files of a test run."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def existing(path: Path) -> Path:
    """``path``, or its nearest parent that exists."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """The space free to this user on the file system of ``path`` (or of its nearest existing parent)."""
    return shutil.disk_usage(existing(Path(path).absolute())).free


def remove_partial_saves(save_dir: Path, say: Say) -> int:
    """Delete the partial files of saves that did not complete; the bytes freed."""
    freed = 0
    for pattern in PARTIAL_SAVES:
        for path in sorted(save_dir.glob(pattern)):
            if not path.is_file():
                continue
            size = path.stat().st_size
            path.unlink()
            freed += size
            say(f"removed {path} ({gigabytes(size)}): a save that did not complete, which nothing reads")
    return freed


def directory_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def run_bytes(run_dir: Path) -> int:
    """What a run's directory holds of its own: its checkpoints and published files, not the runs moved aside in
    it (``checkpoints.stale-*``: other runs); 0 when it does not exist."""
    if not run_dir.is_dir():
        return 0
    moved = set(moved_aside_runs(run_dir / layout.CHECKPOINTS))
    return sum(
        directory_bytes(entry) if entry.is_dir() else entry.stat().st_size
        for entry in run_dir.iterdir()
        if entry not in moved and not entry.is_symlink()
    )


def stale_runs(save_dir: Path) -> list[tuple[Path, int]]:
    """The runs moved aside beside this one (another config's or data's: ``<save-dir>.stale-*``) and their size."""
    return [(path, directory_bytes(path)) for path in moved_aside_runs(save_dir)]


def where_to_free(save_dir: Path) -> str:
    """What the message suggests deleting: the runs moved aside here, when there are some."""
    stale = stale_runs(save_dir)
    if not stale:
        return ""
    listed = ", ".join(f"{path} ({gigabytes(size)})" for path, size in stale)
    return f". Runs moved aside here, which no training reads (delete them if you no longer want them): {listed}"


def space_problem(save_dir: Path, free: int) -> str | None:
    """Why a resume cannot save its next checkpoint in ``free`` bytes; None when it can, or for a new run (whose
    checkpoint size is not known before its first save)."""
    last = save_dir / layout.LAST
    if not last.exists():
        return None
    needed = last.stat().st_size
    if free >= needed:
        return None
    return (
        f"the disk is full: {gigabytes(free)} free on the file system of {save_dir}, and this run's next save writes "
        f"a whole checkpoint ({gigabytes(needed)}) before it deletes the previous one: fairseq would train until then "
        f"and fail. Free space there and run again: the run resumes from {layout.LAST}, nothing was changed"
        + where_to_free(save_dir)
    )


def disk_full_note(save_dir: Path) -> str:
    """What to say when an attempt failed for a full disk: the space free now, where the rerun resumes from."""
    try:
        progress = resume.checkpoint_progress(save_dir)
    except Exception:  # torn: the next attempt resumes from the newest readable epoch checkpoint
        progress = None
    resumes_from = (
        f"{layout.LAST} ({progress.next_epoch - 1} epochs complete, {progress.updates} updates)"
        if progress is not None
        else "its newest complete checkpoint"
        if any(save_dir.glob("checkpoint*.pt"))
        else "the start (no save of this run completed)"
    )
    return (
        f"the disk is full ({gigabytes(free_bytes(save_dir))} free now on the file system of {save_dir}): fairseq "
        f"could not write its output. Free space there and run again: the run resumes from {resumes_from}, and what "
        "it trained since that checkpoint is trained again" + where_to_free(save_dir)
    )
