"""Splitting, subsampling and writing English-centric parallel data.

Layout written for every dataset (``pivot`` is the English code, e.g. ``eng``)::

    <outdir>/<split>.<lang>-<pivot>.<lang>     one sentence per line
    <outdir>/<split>.<lang>-<pivot>.<pivot>    the aligned English side
    <outdir>/manifest.json                     sizes, source, filter counts
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path

from lssd.data.text import require_visible
from lssd.io import peak_memory_line, read_lines, write_lines

SPLITS = ("train", "valid", "test")


def stable_bucket(text: str, buckets: int = 100) -> int:
    """A bucket in ``[0, buckets)`` from the SHA-1 of the text: the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") % buckets


def split_of(english: str, valid_percent: int, test_percent: int) -> str:
    """Assign a pair to a split by its English side, so every language gets the same dev and test strings."""
    bucket = stable_bucket(english)
    if bucket < test_percent:
        return "test"
    if bucket < test_percent + valid_percent:
        return "valid"
    return "train"


def split_pairs(
    pairs: list[tuple[str, str]], valid_percent: int, test_percent: int
) -> dict[str, list[tuple[str, str]]]:
    """Split ``(foreign, english)`` pairs by the hash of the English side."""
    if valid_percent < 0 or test_percent < 0 or valid_percent + test_percent >= 100:
        raise ValueError(f"valid_percent + test_percent must be in [0, 100), got {valid_percent} + {test_percent}")
    splits: dict[str, list[tuple[str, str]]] = {split: [] for split in SPLITS}
    for foreign, english in pairs:
        splits[split_of(english, valid_percent, test_percent)].append((foreign, english))
    return splits


def subsample_sizes(available: Mapping[str, int], reference_sizes: Mapping[str, int], floor: int) -> dict[str, int]:
    """Training sizes that follow the reference dataset's proportions, scaled to the largest available language.

    ``n_l = min(available_l, max(floor, round(max_available * reference_l / max_reference)))``: the
    high-resource languages keep (nearly) all they have, the low-resource ones shrink towards ``floor``.
    """
    missing = sorted(set(available) - set(reference_sizes))
    if missing:
        raise ValueError(f"no reference size for language(s): {', '.join(missing)}")
    largest_available = max(available.values())
    largest_reference = max(reference_sizes[lang] for lang in available)
    sizes = {}
    for lang, count in available.items():
        scaled = round(largest_available * reference_sizes[lang] / largest_reference)
        sizes[lang] = min(count, max(floor, scaled))
    return sizes


def subsample(pairs: list[tuple[str, str]], size: int) -> list[tuple[str, str]]:
    """Keep ``size`` pairs chosen by the hash of their English side (deterministic), in their original order."""
    if size >= len(pairs):
        return list(pairs)
    ranked = sorted(range(len(pairs)), key=lambda i: (stable_bucket(pairs[i][1], 2**61), pairs[i][1]))
    keep = sorted(ranked[:size])
    return [pairs[i] for i in keep]


def pair_prefix(split: str, lang: str, pivot: str) -> str:
    """How every file of a pair is named, up to its side: ``<split>.<lang>-<pivot>`` (fairseq-preprocess's
    ``--trainpref`` etc.; the data, encoded and data-bin stages all use it)."""
    return f"{split}.{lang}-{pivot}"


def parallel_path(outdir: str | Path, split: str, lang: str, pivot: str, side: str) -> Path:
    """One side of a pair's split: ``<outdir>/<split>.<lang>-<pivot>.<side>``."""
    return Path(outdir) / f"{pair_prefix(split, lang, pivot)}.{side}"


def write_parallel(outdir: str | Path, split: str, lang: str, pivot: str, pairs: list[tuple[str, str]]) -> None:
    write_lines(parallel_path(outdir, split, lang, pivot, lang), (foreign for foreign, _ in pairs))
    write_lines(parallel_path(outdir, split, lang, pivot, pivot), (english for _, english in pairs))


def read_parallel(outdir: str | Path, split: str, lang: str, pivot: str) -> list[tuple[str, str]]:
    """Read one split of one pair and check it (``lssd.data.text``): same line counts, valid UTF-8, no NUL, no
    line without visible text, in every split."""
    foreign_path = parallel_path(outdir, split, lang, pivot, lang)
    english_path = parallel_path(outdir, split, lang, pivot, pivot)
    foreign, english = read_lines(foreign_path), read_lines(english_path)
    if len(foreign) != len(english):
        raise ValueError(
            f"{foreign_path} has {len(foreign)} lines but {english_path} has {len(english)}: "
            "the two sides of a parallel corpus must align line by line"
        )
    for path, lines in ((foreign_path, foreign), (english_path, english)):
        for number, line in enumerate(lines, start=1):
            require_visible(line, str(path), number)
    return list(zip(foreign, english, strict=True))


def dataset_parser(description: str) -> argparse.ArgumentParser:
    """The command line shared by the dataset builders: ``--spec`` (the config block), ``--name``, ``--outdir``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="the dataset's config block, as JSON")
    parser.add_argument("--name", required=True, help="the dataset's name in the config")
    parser.add_argument("--outdir", required=True, type=Path, help="results/data/<name>")
    return parser


def run_builder(build) -> dict | None:
    """``build()``, the manifest it returns; bad input (a ValueError naming the file and line, or the key) is
    printed as ``error: ...`` instead of a traceback, and gives None: the builder's job then exits with 1."""
    try:
        return build()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    finally:
        print(peak_memory_line())
