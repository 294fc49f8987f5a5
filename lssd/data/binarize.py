"""Binarize a dataset with ``fairseq-preprocess`` into one data-bin that serves both directions.

What the data-bin holds (``results/bin/<dataset>/``):

* ``{train,valid,test}.<lang>-<pivot>.{<lang>,<pivot>}.{bin,idx}`` for every non-English language. fairseq's
  multilingual task reads the ``<pivot>-<lang>`` direction (one-to-many) from the same files.
* ``dict.<lang>.txt`` for every language. ``per_language`` recipe: all non-English languages share one
  dictionary (the union of their pieces, as multiDDS's ``dict.src.txt``) and English has its own;
  ``joint`` recipe: one joined dictionary for every language. Both padded as ``fairseq-preprocess`` pads (its
  default ``--padding-factor 8``, as the original's were built).
* ``lang_list.txt``: the languages, one per line, for ``--lang-dict``.
* ``LS_dict.<lang>.txt``: the pieces that language's training side uses, with their counts (fairseq dictionary
  format): the language-specific dictionaries that one-to-many language-aware distillation masks with.
* ``manifest.json``: what was binarized, written last.

Usage::

    python -m lssd.data.binarize --spec '<dataset JSON>' --encoded results/spm/demo/encoded --outdir results/bin/demo
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lssd.data.parallel import SPLITS, pair_prefix, parallel_path
from lssd.data.spm import encoded_path, non_pivot_languages
from lssd.io import atomic_directory, count_lines, iter_lines, peak_memory_line, write_json, write_lines

FOREIGN_DICT = "dict.foreign.txt"
PIVOT_DICT = "dict.pivot.txt"
# fairseq-preprocess's default --padding-factor, with which the original built its dictionaries (multiDDS's
# preprocess.py run): their size with fairseq's 4 special symbols is a multiple of 8, filled with madeupwords
PADDING_FACTOR = 8
NSPECIAL = 4  # <s> <pad> </s> <unk>: before the file's symbols, not written in it


def piece_counts(lines: Iterable[str]) -> Counter:
    """How often each piece occurs; ``lines`` may be a stream (a training side is read once, never held)."""
    counts: Counter = Counter()
    for line in lines:
        counts.update(line.split())
    return counts


def dictionary_lines(counts: Counter, padding_factor: int = 1) -> list[str]:
    """fairseq's dictionary text format: ``<symbol> <count>``, most frequent first, ties by symbol, then as
    fairseq's ``Dictionary.pad_to_multiple_`` the ``madeupword<NNNN> 0`` entries that make its size (with the
    special symbols) a multiple of ``padding_factor``: what ``fairseq-preprocess`` writes with threshold 0."""
    lines = [f"{piece} {count}" for piece, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    missing = padded_dictionary_size(len(lines), padding_factor) - NSPECIAL - len(lines)
    return lines + [f"madeupword{index:04d} 0" for index in range(missing)]


def padded_dictionary_size(pieces: int, padding_factor: int = PADDING_FACTOR) -> int:
    """A dictionary's size with its ``pieces``, fairseq's special symbols and the padding to ``padding_factor``."""
    return -(-(NSPECIAL + pieces) // padding_factor) * padding_factor


def run_preprocess(args: list[str], log) -> None:
    """Run fairseq-preprocess's own entry point in this process (fairseq is imported once, not per language)."""
    from fairseq import options
    from fairseq_cli import preprocess

    log.write("$ fairseq-preprocess " + " ".join(args) + "\n")
    log.flush()
    parsed = options.get_preprocessing_parser().parse_args(args)
    preprocess.main(parsed)


def preprocess_language(args: list[str]) -> str:
    """``run_preprocess`` in a worker process, its log kept and returned, so that the job's log reads language
    by language whatever order the workers finish in."""
    import logging

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))  # fairseq-preprocess's own format
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    run_preprocess(args, buffer)
    return buffer.getvalue()


def preprocess_all(jobs: list[list[str]], side_by_side: int, log) -> None:
    """fairseq-preprocess for every language's arguments, ``side_by_side`` at a time, logs in language order."""
    if side_by_side > 1:
        with ProcessPoolExecutor(max_workers=side_by_side) as pool:
            for text in pool.map(preprocess_language, jobs):
                log.write(text)
    else:
        for args in jobs:
            run_preprocess(args, log)


# tokens fairseq adds to a sentence of n pieces: the language tag (encoder or decoder side) and end-of-sentence
ADDED_TOKENS = 2


def check_lengths(spec: dict, encoded: Path, max_positions: int, data: Path | None = None, key: str = "") -> None:
    """Every dev and test sentence fits the model's positions (its pieces, language tag and end-of-sentence).

    fairseq skips longer training pairs, but stops on a longer dev or test sentence (in validation, hours into
    training, or in translation) unless told to drop it, which would change the dev and test sets.
    """
    pivot = spec["pivot"]
    for lang in non_pivot_languages(spec):
        for split in ("valid", "test"):
            for side in (lang, pivot):
                path = encoded_path(encoded, split, lang, pivot, side)
                for number, line in enumerate(iter_lines(path), start=1):
                    length = len(line.split()) + ADDED_TOKENS
                    if length > max_positions:
                        where = parallel_path(data, split, lang, pivot, side) if data else path
                        raise ValueError(
                            f"{where}, line {number}: {length - ADDED_TOKENS} SentencePiece pieces, too long for "
                            f"the model's {max_positions} positions{f' ({key})' if key else ''} with its language "
                            "tag and end-of-sentence token; fairseq would stop on it in validation or translation. "
                            "Shorten or remove that sentence pair, or raise max_positions."
                        )


def binarize(spec: dict, encoded: Path, outdir: Path, workers: int = 1, log=sys.stdout) -> dict:
    pivot = spec["pivot"]
    langs = non_pivot_languages(spec)
    joint = spec["spm"]["recipe"] == "joint"
    with atomic_directory(outdir) as staging:
        dicts = staging / "dicts"
        dicts.mkdir()
        foreign_counts: Counter = Counter()
        pivot_counts: Counter = Counter()
        language_counts: dict[str, Counter] = {}
        for lang in langs:
            language_counts[lang] = piece_counts(iter_lines(encoded_path(encoded, "train", lang, pivot, lang)))
            foreign_counts.update(language_counts[lang])
            pivot_counts.update(piece_counts(iter_lines(encoded_path(encoded, "train", lang, pivot, pivot))))
        if joint:
            write_lines(dicts / FOREIGN_DICT, dictionary_lines(foreign_counts + pivot_counts, PADDING_FACTOR))
            shutil.copyfile(dicts / FOREIGN_DICT, dicts / PIVOT_DICT)
        else:
            write_lines(dicts / FOREIGN_DICT, dictionary_lines(foreign_counts, PADDING_FACTOR))
            write_lines(dicts / PIVOT_DICT, dictionary_lines(pivot_counts, PADDING_FACTOR))

        # fairseq-preprocess spends most of a language's time in one process (its dictionary and merge steps),
        # whatever its --workers: languages side by side use the job's threads
        side_by_side = min(workers, len(langs))
        fairseq_workers = max(1, workers // side_by_side)
        jobs = []
        for lang in langs:
            prefixes = []
            for split, flag in zip(SPLITS, ("--trainpref", "--validpref", "--testpref"), strict=True):
                prefixes += [flag, str(encoded / lang / pair_prefix(split, lang, pivot))]
            jobs.append(
                [
                    "--source-lang", lang, "--target-lang", pivot, *prefixes,
                    "--srcdict", str(dicts / FOREIGN_DICT), "--tgtdict", str(dicts / PIVOT_DICT),
                    "--destdir", str(staging), "--workers", str(fairseq_workers),
                ]
            )  # fmt: skip
        preprocess_all(jobs, side_by_side, log)
        # every language gets its dict.<lang>.txt: the multilingual task loads one per language
        for lang in langs:
            shutil.copyfile(dicts / FOREIGN_DICT, staging / f"dict.{lang}.txt")
            write_lines(staging / f"LS_dict.{lang}.txt", dictionary_lines(language_counts[lang]))
        shutil.copyfile(dicts / PIVOT_DICT, staging / f"dict.{pivot}.txt")
        write_lines(staging / "lang_list.txt", [*langs, pivot])
        shutil.rmtree(dicts)
        manifest = {
            "dataset_languages": langs,
            "pivot": pivot,
            "recipe": spec["spm"]["recipe"],
            "dictionary_sizes": {"foreign": len(foreign_counts), pivot: len(pivot_counts)}
            if not joint
            else {"joint": len(foreign_counts + pivot_counts)},
            "sentences": {
                lang: {split: count_lines(encoded_path(encoded, split, lang, pivot, lang)) for split in SPLITS}
                for lang in langs
            },
        }
        write_json(staging / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Binarize one dataset with fairseq-preprocess")
    parser.add_argument("--spec", required=True, help="the dataset's config block, as JSON")
    parser.add_argument("--encoded", required=True, type=Path, help="directory of SentencePiece-encoded text")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-positions", type=int, help="the smallest max_positions of the dataset's trainings")
    parser.add_argument("--max-positions-key", default="", help="the config key of --max-positions, for errors")
    parser.add_argument("--data", type=Path, help="the raw text (results/data/<dataset>), to name it in errors")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    if args.max_positions:
        try:
            check_lengths(spec, args.encoded, args.max_positions, args.data, args.max_positions_key)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    binarize(spec, args.encoded, args.outdir, args.workers)
    return 0


if __name__ == "__main__":
    status = main()
    print(peak_memory_line())
    sys.exit(status)
