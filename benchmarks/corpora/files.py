"""The directory of archives: which files a dataset needs, the function writing each, the stamp that lets a rerun
reuse what is already there, and the downloads table listing the files with their sizes and checksums."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.corpora.ted import TED_ARCHIVE, write_ted
from benchmarks.corpora.wmt import TRAINING, write_training
from benchmarks.corpora.wmt_devtest import DEV_TEST, write_dev_test
from lssd.io import atomic_path, write_json

GENERATOR_VERSION = 1  # part of the stamp: a change of the generator's output must not reuse older files
STAMP = "paper_corpora.json"
TABLE = "downloads.tsv"
TABLE_HEADER = ("name", "url", "bytes", "sha256", "md5", "provenance", "license")
MIRROR = "http://mirror.invalid"

DATASETS = ("ted8_diverse", "ted8_related", "wmt6")
WMT_ARCHIVES = (  # in the order config/paper.yaml's wmt6 corpora first name them
    "training-parallel-europarl-v7.tgz", "training-parallel-commoncrawl.tgz", "training-parallel-nc-v9.tgz",
    "wmt13-test.tgz", "wmt14-test-filtered.tgz", "training-parallel-nc-v12.tgz", "opus-unpc-v1.0-en-zh.txt.zip",
    "wmt17-dev.tgz", "wmt17-test.tgz", "training-parallel-ep-v8-wmt18.tgz", "wmt18-dev.tgz", "wmt18-test.tgz",
    "training-parallel-ep-v8-wmt16.tgz", "opus-setimes-v2-en-ro.txt.zip", "wmt16-dev.tgz", "wmt16-test.tgz",
    "opus-setimes-v2-en-tr.txt.zip",
)  # fmt: skip
DATASET_ARCHIVES = {"ted8_diverse": (TED_ARCHIVE,), "ted8_related": (TED_ARCHIVE,), "wmt6": WMT_ARCHIVES}


def writer(name: str) -> Callable[[Path, float, int, Path], tuple[int, int]]:
    """The function writing archive ``name`` (path, fraction, seed, a scratch directory); it returns the line count
    and the uncompressed size of the members."""
    if name == TED_ARCHIVE:
        return write_ted
    if name in TRAINING:
        return lambda path, fraction, seed, staging: write_training(name, path, fraction, seed, staging)
    if name in DEV_TEST:
        return lambda path, fraction, seed, staging: write_dev_test(name, path, fraction, seed, staging)
    raise ValueError(f"no generator for '{name}'")


@dataclass
class Written:
    name: str
    bytes: int
    sha256: str
    lines: int
    text_bytes: int  # the members' uncompressed size
    seconds: float
    reused: bool = False


RECORD = ("bytes", "sha256", "lines", "text_bytes")  # what the stamp records of a file


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def archives_of(datasets: Iterable[str]) -> list[str]:
    names: list[str] = []
    for dataset in datasets:
        if dataset not in DATASET_ARCHIVES:
            raise ValueError(f"unknown dataset '{dataset}' (known: {', '.join(DATASET_ARCHIVES)})")
        names += [name for name in DATASET_ARCHIVES[dataset] if name not in names]
    return names


def write_table(out_dir: Path, written: list[Written], fraction: float, seed: int) -> Path:
    """out_dir/downloads.tsv: each file's name, mirror URL, size and checksum."""
    provenance = f"synthetic paper-size corpus, fraction {fraction}, seed {seed}"
    license = "synthetic text (benchmarks/paper_corpora.py), no license needed"
    rows = ["\t".join(TABLE_HEADER)]
    for item in written:
        rows.append(
            "\t".join([item.name, f"{MIRROR}/{item.name}", str(item.bytes), item.sha256, "", provenance, license])
        )
    table = out_dir / TABLE
    with atomic_path(table) as tmp:
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return table


def generate_files(
    out_dir: Path, fraction: float, datasets: Iterable[str] = DATASETS, seed: int = 0
) -> tuple[Path, list[Written]]:
    """``generate``, also returning what each file cost (or that it was reused)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out_dir = Path(out_dir)
    names = archives_of(datasets)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = out_dir / STAMP
    identity = {"generator": GENERATOR_VERSION, "fraction": fraction, "seed": seed}
    stamp = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    if {key: stamp.get(key) for key in identity} != identity:
        stamp = {**identity, "files": {}}
    written = []
    for name in names:
        path = out_dir / name
        record = stamp["files"].get(name)
        if record and path.is_file() and path.stat().st_size == record["bytes"]:
            written.append(Written(name, *(record[key] for key in RECORD), 0.0, reused=True))
            continue
        began = time.perf_counter()
        staging = out_dir / f".{name}.members"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            with atomic_path(path) as tmp:
                lines, text_bytes = writer(name)(tmp, fraction, seed, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        record = {"bytes": path.stat().st_size, "sha256": sha256_of(path), "lines": lines, "text_bytes": text_bytes}
        written.append(Written(name, *(record[key] for key in RECORD), time.perf_counter() - began))
        stamp["files"][name] = record
        write_json(stamp_path, stamp)  # after every file: an interrupted run keeps what it finished
    write_json(stamp_path, stamp)
    return write_table(out_dir, written, fraction, seed), written


def generate(
    out_dir: Path, fraction: float, datasets: Iterable[str] = ("ted8_diverse", "ted8_related", "wmt6"), seed: int = 0
) -> Path:
    """Write the archives the datasets need (TED archive once for both ted8_*; the WMT archives for wmt6) and
    out_dir/downloads.tsv; return the table's path. Reuses files already generated with the same fraction and seed
    (a small stamp file records them) so a rerun costs nothing."""
    return generate_files(out_dir, fraction, datasets, seed)[0]
