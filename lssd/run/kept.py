"""Published outputs survive a failed rerun.

Snakemake deletes a job's existing outputs before the job runs, and a failed job's outputs after it: a rerun (a
changed param, ``--forcerun``, an edited input) that then fails, or is killed, would leave no result where a
finished one was. So the workflow keeps them (workflow/rules/hooks.smk): when the jobs to run are known
(``onstart``), every existing output of those jobs gets a kept copy beside it (``.kept.<name>``: hard links, so
nothing is copied, but the old files stay on disk until Snakemake ends; beside the output, so on its file system;
a copy where links are refused) and a journal lists them with Snakemake's metadata record of each. When Snakemake
finishes (``onsuccess``/``onerror``), a job with all its outputs present and none marked incomplete (it succeeded,
or never started) has its kept copies dropped; any other (it failed, or was killed) gets all its outputs back as
they were, with their old records, so that Snakemake still
sees the old params and plans the job again: the restored result is never taken for the new setting's. A journal
left by a Snakemake killed outright is settled the same way at the next run's start.

Snakemake's own ``update()`` flag is not used for this: after a failed job it restores the file but records the
failed job's params for it, so the next run takes the old result as up to date for the new setting.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from lssd.io import write_json

JOURNAL = Path(".snakemake") / "lssd-kept.json"
PREFIX = ".kept."
VERSION = 1
# where a hard link is refused (another file system under a symlinked folder, one without hard links), copy
NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


def kept_path(path: str | os.PathLike) -> Path:
    """The kept copy of ``path``: beside it, so on the same file system."""
    path = Path(path)
    return path.with_name(PREFIX + path.name)


def _link_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as error:
        if error.errno not in NO_LINK:
            raise
        shutil.copy2(source, target, follow_symlinks=False)


def link_tree(source: Path, target: Path) -> None:
    """``target`` as a copy of ``source`` (a file or a directory) made of hard links, time stamps kept (Snakemake
    dates outputs by them)."""
    if not source.is_dir() or source.is_symlink():
        _link_file(source, target)
        return
    target.mkdir()
    for entry in sorted(source.iterdir()):
        link_tree(entry, target / entry.name)
    shutil.copystat(source, target)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class Records:
    """Snakemake's metadata records (params, code, input, ...) by key, and its incomplete marks, through the
    persistence backend of the running workflow (file or database); records travel as plain dicts."""

    def __init__(self, persistence):
        self.persistence = persistence
        self.fresh = False  # read past Snakemake's cache yet (once per hook, not once per job)

    def key(self, output) -> str:
        return self.persistence._get_key(output)

    def refresh(self) -> None:
        """Drop what Snakemake cached of its records and marks, once: a hook runs before or after the jobs, which
        changed them."""
        if not self.fresh:
            self.persistence._clear_cache()
            self.fresh = True

    def read(self, key: str) -> dict | None:
        self.refresh()
        record = self.persistence._read_record(key)
        return None if record is None else json.loads(record.model_dump_json())

    def incomplete(self, keys: list[str]) -> set[str]:
        """The keys Snakemake marks as written by a job that never finished (it was killed with Snakemake)."""
        self.refresh()
        return set(self.persistence._filter_incomplete_keys(keys))

    def write(self, key: str, record: dict | None) -> None:
        from snakemake.persistence import MetadataRecord

        self.persistence._clear_cache()
        if record is None:
            self.persistence._delete_record(key)
        else:
            self.persistence._write_record(key, MetadataRecord.model_validate(record))
        self.persistence._unmark_incomplete(key)


def say(message: str) -> None:
    print(f"lssd: {message}", file=sys.stderr, flush=True)


def keep(jobs: Iterable[tuple[str, list[tuple[str, str]]]], records, journal: Path = JOURNAL) -> int:
    """Keep the existing outputs of ``jobs`` ((job name, [(output path, record key)])), after settling a journal a
    killed Snakemake left; not those of a job whose outputs Snakemake marks incomplete. The journal is written
    before the copies, so a crash in between leaves nothing unlisted. Returns how many outputs were kept."""
    settle(records, journal)
    entries = []
    for job, outputs in jobs:
        if records.incomplete([key for _, key in outputs]):
            continue  # left by a job that never finished: nothing published to keep, only parts to be redone
        kept = [
            {"path": path, "key": key, "record": records.read(key)} for path, key in outputs if os.path.lexists(path)
        ]
        if kept:
            entries.append({"job": job, "outputs": kept})
    if not entries:
        return 0
    write_json(journal, {"version": VERSION, "jobs": entries})
    for entry in entries:
        for output in entry["outputs"]:
            path, copy = Path(output["path"]), kept_path(output["path"])
            remove(copy)  # one a crash left before its journal was written
            link_tree(path, copy)
    return sum(len(entry["outputs"]) for entry in entries)


def read_journal(journal: Path) -> list[dict]:
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise RuntimeError(
            f"{journal}: unreadable ({error}); the outputs it lists have kept copies named {PREFIX}<name> beside "
            f"them. Move them back by hand if their job failed, then delete {journal}"
        ) from error
    if data.get("version") != VERSION:
        raise RuntimeError(f"{journal}: version {data.get('version')!r}, this code reads version {VERSION}")
    return data["jobs"]


def restore_job(entry: dict, records) -> list[str]:
    """Put back every kept output of a job that did not finish (its partial outputs are replaced: the set stays one
    job's), with its old record."""
    restored = []
    for output in entry["outputs"]:
        path, copy = Path(output["path"]), kept_path(output["path"])
        if not os.path.lexists(copy):
            continue  # its copy was never made (a crash while keeping): the output was never deleted either
        remove(path)
        os.replace(copy, path)
        records.write(output["key"], output["record"])
        restored.append(output["path"])
    return restored


def finished(entry: dict, records) -> bool:
    """Whether the job's outputs are all there and none is marked incomplete: the job succeeded, or never started
    (a job killed with Snakemake leaves its marks, and maybe a partial output)."""
    outputs = entry["outputs"]
    if not all(os.path.lexists(output["path"]) for output in outputs):
        return False
    return not records.incomplete([output["key"] for output in outputs])


def settle(records, journal: Path = JOURNAL) -> list[str]:
    """Drop the kept copies of jobs that finished; restore those of the others. Returns the restored paths."""
    restored = []
    for entry in read_journal(journal):
        if finished(entry, records):
            for output in entry["outputs"]:
                remove(kept_path(output["path"]))
            continue
        back = restore_job(entry, records)
        if back:
            say(f"{entry['job']} did not finish: its previous outputs are back, unchanged: {', '.join(back)}")
        restored.extend(back)
    journal.unlink(missing_ok=True)
    return restored


def job_name(job) -> str:
    wildcards = ", ".join(f"{name}={value}" for name, value in job.wildcards_dict.items())
    return f"{job.rule.name} ({wildcards})" if wildcards else job.rule.name


def jobs_to_run(workflow) -> list[tuple[str, list[tuple[str, str]]]]:
    """The jobs Snakemake is about to run, each with its outputs and their record keys."""
    records = Records(workflow.persistence)
    jobs = [
        (job_name(job), [(str(output), records.key(output)) for output in job.output])
        for job in workflow.dag.needrun_jobs()
    ]
    return sorted(jobs)  # Snakemake's order varies from run to run; the journal and its messages should not


def on_start(workflow) -> None:
    try:
        kept = keep(jobs_to_run(workflow), Records(workflow.persistence))
    except OSError as error:  # a full disk, a folder without write permission: before any job, so nothing lost
        from snakemake.exceptions import WorkflowError

        raise WorkflowError(
            f"could not keep the existing outputs of the jobs to run ({error}); no job was started. Free space or fix "
            "the permission, then run again"
        ) from error
    if kept:
        say(f"{kept} existing outputs of the jobs to run are kept until they succeed ({JOURNAL})")


def on_finish(workflow) -> None:
    settle(Records(workflow.persistence))
