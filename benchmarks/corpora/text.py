"""Vocabularies, Zipf sampling, sentence rendering and sentence lengths.

The text is random, but shaped like the real thing where the pipeline can notice: per-language vocabularies in the
language's script (``scripts.py``), ``VOCABULARY_SIZE`` word types each, built from syllables (frequent words
short), drawn with a Zipf law of exponent ``ZIPF_EXPONENT``, with punctuation, numbers and (English, French,
Italian) clitics at Zipf ranks of their own; capitalised sentence starts; lognormal sentence lengths (mean 20
tokens on TED, about 25 on WMT, more spread and some untranslated lines on CommonCrawl); the sides of one pair have
correlated lengths, as translations of one sentence do.

Sampling and rendering are vectorised (inverse-CDF Zipf sampling, one byte gather per block of rows: 50-130 MB/s
of text on one core).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from benchmarks.corpora.scripts import SCRIPTS, Script, gather, utf8_blob, word_list

VOCABULARY_SIZE = 120_000  # word types per language (Zipf ranks), punctuation and numbers included
ZIPF_EXPONENT = 1.1
ZIPF_OFFSET = 1.0  # Zipf-Mandelbrot shift: the top word gets about 6% of the tokens, as "the" does in English
SENTENCE_STARTS = 2000  # a sentence starts with one of the most frequent words (capitalised)
STOPS = (0.87, 0.09, 0.04)  # full stop, question mark, exclamation mark


NUMBERS = tuple(
    dict.fromkeys(
        [str(n) for n in range(2, 21)]
        + [str(n) for n in range(30, 101, 10)]
        + [str(n) for n in (150, 200, 300, 500, 1000, 2000, 10000)]
        + [str(year) for year in range(1950, 2015, 2)]
        + ["1.5", "2.5", "0.5", "3.5", "1,000", "10,000", "100,000", "1,5", "50,000", "24", "365", "1"]
    )
)


@dataclass
class Vocabulary:
    """One language's items: ``size`` Zipf ranks (words, punctuation, numbers, clitics), capitalised sentence
    starts and sentence stops, each in a Moses-tokenized and a raw spelling (they differ in the escapes only)."""

    script: Script
    words: tuple[np.ndarray, np.ndarray, np.ndarray]  # blob, offsets, lengths of the words in rank order
    specials: list[tuple[int, str, str, str]]  # (rank, Moses form, raw form, attaches: "", "left", "right")
    starts: list[str]

    @property
    def size(self) -> int:
        return len(self.words[1]) + len(self.specials)


def vocabulary(lang: str, seed: int) -> Vocabulary:
    script = SCRIPTS[lang]()
    rng = np.random.default_rng([seed, zlib.crc32(f"vocabulary:{lang}".encode())])
    # Zipf ranks of the specials: the comma near the top, the other marks spread out, clitics among the frequent
    # words; (Moses form, raw form, which neighbour the raw form attaches to)
    wanted = {
        (script.comma, script.comma, "left"): 1,
        ("-", "-", ""): 25,
        ("&quot;", '"', ""): 60,
        (":", ":", "left"): 90,
        ("(", "(", "right"): 150,
        (")", ")", "left"): 151,
        ("%", "%", "left"): 700,
    }
    if ";" not in script.stops:  # the Greek question mark is no mid-sentence mark
        wanted[(";", ";", "left")] = 400
    for index, clitic in enumerate(script.clitics):
        wanted[clitic] = 8 + 9 * index
    numbers = rng.permutation(NUMBERS)
    for index, number in enumerate(numbers):
        wanted[(str(number), str(number), "")] = int(40 * 1.07**index)
    taken: set[int] = set()
    specials = []
    for (moses, raw, attach), rank in wanted.items():
        while rank in taken:
            rank += 1
        taken.add(rank)
        specials.append((rank, moses, raw, attach))
    specials.sort()
    words = word_list(script, VOCABULARY_SIZE - len(specials), rng)
    blob, offsets, lengths = words
    starts = [bytes(blob[o : o + n]).decode() for o, n in zip(offsets, lengths[:SENTENCE_STARTS], strict=False)]
    if script.cased:
        starts = [word[:1].upper() + word[1:] for word in starts]
    return Vocabulary(script, words, specials, starts)


ZIPF_POWER = 1.0 - ZIPF_EXPONENT
ZIPF_TOP = (1.0 + ZIPF_OFFSET) ** ZIPF_POWER


def zipf_span(size: int) -> float:
    return ZIPF_TOP - (size + 1.0 + ZIPF_OFFSET) ** ZIPF_POWER


def zipf_ranks(uniform: np.ndarray, span: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Ranks in [0, size) with P(rank) ~ (rank + 1 + offset)^-exponent: the inverse CDF of the continuous law."""
    x = (ZIPF_TOP - uniform * span) ** (1.0 / ZIPF_POWER)
    return np.minimum(x.astype(np.int64) - int(1 + ZIPF_OFFSET), size - 1)


class Items:
    """The items of a lexicon as they are added: their bytes, each one's offset and length in the concatenation
    of those, and whether it attaches to its left or right neighbour (no space between them in raw text)."""

    def __init__(self):
        self.blobs, self.offsets, self.lengths, self.left, self.right = [], [], [], [], []
        self.count = self.position = 0

    def add(self, blob, item_offsets, item_lengths, attach_left=None, attach_right=None) -> int:
        """Append the items of ``blob`` (at ``item_offsets`` in it); return the first one's id."""
        first = self.count
        self.blobs.append(blob)
        self.offsets.append(item_offsets + self.position)
        self.lengths.append(item_lengths)
        self.left.append(np.zeros(len(item_offsets), bool) if attach_left is None else attach_left)
        self.right.append(np.zeros(len(item_offsets), bool) if attach_right is None else attach_right)
        self.position += blob.size
        self.count += len(item_offsets)
        return first


def rank_items(vocab: Vocabulary, raw: bool):
    """A language's Zipf ranks as items (words, with the specials at their ranks): blob, offsets, lengths and
    attachments, for ``Items.add``."""
    specials = vocab.specials
    words_blob, word_offsets, word_lengths = vocab.words
    special_blob, special_offsets, special_lengths = utf8_blob([s[2 if raw else 1] for s in specials])
    ranks = np.array([s[0] for s in specials], dtype=np.int64)
    is_word = np.ones(vocab.size, bool)
    is_word[ranks] = False
    rank_offsets = np.empty(vocab.size, np.int64)
    rank_lengths = np.empty(vocab.size, np.int64)
    rank_offsets[is_word], rank_lengths[is_word] = word_offsets, word_lengths
    rank_offsets[ranks] = special_offsets + words_blob.size
    rank_lengths[ranks] = special_lengths
    attach_left, attach_right = np.zeros(vocab.size, bool), np.zeros(vocab.size, bool)
    if raw:  # Moses text has a space on both sides of every token
        attach_left[ranks] = [s[3] == "left" for s in specials]
        attach_right[ranks] = [s[3] == "right" for s in specials]
    return np.concatenate([words_blob, special_blob]), rank_offsets, rank_lengths, attach_left, attach_right


class Lexicon:
    """Every item that the text of one archive is made of, in one byte blob: the separators, the NULL markers,
    ``fixed`` names (TED's talk names), then each language's ranks, sentence starts and stops. ``render`` turns
    cells (a language and a token count each, or a fixed item) into text."""

    def __init__(self, langs: list[str], style: str, seed: int, fixed: Iterable[str] = ()):
        if style not in ("moses", "raw"):
            raise ValueError(f"style must be 'moses' or 'raw', not '{style}'")
        self.raw = style == "raw"
        self.langs = list(langs)
        strings = ["", " ", "\t", "\n", "__NULL__", "_ _ NULL _ _", *fixed]
        self.empty, self.space, self.tab, self.newline, self.null, self.alt_null = range(6)
        self.fixed_base = 6
        items = Items()
        items.add(*utf8_blob(strings))
        per_lang = {key: [] for key in ("rank_base", "size", "start_base", "stop_base", "separator")}
        ratio = []
        for lang in self.langs:
            vocab = vocabulary(lang, seed)
            per_lang["rank_base"].append(items.add(*rank_items(vocab, self.raw)))
            per_lang["size"].append(vocab.size)
            per_lang["start_base"].append(items.add(*utf8_blob(vocab.starts)))
            stops = utf8_blob(list(vocab.script.stops))
            per_lang["stop_base"].append(items.add(*stops, np.full(3, self.raw), None))
            per_lang["separator"].append(self.space if vocab.script.spaced else self.empty)
            ratio.append(vocab.script.ratio)
        self.blob = np.concatenate(items.blobs)
        self.offsets = np.concatenate(items.offsets)
        self.lengths = np.concatenate(items.lengths)
        self.attach_left = np.concatenate(items.left)
        self.attach_right = np.concatenate(items.right)
        for key, values in per_lang.items():
            setattr(self, key, np.array(values, dtype=np.int64))
        self.span = np.array([zipf_span(size) for size in self.size])
        self.start_span = zipf_span(SENTENCE_STARTS)
        self.ratio = np.array(ratio)
        self.stop_cdf = np.cumsum(STOPS)[:-1]

    def index(self, lang: str) -> int:
        return self.langs.index(lang)

    def render(self, rng, lang, count, fixed, end) -> bytes:
        """The text of cells, in order: cell ``i`` is ``fixed[i]`` (an item id) if that is >= 0, else a sentence
        of ``count[i]`` >= 2 tokens (words, then a stop) in language ``lang[i]``; ``end[i]`` (an item id, a tab
        or a newline) follows it."""
        tokens = np.where(fixed >= 0, 1, count)
        total = int(tokens.sum())
        cell = np.repeat(np.arange(len(tokens)), tokens)
        first_of_cell = np.cumsum(tokens) - tokens
        cell_lang = lang[cell]
        ids = self.rank_base[cell_lang] + zipf_ranks(rng.random(total), self.span[cell_lang], self.size[cell_lang])
        text = fixed < 0
        starts = first_of_cell[text]
        stops = (first_of_cell + tokens - 1)[text]
        text_lang = lang[text]
        first_words = zipf_ranks(rng.random(len(starts)), self.start_span, SENTENCE_STARTS)
        ids[starts] = self.start_base[text_lang] + first_words
        ids[stops] = self.stop_base[text_lang] + np.searchsorted(self.stop_cdf, rng.random(len(stops)), side="right")
        fixed_cells = np.flatnonzero(~text)
        ids[first_of_cell[fixed_cells]] = fixed[fixed_cells]
        separators = self.separator[cell_lang]
        last = first_of_cell + tokens - 1
        if self.raw:  # no space before a stop, a comma, "'s"; none after "l'", "("
            glue = self.attach_right[ids]
            glue[:-1] |= self.attach_left[ids[1:]]
            separators[glue] = self.empty
        separators[last] = end
        stream = np.empty(2 * total, np.int64)
        stream[0::2], stream[1::2] = ids, separators
        return gather(self.blob, self.offsets[stream], self.lengths[stream])


def lognormal_lengths(rng, count: int, mean: float, sigma: float) -> np.ndarray:
    """Sentence lengths (tokens, the stop included) with the given mean, at least 2, at most 250."""
    mu = math.log(mean) - sigma**2 / 2
    return np.clip(np.rint(rng.lognormal(mu, sigma, count)), 2, 250).astype(np.int64)


def translated_lengths(rng, english: np.ndarray, ratio, sigma: float) -> np.ndarray:
    """The lengths of translations of sentences of ``english`` lengths: ``ratio`` times as long, give or take."""
    noisy = english * ratio * rng.lognormal(0.0, sigma, np.shape(ratio * english))
    return np.clip(np.rint(noisy), 2, 250).astype(np.int64)


def scaled(count: int, fraction: float, minimum: int) -> int:
    return max(minimum, math.floor(count * fraction + 0.5))
