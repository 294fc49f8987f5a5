"""The synthetic data-bin of benchmarks/paper_training.py: the layout lssd.data.binarize writes, from random
pieces with log-normal sentence lengths, the paper's recipes' dictionaries and the real dev set sizes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from lssd.data.binarize import NSPECIAL

from .settings import DATASETS, DEV_SIZES

LONGEST = 200  # pieces (with the language token and </s>: far inside max_positions 1024)


def data_layout(options, config: dict) -> dict:
    """What the synthetic data-bin holds: languages, dictionaries, and sentences per pair and split."""
    dataset = DATASETS[options.size]
    spec = config["datasets"][dataset]
    langs = [lang for lang in spec["languages"] if lang != spec["pivot"]]
    reference = {lang: spec["languages"][lang]["reference_size"] for lang in langs}
    joint = spec["spm"]["recipe"] == "joint"
    train = dict(reference)  # by default the paper's training sets: fairseq then batches the paper's epoch itself
    if options.train_sentences:
        total = sum(reference.values())
        # every pair gets some sentences: the epoch's pure batches come from every pair
        floor = max(16, options.train_sentences // (8 * len(langs)))
        train = {lang: max(floor, round(options.train_sentences * size / total)) for lang, size in reference.items()}
    dev = {lang: max(1, round(DEV_SIZES[dataset][lang] * options.dev_scale)) for lang in langs}
    return {
        "dataset": dataset,
        "langs": langs,
        "pivot": spec["pivot"],
        "recipe": spec["spm"]["recipe"],
        "foreign_dict": options.dict_size,
        "pivot_dict": options.dict_size if joint else options.pivot_dict_size,
        "language_vocab": None if joint else min(options.language_vocab, options.dict_size),
        "train": train,
        "valid": dev,
        # one evaluation batch per pair (benchmarks/training/host.py translates the first pair's)
        "test": dict.fromkeys(langs, config["evaluation"]["batch_size"]),
        "real_valid": dict(DEV_SIZES[dataset]),
        "reference_train": reference,
        "mean_length": options.mean_length,
    }


def sentence_lengths(rng, count: int, mean: float, longest: int):
    """Log-normal lengths in pieces with mean ``mean`` (sigma 0.6: most sentences between a third and three times
    the mean, as subword-segmented TED and news sentences), at least 1 and at most ``longest``."""
    import numpy as np

    sigma = 0.6
    lengths = rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, size=count)
    return np.clip(np.rint(lengths), 1, longest).astype(np.int64)


def write_split(prefix: Path, lengths, low: int, high: int, vocab_size: int, rng):
    """One side of one split as fairseq-preprocess writes it (mmap format: each sentence's ids, then </s>): ids
    drawn uniformly from ``[low, high)``, the tokens written in one block and the index by fairseq's own index
    writer (what its dataset builder's ``finalize`` calls; a per-sentence ``add_item`` takes minutes at the
    paper's 766K-5M sentences). Returns the ids (without </s>) for the dictionaries' counts."""
    import numpy as np
    from fairseq.data import indexed_dataset

    dtype = indexed_dataset.best_fitting_int_dtype(vocab_size)
    sizes = lengths + 1
    tokens = rng.integers(low, high, size=int(sizes.sum()), dtype=np.int64).astype(dtype)
    ends = np.cumsum(sizes) - 1
    tokens[ends] = 2  # fairseq's </s>
    tokens.tofile(f"{prefix}.bin")
    with indexed_dataset.MMapIndexedDataset.Index.writer(f"{prefix}.idx", dtype) as index:
        index.write(sizes.tolist())
    keep = np.ones(len(tokens), dtype=bool)
    keep[ends] = False
    return tokens[keep]


def dictionary_lines(prefix: str, counts) -> list[str]:
    # fairseq's dictionary format, <symbol> <count>; the file's order is the index order the ids were drawn in
    return [f"{prefix}{index} {int(count)}" for index, count in enumerate(counts)]


def vocabulary(layout: dict, lang: str) -> tuple[int, int]:
    """The ids a language's pieces are drawn from (after fairseq's 4 special symbols)."""
    langs, window = layout["langs"], layout["language_vocab"]
    foreign_size = layout["foreign_dict"]
    if lang == layout["pivot"]:  # English: its own dictionary, or all of the joint one
        low, high = 0, layout["pivot_dict"]
    elif layout["recipe"] == "joint":
        low, high = 0, foreign_size
    else:  # this language's own 8K model: a window of the merged dictionary; the windows cover all of it
        position = langs.index(lang)
        low = round(position * (foreign_size - window) / max(1, len(langs) - 1))
        high = low + window
    return low + NSPECIAL, high + NSPECIAL


def write_pair(layout: dict, out: Path, lang: str, split: str, rng) -> dict:
    """Both sides of one pair's split; returns each side's counts of its ids."""
    import numpy as np

    pivot = layout["pivot"]
    count = layout[split][lang]
    source = sentence_lengths(rng, count, layout["mean_length"], LONGEST)
    # the other side's length follows the source's (translations of one sentence), with some spread
    target = np.clip(np.rint(source * rng.lognormal(0.0, 0.15, size=count)), 1, LONGEST).astype(np.int64)
    used = {}
    for side, lengths in ((lang, source), (pivot, target)):
        vocab_size = (layout["pivot_dict"] if side == pivot else layout["foreign_dict"]) + NSPECIAL
        ids = write_split(out / f"{split}.{lang}-{pivot}.{side}", lengths, *vocabulary(layout, side), vocab_size, rng)
        used[side] = np.bincount(ids, minlength=vocab_size)
    return used


def write_language_dictionary(out: Path, lang: str, counts) -> None:
    """A language's own pieces by count (binarize's LS_dict.<lang>.txt)."""
    import numpy as np

    order = [index for index in np.argsort(-counts, kind="stable") if index >= NSPECIAL and counts[index]]
    own = [f"f{index - NSPECIAL} {int(counts[index])}" for index in order]
    (out / f"LS_dict.{lang}.txt").write_text("\n".join(own) + "\n", encoding="utf-8")


def build_data_bin(layout: dict, out: Path, seed: int = 1) -> None:
    """The data-bin lssd.data.binarize would write for ``layout``, from random pieces (see paper_training.py)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    langs, pivot = layout["langs"], layout["pivot"]
    joint = layout["recipe"] == "joint"
    foreign_counts = np.zeros(layout["foreign_dict"] + NSPECIAL, dtype=np.int64)
    pivot_counts = np.zeros(layout["pivot_dict"] + NSPECIAL, dtype=np.int64)
    for lang in langs:
        for split in ("train", "valid", "test"):
            used = write_pair(layout, out, lang, split, rng)
            if split == "train":  # the dictionaries count the training sides, as binarize does
                write_language_dictionary(out, lang, used[lang])
                foreign_counts += used[lang]
                (foreign_counts if joint else pivot_counts)[: len(used[pivot])] += used[pivot]
    foreign = "\n".join(dictionary_lines("f", foreign_counts[NSPECIAL:])) + "\n"
    english = foreign if joint else "\n".join(dictionary_lines("e", pivot_counts[NSPECIAL:])) + "\n"
    (out / f"dict.{pivot}.txt").write_text(english, encoding="utf-8")
    for lang in langs:  # one shared dictionary for every non-English language (binarize's dict.<lang>.txt)
        (out / f"dict.{lang}.txt").write_text(foreign, encoding="utf-8")
    (out / "lang_list.txt").write_text("\n".join([*langs, pivot]) + "\n", encoding="utf-8")
    (out / "layout.json").write_text(json.dumps(layout, indent=1), encoding="utf-8")
