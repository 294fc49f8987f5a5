"""Whether a run's evaluation directory is still what its job wrote.

The ``evaluate`` rule's output is a directory, and Snakemake dates a directory by the time stamp it leaves in it,
not by the files inside: a truncated or edited ``<pair>.<split>.json`` or ``.hyp`` there would go unnoticed until
the tables are rebuilt for another reason. The evaluation writes ``checksums.sha256`` last (``sha256sum -c``
reads it too); the workflow checks every existing evaluation directory against it at start and moves a damaged
one aside (``<dir>.damaged-<time>``, never deleted), so that the run is evaluated again and the tables follow.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from lssd.io import write_text

CHECKSUMS = "checksums.sha256"
EXTENSIONS = ("json", "hyp", "spm_ref")


def files_of(pair: str, split: str) -> list[str]:
    """The files the evaluation writes for one pair and split."""
    return [f"{pair}.{split}.{ext}" for ext in EXTENSIONS]


def expected_files(pairs: Iterable[str], splits: Iterable[str]) -> list[str]:
    """The files an evaluation of these pairs and splits writes (besides the checksums)."""
    return [name for pair in pairs for split in splits for name in files_of(pair, split)]


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_checksums(directory: Path, names: Iterable[str]) -> None:
    """``checksums.sha256`` of ``names`` in ``directory``, in ``sha256sum``'s format, written atomically."""
    write_text(directory / CHECKSUMS, "".join(f"{sha256(directory / name)}  {name}\n" for name in sorted(names)))


def read_checksums(path: Path) -> dict[str, str]:
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ValueError(f"{path}: '{line[:80]}' is not a sha256sum line")
        sums[name] = digest
    return sums


def unchecked_damage(directory: Path, names: list[str]) -> str | None:
    """For a directory written before checksums were: every score file readable, every hypothesis file whole."""
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            result = json.loads((directory / name).read_text(encoding="utf-8"))
            lines = (directory / name.replace(".json", ".hyp")).read_text(encoding="utf-8").count("\n")
        except (OSError, ValueError) as error:
            return f"{directory / name}: {error}"
        if not isinstance(result, dict) or result.get("n_sentences") != lines:
            return f"{directory / name}: does not describe the {lines} hypotheses beside it"
    return None


def damage(directory: Path, names: list[str]) -> str | None:
    """Why ``directory`` (an evaluation that exists) is not what its job wrote; None when it is whole."""
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        return f"{directory / missing[0]} is missing"
    checksums = directory / CHECKSUMS
    if not checksums.exists():
        return unchecked_damage(directory, names)
    try:
        sums = read_checksums(checksums)
    except (OSError, ValueError) as error:
        return str(error)
    for name in names:
        if name not in sums:
            return f"{checksums} has no checksum of {name}"
        if sha256(directory / name) != sums[name]:
            return f"{directory / name} changed since it was written (its sha256 differs from {checksums})"
    return None


def move_aside(directory: Path) -> Path:
    """Move a damaged evaluation out of Snakemake's way, keeping it; returns where it went."""
    target = directory.with_name(f"{directory.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    number = 1
    while target.exists():
        number += 1
        target = directory.with_name(f"{directory.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{number}")
    os.replace(directory, target)
    return target
