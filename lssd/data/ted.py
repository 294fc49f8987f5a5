"""TED-8-Diverse and TED-8-Related from the multi-way TED talks corpus of Qi et al. (2018), ``ted_talks.tar.gz``.

The archive holds ``all_talks_{train,dev,test}.tsv``: a header row (``talk_name`` then one column per language,
TED codes such as ``bs``, ``pt-br``), then one English sentence per row with its aligned translations. The text is
Moses-tokenized. For every configured language the ``<column>``/``en`` pair of each row is kept unless either side
is empty or holds a missing-translation marker (``__NULL__`` or ``_ _ NULL _ _``), as in multiDDS's per-pair
files (in every split: that is how its dev and test sets are defined); nothing else is filtered. The text goes
through ``lssd.data.text``'s check: a NUL byte is an error naming the member and line, a cell of only invisible
characters (zero-width spaces, joiners) is dropped and counted in a training file and an error in a dev or test
file. The columns are found by the header, never by position.

TED-8 ``por`` is the ``pt-br`` column (about 185K training pairs; ``pt`` has only 52K).

Usage (the ``prepare_ted`` rule)::

    python -m lssd.data.ted --spec '<dataset JSON>' --name ted8_diverse --archive results/downloads/ted_talks.tar.gz \
        --outdir results/data/ted8_diverse
"""

from __future__ import annotations

import csv
import json
import sys
import tarfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from lssd.config import dataset_languages
from lssd.data.archive import find_member, member_names
from lssd.data.parallel import SPLITS, dataset_parser, run_builder, write_parallel
from lssd.data.text import decoded_lines, sentence
from lssd.io import atomic_directory, write_json

TSV_OF_SPLIT = {"train": "all_talks_train.tsv", "valid": "all_talks_dev.tsv", "test": "all_talks_test.tsv"}
NULL_MARKERS = ("__NULL__", "_ _ NULL _ _")
TALK_COLUMN = "talk_name"


def is_missing(text: str) -> bool:
    """The corpus's own mark of a missing translation: an empty cell or a NULL marker."""
    return not text.strip() or any(marker in text for marker in NULL_MARKERS)


def row_pair(row: list[str], at: tuple[int, int], names: tuple[str, str], split: str, where: str, number: int):
    """The ``(foreign, english)`` pair of one row for one language (cells at ``at``, columns ``names``), or why
    it is dropped: ``missing_translation``, ``missing_english`` or (training only) ``invisible_text``."""
    foreign, english = row[at[0]], row[at[1]]
    if is_missing(foreign):
        return "missing_translation"
    if is_missing(english):
        return "missing_english"
    foreign = sentence(foreign, split, where, number, f"sentence in column '{names[0]}'")
    english = sentence(english, split, where, number, f"sentence in column '{names[1]}'")
    if foreign is None or english is None:
        return "invisible_text"
    return foreign, english


def read_talks(
    stream: Iterable[str], where: str, columns: dict[str, str], pivot_column: str, split: str
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Counter]]:
    """Pairs ``(foreign, english)`` per language from one ``all_talks_*.tsv`` (of ``split``), and the dropped
    rows' counts.

    ``columns`` maps each language to its TED column. A missing column, a row with the wrong number of fields
    or (in a dev or test file) a sentence of only invisible characters is an error naming ``where`` (archive
    and member) and the line.
    """
    csv.field_size_limit(1 << 24)
    reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{where}: empty file (no header)") from None
    if not header or header[0] != TALK_COLUMN:
        raise ValueError(f"{where}, line 1: the header must start with '{TALK_COLUMN}', found {header[:3]}")
    position = {name: index for index, name in enumerate(header)}
    for lang, column in {**columns, "pivot": pivot_column}.items():
        if column not in position:
            raise ValueError(
                f"{where}, line 1: no column '{column}' (language {lang}) in the header; "
                f"it has: {', '.join(header[1:])}"
            )
    pairs: dict[str, list[tuple[str, str]]] = {lang: [] for lang in columns}
    dropped: dict[str, Counter] = {lang: Counter() for lang in columns}
    english_at = position[pivot_column]
    for number, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ValueError(f"{where}, line {number}: {len(row)} tab-separated fields, the header has {len(header)}")
        for lang, column in columns.items():
            pair = row_pair(row, (position[column], english_at), (column, pivot_column), split, where, number)
            if isinstance(pair, str):
                dropped[lang][pair] += 1
            else:
                pairs[lang].append(pair)
    return pairs, dropped


def extract(archive: Path, columns: dict[str, str], pivot_column: str):
    """Read the three splits from the archive; returns ``{split: {lang: pairs}}`` and the drop counts."""
    names = member_names(archive)
    members = {split: find_member(archive, tsv, names) for split, tsv in TSV_OF_SPLIT.items()}
    by_split, dropped = {}, {}
    with tarfile.open(archive, "r|*") as handle:  # one streaming pass over the gzip
        for member in handle:
            for split, name in members.items():
                if member.name == name:
                    where = f"{archive}:{name}"
                    lines = decoded_lines(handle.extractfile(member), where)
                    by_split[split], dropped[split] = read_talks(lines, where, columns, pivot_column, split)
    return by_split, dropped


def size_check(sizes: dict[str, int], reference: dict[str, int | None]) -> dict[str, dict]:
    """Training sizes against the expected ones: ``{lang: {expected, found, difference}}`` where they differ."""
    return {
        lang: {"expected": reference[lang], "found": sizes[lang], "difference": sizes[lang] - reference[lang]}
        for lang in sizes
        if reference.get(lang) is not None and sizes[lang] != reference[lang]
    }


def build(spec: dict, name: str, archive: Path, outdir: Path, log=sys.stdout) -> dict:
    source = spec["source"]
    pivot = spec["pivot"]
    langs = dataset_languages(spec)
    columns = {lang: source["columns"][lang] for lang in langs}
    by_split, dropped = extract(archive, columns, source["pivot_column"])
    for split in SPLITS:
        for lang in langs:
            if not by_split[split][lang]:
                raise ValueError(
                    f"datasets.{name}: language '{lang}' (TED column '{columns[lang]}') has no {split} pairs in "
                    f"{archive} after dropping missing translations"
                )
    sizes = {lang: len(by_split["train"][lang]) for lang in langs}
    reference = {lang: spec["languages"][lang].get("reference_size") for lang in langs}
    mismatches = size_check(sizes, reference)
    for lang, check in mismatches.items():
        print(
            f"NOTE: {lang} has {check['found']} training pairs, the paper's table says {check['expected']} "
            f"({check['difference']:+d})",
            file=log,
        )
    manifest = {
        "dataset": name,
        "pivot": pivot,
        "source": {"kind": "ted_talks", "archive": archive.name, "pivot_column": source["pivot_column"]},
        "reference_size_differences": mismatches,
        "languages": {},
    }
    with atomic_directory(outdir) as staging:
        for lang in langs:
            for split in SPLITS:
                write_parallel(staging, split, lang, pivot, by_split[split][lang])
            manifest["languages"][lang] = {
                "column": columns[lang],
                "sizes": {split: len(by_split[split][lang]) for split in SPLITS},
                "dropped_rows": {split: dict(sorted(dropped[split][lang].items())) for split in SPLITS},
            }
        write_json(staging / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = dataset_parser("Extract a TED-8 dataset from ted_talks.tar.gz")
    parser.add_argument("--archive", required=True, type=Path)
    args = parser.parse_args(argv)
    manifest = run_builder(lambda: build(json.loads(args.spec), args.name, args.archive, args.outdir))
    if manifest is None:
        return 1
    for lang, info in manifest["languages"].items():
        print(f"{lang} ({info['column']}): {info['sizes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
