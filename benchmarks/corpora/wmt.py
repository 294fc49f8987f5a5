"""The WMT-6 training archives.

Europarl v7 (cs, de, es, fr), CommonCrawl (cs, de, es, fr, ru), News Commentary v9 (cs, de, fr, ru) and v12 (cs,
de, ru, zh), the OPUS Moses zips of UNPC en-zh and SETIMES2 en-ro/en-tr, Europarl v8 of WMT16 (ro) and WMT18 (et)
with the real member paths and line counts times the fraction (at least ``MIN_TRAIN_LINES``), a small share of
lines empty on one side, as in the real corpora. Untokenized text, as the releases have it. CommonCrawl's
``.annotation`` members are left out (their format is not documented here). The dev/test sets are in
``wmt_devtest.py``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.corpora.archives import TarGz, Zip
from benchmarks.corpora.text import Lexicon, lognormal_lengths, scaled, translated_lengths

MIN_TRAIN_LINES = 5
WMT_CHUNK_LINES = 50_000


@dataclass(frozen=True)
class Profile:
    """A corpus's sentences: mean length (tokens) and spread, the spread of its translations' lengths, the share
    of lines empty on one side, the share left untranslated (English on the foreign side)."""

    mean: float
    sigma: float
    ratio_sigma: float
    empty: float
    untranslated: float = 0.0


PROFILES = {
    "europarl": Profile(27.0, 0.6, 0.15, 0.003),
    "news": Profile(25.0, 0.55, 0.15, 0.002),
    "crawl": Profile(22.0, 0.9, 0.35, 0.004, 0.02),
    "un": Profile(28.0, 0.6, 0.15, 0.002),
    "setimes": Profile(24.0, 0.5, 0.15, 0.002),
}


@dataclass(frozen=True)
class Corpus:
    """One parallel corpus: two line-aligned members."""

    foreign: str
    english: str
    lang: str
    lines: int
    profile: str


def pairs(pattern: str, sizes: dict[str, int], profile: str) -> list[Corpus]:
    """``pattern`` with ``{l}`` the foreign language and ``{s}`` the side."""
    return [
        Corpus(pattern.format(l=lang, s=lang), pattern.format(l=lang, s="en"), lang, lines, profile)
        for lang, lines in sizes.items()
    ]


@dataclass(frozen=True)
class Training:
    kind: str  # "tgz" or "zip"
    corpora: list[Corpus]
    directories: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # small members (OPUS zips' README and LICENSE)


TRAINING = {
    "training-parallel-europarl-v7.tgz": Training(
        "tgz",
        pairs(
            "training/europarl-v7.{l}-en.{s}",
            {"cs": 646_605, "de": 1_920_209, "es": 1_965_734, "fr": 2_007_723},
            "europarl",
        ),
        ("training",),
    ),
    "training-parallel-commoncrawl.tgz": Training(
        "tgz",
        pairs(
            "commoncrawl.{l}-en.{s}",
            {"cs": 161_838, "de": 2_399_123, "es": 1_845_286, "fr": 3_244_152, "ru": 878_386},
            "crawl",
        ),
    ),
    "training-parallel-nc-v9.tgz": Training(
        "tgz",
        pairs(
            "training/news-commentary-v9.{l}-en.{s}",
            {"cs": 146_549, "de": 201_288, "fr": 183_251, "ru": 165_602},
            "news",
        ),
        ("training",),
    ),
    "training-parallel-nc-v12.tgz": Training(
        "tgz",
        pairs(
            "training/news-commentary-v12.{l}-en.{s}",
            {"cs": 211_724, "de": 270_769, "ru": 235_159, "zh": 227_062},
            "news",
        ),
        ("training",),
    ),
    "opus-unpc-v1.0-en-zh.txt.zip": Training(
        "zip", pairs("UNPC.en-{l}.{s}", {"zh": 15_886_041}, "un"), notes=("README", "LICENSE")
    ),
    "training-parallel-ep-v8-wmt16.tgz": Training(
        "tgz",
        pairs("training-parallel-ep-v8/europarl-v8.{l}-en.{s}", {"ro": 399_375}, "europarl"),
        ("training-parallel-ep-v8",),
    ),
    "training-parallel-ep-v8-wmt18.tgz": Training(
        "tgz", pairs("training/europarl-v8.{l}-en.{s}", {"et": 652_944}, "europarl"), ("training",)
    ),
    "opus-setimes-v2-en-ro.txt.zip": Training(
        "zip", pairs("SETIMES.en-{l}.{s}", {"ro": 213_047}, "setimes"), notes=("README", "LICENSE")
    ),
    "opus-setimes-v2-en-tr.txt.zip": Training(
        "zip", pairs("SETIMES.en-{l}.{s}", {"tr": 207_678}, "setimes"), notes=("README", "LICENSE")
    ),
}


def write_corpus(lexicon: Lexicon, corpus: Corpus, lines: int, rng, foreign_path: Path, english_path: Path) -> None:
    profile = PROFILES[corpus.profile]
    foreign, english = lexicon.index(corpus.lang), lexicon.index("en")
    with open(foreign_path, "wb") as foreign_out, open(english_path, "wb") as english_out:
        for begin in range(0, lines, WMT_CHUNK_LINES):
            size = min(WMT_CHUNK_LINES, lines - begin)
            english_count = lognormal_lengths(rng, size, profile.mean, profile.sigma)
            untranslated = rng.random(size) < profile.untranslated
            foreign_lang = np.where(untranslated, english, foreign)
            ratio = np.where(untranslated, 1.0, lexicon.ratio[foreign])
            foreign_count = translated_lengths(rng, english_count, ratio, profile.ratio_sigma)
            empty = rng.random(size) < profile.empty
            empty_side = rng.random(size) < 0.5
            newline = np.full(size, lexicon.newline, np.int64)
            for out, lang, count, blank in (
                (foreign_out, foreign_lang, foreign_count, empty & empty_side),
                (english_out, np.full(size, english), english_count, empty & ~empty_side),
            ):
                fixed = np.where(blank, lexicon.empty, -1)
                out.write(lexicon.render(rng, lang, count, fixed, newline))


def write_training(name: str, path: Path, fraction: float, seed: int, staging: Path) -> tuple[int, int]:
    spec = TRAINING[name]
    lexicon = Lexicon(["en", *dict.fromkeys(corpus.lang for corpus in spec.corpora)], "raw", seed)
    lines = text_bytes = 0
    with (TarGz if spec.kind == "tgz" else Zip)(path) as archive:
        for directory in spec.directories:
            archive.directory(directory)
        for note in spec.notes:
            text = (
                f"Synthetic stand-in for {name} (OPUS Moses export), generated by benchmarks/paper_corpora.py: random "
                "text with the real member names and line counts times a fraction. Not the corpus; see OPUS for it.\n"
            )
            archive.data(note, text.encode())
        for corpus in sorted(spec.corpora, key=lambda corpus: corpus.foreign):
            count = scaled(corpus.lines, fraction, MIN_TRAIN_LINES)
            rng = np.random.default_rng([seed, zlib.crc32(f"{name}:{corpus.foreign}".encode())])
            sides = {member: staging / member.replace("/", "_") for member in (corpus.foreign, corpus.english)}
            write_corpus(lexicon, corpus, count, rng, sides[corpus.foreign], sides[corpus.english])
            for member in sorted(sides):
                text_bytes += sides[member].stat().st_size
                archive.file(member, sides[member])
                sides[member].unlink()
            lines += 2 * count
    return lines, text_bytes
