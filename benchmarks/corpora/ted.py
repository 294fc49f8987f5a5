"""The TED archive, ``ted_talks.tar.gz`` (both TED-8 datasets).

It holds ``ted_talks/all_talks_{train,dev,test}.tsv`` with the real header (``talk_name`` then 60 TED language
codes), the real row counts (TFDS ``ted_multi_translate``: 258,098 / 6,049 / 7,213) times the fraction, one English
sentence per row and ``__NULL__`` (now and then ``_ _ NULL _ _``) where a language has no translation, whole talks
at a time. The non-NULL counts of the 16 TED-8 columns (and the training count of ``pt``) are the published
sizes (Pareto-MD, Huang et al. ACL 2023, App. B Table 4) times the fraction; the other columns' counts are
ESTIMATES: interpolated in log space along the header order (which roughly follows the number of translated
talks) between the known columns. Text is Moses-tokenized: punctuation split off, ``&apos;``/``&quot;`` escapes.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from benchmarks.corpora.archives import TarGz
from benchmarks.corpora.text import Lexicon, lognormal_lengths, scaled, translated_lengths

MIN_TED_PAIRS = 2  # every TED-8 language needs pairs in every split, however small the fraction
MIN_TED_ROWS = 8
TALK_ROWS = (40, 160)  # rows per talk, uniform in this range
ALT_NULL_SHARE = 0.01  # of the missing cells, the share with the spaced marker
TED_CHUNK_ROWS = 2000

TED_HEADER = (
    "talk_name en es pt-br fr ru he ar ko zh-cn it ja zh-tw nl ro tr de vi pl pt bg el fa sr hu hr uk cs id th sv "
    "sk sq lt da calv my sl mk fr-ca fi hy hi nb ka mn et ku gl mr zh ur eo ms az ta bn kk be eu bs"
).split()
TED_SPLITS = ("train", "dev", "test")
TED_ROWS = {"train": 258_098, "dev": 6_049, "test": 7_213}  # TFDS ted_multi_translate
# (train, dev, test) pairs with English: the published sizes (Pareto-MD App. B Table 4) (pt: its training size only)
TED_KNOWN = {
    "bs": (5664, 474, 463), "mr": (9840, 767, 1090), "hi": (18798, 854, 1243), "mk": (25335, 640, 438),
    "el": (134327, 3344, 4433), "bg": (174444, 4082, 5060), "fr": (192304, 4320, 4866), "ko": (205640, 4441, 5637),
    "az": (5947, 672, 904), "be": (4510, 249, 665), "gl": (10018, 683, 1008), "sk": (61500, 2271, 2445),
    "tr": (182451, 4046, 5030), "ru": (208107, 4806, 5477), "pt-br": (185000, 4035, 4855), "cs": (103000, 3462, 3831),
    "pt": (51786, None, None),
}  # fmt: skip
TED_ARCHIVE = "ted_talks.tar.gz"


def ted_sizes() -> dict[str, dict[str, int]]:
    """Pairs with English per TED column and split at full size: the known ones; for the others (estimates), the
    training size interpolated in log space between the nearest known columns of the header, and the dev/test
    sizes as that times the dev/test-to-train ratio interpolated the same way (pt's 1.2K dev pairs, not 4K)."""
    languages = TED_HEADER[2:]

    def interpolated(values: dict[str, float]) -> list[float]:
        places = [position for position, lang in enumerate(languages) if lang in values]
        logs = [math.log(values[languages[position]]) for position in places]
        return [math.exp(np.interp(position, places, logs)) for position in range(len(languages))]

    train = {lang: sizes[0] for lang, sizes in TED_KNOWN.items()}
    train_estimates = interpolated(train)
    sizes = {lang: {"train": train.get(lang) or round(train_estimates[i])} for i, lang in enumerate(languages)}
    for index, split in enumerate(TED_SPLITS[1:], start=1):
        known = {lang: values[index] for lang, values in TED_KNOWN.items() if values[index] is not None}
        ratios = interpolated({lang: count / train[lang] for lang, count in known.items()})
        for position, lang in enumerate(languages):
            sizes[lang][split] = known.get(lang) or round(sizes[lang]["train"] * ratios[position])
    return sizes


def ted_rows(fraction: float) -> dict[str, int]:
    return {split: scaled(rows, fraction, MIN_TED_ROWS) for split, rows in TED_ROWS.items()}


def ted_counts(fraction: float) -> dict[str, dict[str, int]]:
    """What the generated archive holds: non-missing cells per column and split (``en``: every row)."""
    rows = ted_rows(fraction)
    counts = {"en": dict(rows)}
    for lang, sizes in ted_sizes().items():
        counts[lang] = {split: min(rows[split], scaled(size, fraction, MIN_TED_PAIRS)) for split, size in sizes.items()}
    return counts


def talk_layout(rows: int, rng) -> np.ndarray:
    """Talk sizes (consecutive rows) covering ``rows``."""
    sizes = rng.integers(TALK_ROWS[0], TALK_ROWS[1] + 1, rows // TALK_ROWS[0] + 1)
    ends = np.cumsum(sizes)
    talks = int(np.searchsorted(ends, rows)) + 1
    sizes = sizes[:talks].copy()
    sizes[-1] -= ends[talks - 1] - rows
    return sizes


def translated_rows(talk_sizes: np.ndarray, count: int, rng) -> np.ndarray:
    """A mask of ``count`` rows: whole talks in a random order (translators translate talks), the last one cut."""
    order = rng.permutation(len(talk_sizes))
    ends = np.cumsum(talk_sizes[order])
    whole = int(np.searchsorted(ends, count, side="right"))
    taken = np.zeros(len(talk_sizes), np.int64)
    taken[order[:whole]] = talk_sizes[order[:whole]]
    if whole < len(talk_sizes):
        taken[order[whole]] = count - (ends[whole - 1] if whole else 0)
    first_row = np.cumsum(talk_sizes) - talk_sizes
    within = np.arange(talk_sizes.sum()) - np.repeat(first_row, talk_sizes)
    return within < np.repeat(taken, talk_sizes)


def write_ted_split(lexicon: Lexicon, path: Path, split: str, rows: int, counts, first_talk: int, seed: int) -> int:
    """One ``all_talks_<split>.tsv``; returns its line count."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{TED_ARCHIVE}:{split}".encode())])
    talk_sizes = talk_layout(rows, rng)
    languages = TED_HEADER[1:]
    present = np.ones((rows, len(languages)), bool)
    for column, lang in enumerate(languages[1:], start=1):
        present[:, column] = translated_rows(talk_sizes, counts[lang][split], rng)
    talk_of_row = first_talk + np.repeat(np.arange(len(talk_sizes)), talk_sizes)
    lang_of = np.array([0, *range(len(languages))])  # the talk_name column's "language" is never read
    with open(path, "wb") as out:
        out.write(("\t".join(TED_HEADER) + "\n").encode())
        for begin in range(0, rows, TED_CHUNK_ROWS):
            size = min(TED_CHUNK_ROWS, rows - begin)
            english = lognormal_lengths(rng, size, 20.0, 0.6)
            count = np.empty((size, len(TED_HEADER)), np.int64)
            count[:, 0] = 1
            count[:, 1:] = translated_lengths(rng, english[:, None], lexicon.ratio[None, :], 0.15)
            count[:, 1] = english  # the English column is the sentence the others translate
            fixed = np.full((size, len(TED_HEADER)), -1, np.int64)
            fixed[:, 0] = lexicon.fixed_base + talk_of_row[begin : begin + size]
            missing = ~present[begin : begin + size]
            marker = np.where(rng.random(missing.shape) < ALT_NULL_SHARE, lexicon.alt_null, lexicon.null)
            fixed[:, 1:][missing] = marker[missing]
            end = np.full((size, len(TED_HEADER)), lexicon.tab, np.int64)
            end[:, -1] = lexicon.newline
            lang = np.broadcast_to(lang_of, count.shape)
            out.write(lexicon.render(rng, lang.ravel(), count.ravel(), fixed.ravel(), end.ravel()))
    return rows + 1


def write_ted(path: Path, fraction: float, seed: int, staging: Path) -> tuple[int, int]:
    rows = ted_rows(fraction)
    counts = ted_counts(fraction)
    talks = sum(rows.values()) // TALK_ROWS[0] + len(rows)
    lexicon = Lexicon(TED_HEADER[1:], "moses", seed, [f"talk_{n:04d}" for n in range(talks)])
    lines = text_bytes = 0
    first_talk = 0
    with TarGz(path) as archive:
        archive.directory("ted_talks")
        for split in ("dev", "test", "train"):  # the archive's members in name order
            member = staging / f"all_talks_{split}.tsv"
            lines += write_ted_split(lexicon, member, split, rows[split], counts, first_talk, seed)
            first_talk += rows[split] // TALK_ROWS[0] + 1
            text_bytes += member.stat().st_size
            archive.file(f"ted_talks/{member.name}", member)
            member.unlink()
    return lines, text_bytes
