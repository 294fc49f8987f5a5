"""WMT-6 (reconstructed): the official WMT training corpora, pooled per pair and subsampled deterministically.

LSSD's WMT-6 was only published as a binarized data-bin; how it was drawn is not documented. This module rebuilds
it the way the paper describes it: for every language, the pooled training corpora of its WMT year (configured per
language as ``source.corpora.<lang>.train``, each an archive of the downloads table and the two member files)
are subsampled to ``languages.<lang>.reference_size`` pairs (3M fr, 1.5M de, 400K zh, 80K et, 10K ro, 5K tr) and
the dev/test sets are the newstest/newsdev sets of that year (``valid``/``test``; the "fake SGML" files of the
WMT releases, one ``<seg id=...>`` per line, or plain text).

The subsample keeps the pairs with the smallest SHA-1 of their text (ties by position): the same pairs on every
machine, independent of the order in which the corpora are listed, and the sample of a smaller size is a subset
of the sample of a larger one. Training pairs with an empty side (nothing visible: empty, spaces, zero-width
characters) are dropped first and counted; nothing else is filtered. The dev and test sets are used whole: an
empty segment in them is an error naming the file and line, as is a NUL byte anywhere (``lssd.data.text``, the
check every source shares).

Usage (the ``prepare_wmt`` rule)::

    python -m lssd.data.wmt --spec '<dataset JSON>' --name wmt6 --downloads results/downloads \
        --outdir results/data/wmt6
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lssd.config import dataset_languages
from lssd.data.archive import extract_members
from lssd.data.parallel import SPLITS, dataset_parser, parallel_path, run_builder, write_parallel
from lssd.data.text import decoded_lines, sentence
from lssd.io import atomic_directory, atomic_path, write_json

SEGMENT = re.compile(r"<seg[^>]*>(.*)</seg>", re.IGNORECASE)


def sgm_segments(path: Path, label: str | None = None) -> list[tuple[int, str]]:
    """The ``<seg>`` texts of a WMT "fake SGML" file with their line numbers, in order (sacrebleu reads them the
    same way)."""
    segments = []
    for number, line in enumerate(text_lines(path, label), start=1):
        match = SEGMENT.search(line)
        if match:
            segments.append((number, match.group(1)))
    return segments


def text_lines(path: Path, label: str | None = None) -> Iterator[str]:
    """Lines of a UTF-8 file; invalid UTF-8 or a NUL byte is an error naming the file (``label``: archive:member)
    and line, and a byte-order mark at its start is removed (``lssd.data.text``)."""
    with open(path, "rb") as handle:
        yield from decoded_lines(handle, label or str(path))


def read_side(path: Path, label: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every sentence of a dev or test side: SGML segments, or plain lines."""
    if path.suffix == ".sgm":
        return sgm_segments(path, label)
    return list(enumerate(text_lines(path, label), start=1))


def aligned(foreign: Path, english: Path, where: str) -> Iterator[tuple[int, str, str]]:
    """``(line number, foreign, english)`` of two line-aligned files; different lengths are an error."""
    archive = where.split(":")[0]
    left = text_lines(foreign, f"{archive}:{foreign.name}")
    right = text_lines(english, f"{archive}:{english.name}")
    missing = object()
    for number, (a, b) in enumerate(itertools.zip_longest(left, right, fillvalue=missing), start=1):
        if a is missing or b is missing:
            raise ValueError(f"{where}: the two sides have different line counts (they agree up to line {number - 1})")
        yield number, a, b


def pair_key(foreign: str, english: str) -> int:
    digest = hashlib.sha1(f"{foreign}\t{english}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits in int64


def subsample_keys(keys: np.ndarray, size: int) -> np.ndarray:
    """Boolean mask of the ``size`` smallest keys (ties broken by position)."""
    if size >= len(keys):
        return np.ones(len(keys), dtype=bool)
    order = np.lexsort((np.arange(len(keys)), keys))
    keep = np.zeros(len(keys), dtype=bool)
    keep[order[:size]] = True
    return keep


def training_pairs(files: list[tuple[Path, Path, str]], counts: Counter) -> Iterator[tuple[str, str]]:
    """Every pair of the pooled corpora with text on both sides, whitespace-normalised, in corpus order."""
    for foreign_path, english_path, where in files:
        for number, foreign, english in aligned(foreign_path, english_path, where):
            foreign, english = sentence(foreign, "train", where, number), sentence(english, "train", where, number)
            if foreign is None or english is None:
                counts["empty_side"] += 1
                continue
            counts["kept"] += 1
            yield foreign, english


def dev_test_pairs(entry: dict, foreign_path: Path, english_path: Path, where: str, empty: str, split: str):
    """A dev or test set's segment pairs, both sides normalised; an empty segment is an error naming its line
    (the set is used whole, as sacrebleu scores it)."""
    labels = (f"{entry['download']}:{entry['foreign']}", f"{entry['download']}:{entry['english']}")
    sides = [
        [sentence(text, split, label, number) for number, text in read_side(path, label)]
        for path, label in zip((foreign_path, english_path), labels, strict=True)
    ]
    if len(sides[0]) != len(sides[1]):
        raise ValueError(f"{where}: {len(sides[0])} segments against {len(sides[1])}")
    if not sides[0]:
        raise ValueError(f"{empty} in {where}")
    return list(zip(*sides, strict=True))


def build_language(spec: dict, name: str, lang: str, downloads: Path, staging: Path, scratch: Path):
    """One language's pairs into ``staging`` (its members extracted into ``scratch``): its manifest entry and
    the lines to log. Languages share nothing but the archives they read, so they can be built side by side."""
    pivot = spec["pivot"]
    corpora = spec["source"]["corpora"]
    notes = []
    wanted: dict[str, list[str]] = {}
    for entry in [*corpora[lang]["train"], corpora[lang]["valid"], corpora[lang]["test"]]:
        wanted.setdefault(entry["download"], []).extend([entry["foreign"], entry["english"]])
    files: dict[tuple[str, str], Path] = {}
    for download, suffixes in wanted.items():
        target = Path(scratch) / lang / download
        for suffix, path in extract_members(downloads / download, sorted(set(suffixes)), target).items():
            files[(download, suffix)] = path

    def located(entry):
        where = f"{entry['download']}:{entry['foreign']} / {entry['english']}"
        return files[(entry["download"], entry["foreign"])], files[(entry["download"], entry["english"])], where

    train_files = [located(entry) for entry in corpora[lang]["train"]]
    counts: Counter = Counter()
    keys = np.fromiter((pair_key(f, e) for f, e in training_pairs(train_files, counts)), dtype=np.int64)
    size = spec["languages"][lang]["reference_size"]
    keep = subsample_keys(keys, size)
    if len(keys) < size:
        notes.append(f"NOTE: {lang}: only {len(keys)} training pairs available, fewer than {size}")
    sides = {side: parallel_path(staging, "train", lang, pivot, side) for side in (lang, pivot)}
    written = 0
    with atomic_path(sides[lang]) as foreign_tmp, atomic_path(sides[pivot]) as english_tmp:
        with open(foreign_tmp, "w", encoding="utf-8") as out_f, open(english_tmp, "w", encoding="utf-8") as out_e:
            for index, (foreign, english) in enumerate(training_pairs(train_files, Counter())):
                if keep[index]:
                    out_f.write(foreign + "\n")
                    out_e.write(english + "\n")
                    written += 1
    sizes = {"train": written}
    sets = {}
    for split in ("valid", "test"):
        entry = corpora[lang][split]
        empty = f"datasets.{name}: language '{lang}' has no {split} pairs"
        pairs = dev_test_pairs(entry, *located(entry), empty, split)
        write_parallel(staging, split, lang, pivot, pairs)
        sizes[split] = len(pairs)
        sets[split] = entry.get("name", entry["foreign"])
    if written == 0:
        raise ValueError(f"datasets.{name}: language '{lang}' yields zero training pairs")
    manifest = {
        "sizes": {split: sizes[split] for split in SPLITS},
        "train_available": int(len(keys)),
        "train_dropped_empty": counts["empty_side"],
        "train_corpora": [f"{entry['download']}:{entry['foreign']}" for entry in corpora[lang]["train"]],
        "dev_test_sets": sets,
    }
    notes.append(f"{lang}: {manifest['sizes']} (from {len(keys)} pooled pairs)")
    return manifest, notes


def build(spec: dict, name: str, downloads: Path, outdir: Path, log=sys.stdout, workers: int = 1) -> dict:
    """Every language of the dataset, ``workers`` languages at a time (each one process: reading and hashing
    the pooled corpora is pure Python, one core per language), largest pools first."""
    langs = dataset_languages(spec)
    manifest = {"dataset": name, "pivot": spec["pivot"], "source": {"kind": "wmt", "reconstruction": True}}
    with atomic_directory(outdir) as staging, tempfile.TemporaryDirectory(dir=outdir.parent) as scratch:
        jobs = [(spec, name, lang, downloads, staging, Path(scratch)) for lang in langs]
        if workers > 1 and len(langs) > 1:
            # largest first, so that the longest language starts at once instead of last
            order = sorted(range(len(jobs)), key=lambda i: -pool_bytes(spec, langs[i], downloads))
            with ProcessPoolExecutor(max_workers=min(workers, len(langs))) as pool:
                futures = {i: pool.submit(build_language, *jobs[i]) for i in order}
                results = [futures[i].result() for i in range(len(jobs))]
        else:
            results = [build_language(*job) for job in jobs]
        manifest["languages"] = {}
        for lang, (entry, notes) in zip(langs, results, strict=True):
            manifest["languages"][lang] = entry
            for note in notes:
                print(note, file=log)
        write_json(staging / "manifest.json", manifest)
    return manifest


def pool_bytes(spec: dict, lang: str, downloads: Path) -> int:
    """The size of the archives a language's training pool comes from (to start the longest first)."""
    entries = spec["source"]["corpora"][lang]["train"]
    return sum(
        (downloads / entry["download"]).stat().st_size for entry in entries if (downloads / entry["download"]).exists()
    )


def main(argv: list[str] | None = None) -> int:
    parser = dataset_parser("Build WMT-6 (reconstructed) from the downloaded WMT releases")
    parser.add_argument("--downloads", required=True, type=Path, help="directory of the downloaded archives")
    # the job's threads: Snakemake sets OMP_NUM_THREADS to them (the rule's command stays as it was, so that an
    # existing dataset is not rebuilt for a new option)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="languages built side by side (default: $OMP_NUM_THREADS)")  # fmt: skip
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    manifest = run_builder(lambda: build(spec, args.name, args.downloads, args.outdir, workers=args.workers))
    return 0 if manifest is not None else 1


if __name__ == "__main__":
    sys.exit(main())
