"""The software a run trains with: recorded when the run starts (``run_args.json``'s ``software``), named in every
attempt's log, and compared on each resume. A run resumed after its environment changed (another torch, CUDA
build or fairseq: a cluster's module updated, a venv reinstalled) says so, since its later epochs were trained by
other code than its first ones, which nothing else would show. Read from the installed packages' metadata: nothing
is imported."""

from __future__ import annotations

import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from lssd.io import write_json
from lssd.run.identity import ARGS_FILE, read_record

# the distributions whose code trains a run (the plugin is lssd's): torch's version carries its CUDA build
PACKAGES = ("torch", "fairseq-fixed", "numpy", "lssd")


def installed() -> dict[str, str | None]:
    """Python's version and those of ``PACKAGES`` (None: not installed, as fairseq-fixed where plain fairseq is)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe(software: dict) -> str:
    """``python 3.11.9, torch 2.13.0+cpu, fairseq-fixed 0.12.3.1, numpy 2.2.6, lssd 0.1.0``"""
    return ", ".join(f"{name} {version or '(not installed)'}" for name, version in software.items())


def changes(recorded: dict, now: dict) -> list[str]:
    """What differs: ``torch 2.11.0+cu130 → 2.12.0+cu130``, in the order of ``now``, then what only was."""
    names = [*now, *(name for name in recorded if name not in now)]
    return [
        f"{name} {recorded.get(name) or '(none)'} → {now.get(name) or '(none)'}"
        for name in names
        if recorded.get(name) != now.get(name)
    ]


def note_software(save_dir: Path, say: Callable[[str], None], now: dict | None = None) -> None:
    """Name this attempt's software; record it for a run that has none recorded (a new run, or one of an earlier
    version: from now on), or say how it differs from what the run started with."""
    now = installed() if now is None else now
    say(f"software: {describe(now)}")
    try:
        record = read_record(save_dir)
    except (OSError, ValueError):  # (a record the runner could not read was moved aside before this)
        return
    if not isinstance(record, dict):
        return
    recorded = record.get("software")
    if recorded is None:
        write_json(save_dir / ARGS_FILE, {**record, "software": now})
    elif recorded != now:
        say(
            f"warning: this run started with other software ({', '.join(changes(recorded, now))}): its epochs from "
            f"here on are trained by other code than its first ones (what it started with: {save_dir / ARGS_FILE})"
        )
