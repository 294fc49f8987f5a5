"""Paper-sized synthetic corpora in the real source formats: what the paper datasets download, at any fraction of
their real size, without the network and without their text (which may not be redistributed).

``generate`` writes, into one directory, the archives that ``config/paper.yaml``'s datasets download, under the
names of ``config/downloads.tsv``, and a ``downloads.tsv`` listing them with their sizes and checksums (for a
rehearsal that sets ``downloads.mirror`` to a local server of that directory):

* ``ted_talks.tar.gz`` (both TED-8 datasets): ``ted_talks/all_talks_{train,dev,test}.tsv`` with the real header
  (``talk_name`` then 60 TED language codes), the real row counts (TFDS ``ted_multi_translate``: 258,098 / 6,049 /
  7,213) times the fraction, one English sentence per row and ``__NULL__`` (now and then ``_ _ NULL _ _``) where a
  language has no translation, whole talks at a time. The non-NULL counts of the 16 TED-8 columns (and the
  training count of ``pt``) are the sizes of ``../shared/spec/datasets.md`` §1.2 times the fraction; the other
  columns' counts are ESTIMATES: interpolated in log space along the header order (which roughly follows the
  number of translated talks) between the known columns. Text is Moses-tokenized: punctuation split off,
  ``&apos;``/``&quot;`` escapes.
* The WMT-6 releases: Europarl v7 (cs, de, es, fr), CommonCrawl (cs, de, es, fr, ru), News Commentary v9 (cs, de,
  fr, ru) and v12 (cs, de, ru, zh), the OPUS Moses zips of UNPC en-zh and SETIMES2 en-ro/en-tr, Europarl v8 of
  WMT16 (ro) and WMT18 (et) with the real member paths and line counts times the fraction (at least
  ``MIN_TRAIN_LINES``), a small share of lines empty on one side, as in the real corpora; the dev/test ``.tgz``
  files with their "fake SGML" ``.sgm`` sets in both directions, with the real segment counts (never scaled: the
  sets are always used whole). Untokenized text, as the releases have it. CommonCrawl's ``.annotation`` members
  are left out (their format is not documented here), as are the releases' other years' test sets.

The text is random, but shaped like the real thing where the pipeline can notice: per-language vocabularies in the
language's script (Latin with the language's diacritics, Cyrillic, Greek, Hangul, Devanagari, Han without spaces
between words, Arabic, Hebrew, Thai, ...), ``VOCABULARY_SIZE`` word types each, built from syllables (frequent
words short), drawn with a Zipf law of exponent ``ZIPF_EXPONENT``, with punctuation, numbers and (English,
French, Italian) clitics at Zipf ranks of their own; capitalised sentence starts; lognormal sentence lengths
(mean 20 tokens on TED, about 25 on WMT, more spread and some untranslated lines on CommonCrawl); the sides of
one pair have correlated lengths, as translations of one sentence do.

Every file is a function of (its name, the fraction, the seed): numpy Generators seeded from them, no time in any
header (gzip mtime 0, fixed tar and zip dates), so the same fraction and seed give byte-identical archives.
Sampling and rendering are vectorised (inverse-CDF Zipf sampling, one byte gather per block of rows: 50-130 MB/s
of text on one core); gzip and zip deflate at level ``COMPRESSION_LEVEL`` (3: twice as fast as the default 6 here,
for files 4% larger). With the compression, about 20 MB/s of text: the full-size TED archive, 0.79 GB of text in
0.38 GB (random text compresses less than real text; the real archive is 0.35 GB), took 39 s on one core.

Usage::

    python -m benchmarks.paper_corpora --out DIR --fraction 0.01 [--datasets ted8_diverse ted8_related wmt6]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lssd.io import atomic_path, write_json

GENERATOR_VERSION = 1  # part of the stamp: a change of the generator's output must not reuse older files
STAMP = "paper_corpora.json"
TABLE = "downloads.tsv"
TABLE_HEADER = ("name", "url", "bytes", "sha256", "md5", "provenance", "license")
MIRROR = "http://mirror.invalid"
COMPRESSION_LEVEL = 3  # zlib: 44 MB/s on this text, against 22 MB/s at the default 6 for 4% smaller files
ARCHIVE_DATE = (2014, 1, 1, 0, 0, 0)  # every tar and zip member's date (a date of the releases' era, fixed)
ARCHIVE_MTIME = 1388534400  # ARCHIVE_DATE as a Unix time (UTC)

VOCABULARY_SIZE = 120_000  # word types per language (Zipf ranks), punctuation and numbers included
ZIPF_EXPONENT = 1.1
ZIPF_OFFSET = 1.0  # Zipf-Mandelbrot shift: the top word gets about 6% of the tokens, as "the" does in English
SENTENCE_STARTS = 2000  # a sentence starts with one of the most frequent words (capitalised)
STOPS = (0.87, 0.09, 0.04)  # full stop, question mark, exclamation mark
MIN_TRAIN_LINES = 5
MIN_TED_PAIRS = 2  # every TED-8 language needs pairs in every split, however small the fraction
MIN_TED_ROWS = 8
TALK_ROWS = (40, 160)  # rows per talk, uniform in this range
ALT_NULL_SHARE = 0.01  # of the missing cells, the share with the spaced marker
TED_CHUNK_ROWS = 2000
WMT_CHUNK_LINES = 50_000

DATASETS = ("ted8_diverse", "ted8_related", "wmt6")


# ---------------------------------------------------------------------------------------------------------------
# Scripts: how each language's words are spelled


@dataclass(frozen=True)
class Script:
    syllables: tuple[str, ...]
    spaced: bool = True  # words separated by spaces (Chinese, Japanese, Thai, Burmese are not)
    cased: bool = True
    comma: str = ","
    stops: tuple[str, str, str] = (".", "?", "!")
    ratio: float = 1.0  # tokens per English token in a translation
    growth: tuple[float, float] = (0.0, 0.25)  # syllables per word: 1 + Poisson(a + b * log10(rank + 1))
    clitics: tuple[tuple[str, str, str], ...] = ()  # (Moses form, raw form, "left"/"right": where the raw one attaches)


def combos(onsets: Iterable[str], vowels: Iterable[str], codas: Iterable[str] = ()) -> tuple[str, ...]:
    """Every onset+vowel syllable, as many onset+vowel+coda ones (an even spread of them), every bare vowel: as
    many closed syllables as open ones keeps words about as long as real ones."""
    onsets, vowels, codas = list(onsets), list(vowels), list(codas)
    open_syllables = [onset + vowel for onset in onsets for vowel in vowels]
    closed = [onset + vowel + coda for onset in onsets for vowel in vowels for coda in codas]
    step = max(1, math.ceil(len(closed) / max(1, len(open_syllables))))
    return tuple(dict.fromkeys(open_syllables + closed[::step] + vowels))


CLUSTERS = ("st", "tr", "pr", "br", "gr", "pl", "kr", "sl")


def latin(vowels="aeiou", extra="", clusters=(), codas="nrslmt", **options) -> Script:
    onsets = list("bcdfghjklmnprstvz") + list(extra) + list(CLUSTERS) + list(clusters)
    return Script(combos(onsets, vowels, codas), **options)


def cyrillic(vowels="аеиоуяю", consonants="бвгдзклмнпрстфхцчшж", codas="нрслмтв", **options) -> Script:
    return Script(combos(consonants, vowels, codas), **options)


def abugida(consonants: str, signs: Iterable[str], extra: Iterable[str] = (), **options) -> Script:
    """Consonant + vowel sign (an empty sign: the inherent vowel), plus independent vowels or codas."""
    return Script(tuple(dict.fromkeys([c + s for c in consonants for s in signs] + list(extra))), **options)


def hangul() -> tuple[str, ...]:
    # a block is 0xAC00 + (initial * 21 + vowel) * 28 + final; finals: none, ㄴ ㄹ ㅁ ㅂ ㅇ
    return tuple(
        chr(0xAC00 + (initial * 21 + vowel) * 28 + final)
        for initial in range(19)
        for vowel in (0, 1, 4, 6, 8, 12, 13, 17, 18, 20)
        for final in (0, 4, 8, 16, 17, 21)
    )


def han(count: int, key: str, kana: bool = False) -> tuple[str, ...]:
    """``count`` CJK ideographs (a fixed draw per ``key``), with the kana syllabaries for Japanese."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    chars = [chr(0x4E00 + int(code)) for code in np.sort(rng.choice(0x9FA5 - 0x4E00, count, replace=False))]
    if kana:
        chars += [chr(code) for code in range(0x3042, 0x3093)] + [chr(code) for code in range(0x30A2, 0x30F3)]
    return tuple(chars)


ENGLISH_CLITICS = (("&apos;s", "'s", "left"), ("&apos;t", "'t", "left"), ("&apos;re", "'re", "left"),
                   ("&apos;m", "'m", "left"), ("&apos;ve", "'ve", "left"), ("&apos;ll", "'ll", "left"))  # fmt: skip
FRENCH_CLITICS = (("l&apos;", "l'", "right"), ("d&apos;", "d'", "right"), ("qu&apos;", "qu'", "right"),
                  ("c&apos;", "c'", "right"), ("n&apos;", "n'", "right"), ("j&apos;", "j'", "right"),
                  ("s&apos;", "s'", "right"))  # fmt: skip
ITALIAN_CLITICS = (("l&apos;", "l'", "right"), ("un&apos;", "un'", "right"), ("dell&apos;", "dell'", "right"),
                   ("all&apos;", "all'", "right"), ("c&apos;", "c'", "right"))  # fmt: skip
HAN_GROWTH = (0.15, 0.2)  # Chinese words: mostly one or two characters
CJK = {"spaced": False, "cased": False, "comma": "，", "stops": ("。", "？", "！"), "growth": HAN_GROWTH}
ARABIC = {"cased": False, "comma": "،", "stops": (".", "؟", "!")}
VIETNAMESE_VOWELS = "aáàảãạăắằẳẵặâấầẩẫậeéèẻẽẹêếềểễệiíìỉĩịoóòỏõọôốồổỗộơớờởỡợuúùủũụưứừửữựyýỳỷỹỵ"
VIETNAMESE_ONSETS = (*"bcdđghklmnpqrstvx", "ch", "nh", "ng", "th", "tr", "ph", "kh")
DEVANAGARI = "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
DEVANAGARI_SIGNS = ("", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं")
DEVANAGARI_VOWELS = tuple("अआइईउऊएऐओऔ")

SCRIPTS: dict[str, Callable[[], Script]] = {
    "en": lambda: latin(extra="wy", clusters=("th", "sh", "ch", "wh"), codas="nrstldk", clitics=ENGLISH_CLITICS),
    "es": lambda: latin("aeiouáéíóú", "ñ", ratio=1.08),
    "pt-br": lambda: latin("aeiouáâãéêíóôõú", "ç", ratio=1.05),
    "pt": lambda: latin("aeiouáâãéêíóôõú", "ç", ratio=1.05),
    "gl": lambda: latin("aeiouáéíóú", "ñ", ratio=1.05),
    "fr": lambda: latin("aeiouéèêàâîôûùë", "ç", ("ch", "qu"), ratio=1.12, clitics=FRENCH_CLITICS),
    "fr-ca": lambda: latin("aeiouéèêàâîôûùë", "ç", ("ch", "qu"), ratio=1.12, clitics=FRENCH_CLITICS),
    # "calv" (TED's own code) is read as Catalan/Valencian: an assumption, it only chooses the diacritics
    "calv": lambda: latin("aeiouàèéíïòóúü", "ç", ratio=1.08, clitics=FRENCH_CLITICS[:2]),
    "it": lambda: latin("aeiouàèéìòù", ratio=1.03, clitics=ITALIAN_CLITICS),
    "ro": lambda: latin("aeiouăâî", "șț", ratio=1.05),
    "de": lambda: latin("aeiouäöü", "wß", ("sch", "ch", "pf"), codas="nrstlch", ratio=0.95),
    "nl": lambda: latin(("a", "e", "i", "o", "u", "ij", "ee", "oe"), "wj", ("sch",), ratio=0.98),
    "da": lambda: latin("aeiouyæøå", "w", ratio=0.95),
    "nb": lambda: latin("aeiouyæøå", "w", ratio=0.95),
    "sv": lambda: latin("aeiouyåäö", "w", ratio=0.95),
    "fi": lambda: latin(("a", "e", "i", "o", "u", "y", "ä", "ö", "aa", "ää"), ratio=0.75),
    "et": lambda: latin("aeiouäöüõ", "šž", ratio=0.8),
    "hu": lambda: latin("aáeéiíoóöőuúüű", "y", ("sz", "gy", "cs"), ratio=0.85),
    "cs": lambda: latin("aeiouyáéěíóúůý", "čďňřšťž", ratio=0.85),
    "sk": lambda: latin("aeiouyáäéíóôúý", "čďĺľňŕšťž", ratio=0.85),
    "pl": lambda: latin("aąeęioóuy", "ćłńśźżw", ("sz", "cz", "rz"), ratio=0.88),
    "sl": lambda: latin("aeiou", "čšž", ratio=0.9),
    "hr": lambda: latin("aeiou", "čćšžđ", ratio=0.9),
    "bs": lambda: latin("aeiou", "čćšžđ", ratio=0.9),
    "sq": lambda: latin("aeiouëy", "çq", ratio=1.05),
    "lt": lambda: latin("aąeęėiįouųūy", "čšž", ratio=0.85),
    "tr": lambda: latin("aeıioöuü", "çğşy", ratio=0.78),
    "az": lambda: latin("aeəıioöuü", "çğşxqy", ratio=0.8),
    "ku": lambda: latin("aeiouêîû", "çşxqw", ratio=0.95),
    "eo": lambda: latin("aeiouŭ", "ĉĝĥĵŝ", ratio=1.0),
    "eu": lambda: latin("aeiou", "ñx", ("tx", "tz"), ratio=0.85),
    "id": lambda: latin("aeiou", "wy", ("ng", "ny"), ratio=0.9),
    "ms": lambda: latin("aeiou", "wy", ("ng", "ny"), ratio=0.92),
    # Vietnamese writes a space between syllables: its words are one syllable, the syllables many
    "vi": lambda: Script(
        combos(VIETNAMESE_ONSETS, VIETNAMESE_VOWELS, ("n", "c", "t", "m", "ng")), growth=(0.0, 0.05), ratio=1.3
    ),
    "ru": lambda: cyrillic("аеиоуыяю", "бвгдзклмнпрстфхцчшщж", ratio=0.88),
    "bg": lambda: cyrillic("аеиоуъяю", "бвгдзклмнпрстфхцчшщж", ratio=0.95),
    "uk": lambda: cyrillic("аеиіоуяюєї", "бвгґдзклмнпрстфхцчшщж", ratio=0.9),
    "be": lambda: cyrillic("аеіоуыяюэ", "бвгдзклмнпрстфхцчшжў", ratio=0.9),
    "mk": lambda: cyrillic("аеиоу", "бвгдѓжзѕјклљмнњпрсќтфхцчџш", ratio=0.95),
    "sr": lambda: cyrillic("аеиоу", "бвгдђжзјклљмнњпрстћфхцчџш", ratio=0.9),
    "kk": lambda: cyrillic("аеиоуыәөүұі", "бвгғдзйкқлмнңпрстшж", ratio=0.85),
    "mn": lambda: cyrillic("аэиоуөүыя", "бвгдзклмнпрстхцчшж", ratio=0.85),
    "el": lambda: Script(combos("βγδζθκλμνξπρστφχψ", "αεηιουωάέήίόύώ", "νρ"), stops=(".", ";", "!"), ratio=1.05),
    "ko": lambda: Script(hangul(), cased=False, growth=(0.6, 0.25), ratio=0.75),
    "zh-cn": lambda: Script(han(3000, "zh-cn"), **CJK),
    "zh-tw": lambda: Script(han(3000, "zh-tw"), **CJK),
    "zh": lambda: Script(han(3000, "zh"), **CJK),
    "ja": lambda: Script(han(1800, "ja", kana=True), **{**CJK, "comma": "、", "growth": (0.4, 0.3)}),
    "hi": lambda: abugida(DEVANAGARI, DEVANAGARI_SIGNS, DEVANAGARI_VOWELS, cased=False, stops=("।", "?", "!")),
    "mr": lambda: abugida(DEVANAGARI + "ळ", DEVANAGARI_SIGNS, DEVANAGARI_VOWELS, cased=False, ratio=0.8),
    "bn": lambda: abugida(
        "কখগঘচছজঝটঠডঢণতথদধনপফবভমযরলশষসহ",
        ("", "া", "ি", "ী", "ু", "ূ", "ে", "ৈ", "ো", "ৌ"),
        tuple("অআইউএও"),
        cased=False,
        stops=("।", "?", "!"),
        ratio=0.85,
    ),
    "ta": lambda: abugida(
        "கஙசஞடணதநபமயரலவழளறன",
        ("", "ா", "ி", "ீ", "ு", "ூ", "ெ", "ே", "ை", "ொ", "ோ", "்"),
        tuple("அஆஇஈஉஊஎஏஐஒ"),
        cased=False,
        ratio=0.75,
    ),
    "my": lambda: abugida(
        "ကခဂဃငစဆဇညတထဒဓနပဖဗဘမယရလဝသဟအ",
        ("", "ာ", "ိ", "ီ", "ု", "ူ", "ေ", "ဲ", "ံ"),
        spaced=False,
        cased=False,
        comma="၊",
        stops=("။", "?", "!"),
        growth=(0.3, 0.3),
    ),
    # Thai: no spaces between words and (mostly) no full stop at the end of a sentence
    "th": lambda: abugida(
        "กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮ",
        ("", "า", "ิ", "ี", "ึ", "ื", "ุ", "ู", "ั"),
        [p + c for p in "เแโไ" for c in "กคงจดตทนบปพมยรลวสห"],
        spaced=False,
        cased=False,
        stops=("", "?", "!"),
        growth=(0.4, 0.3),
    ),
    "ar": lambda: abugida("بتثجحخدذرزسشصضطظعغفقكلمنهوي", ("", "ا", "و", "ي"), **ARABIC, ratio=0.85),
    "fa": lambda: abugida("بپتثجچحخدذرزژسشصضطظعغفقکگلمنهوی", ("", "ا", "و", "ی"), **ARABIC, ratio=1.0),
    "ur": lambda: abugida(
        "بپتٹجچحخدڈرڑزسشصطعغفقکگلمنوہی", ("", "ا", "و", "ی", "ے"), **{**ARABIC, "stops": ("۔", "؟", "!")}, ratio=1.05
    ),
    "he": lambda: abugida("אבגדהוזחטיכלמנסעפצקרשת", ("", "ו", "י", "א"), cased=False, ratio=0.85),
    "hy": lambda: Script(
        combos("բգդզթժլխծկհձղճմյնշչպջռսվտրցփքֆ", ("ա", "ե", "է", "ը", "ի", "ո", "ու", "օ"), "նրմ"),
        stops=("։", "?", "!"),
        ratio=0.9,
    ),
    # Georgian: str.capitalize would turn a Mkhedruli letter into Mtavruli, which running text does not use
    "ka": lambda: Script(combos("ბგდვზთკლმნპჟრსტფქღყშჩცძწჭხჯჰ", "აეიოუ", "ნრსლმ"), cased=False, ratio=0.85),
}


# ---------------------------------------------------------------------------------------------------------------
# Vocabularies and rendering


def utf8_blob(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of ``strings`` back to back, with each one's offset and length."""
    encoded = [text.encode() for text in strings]
    sizes = np.fromiter((len(data) for data in encoded), dtype=np.int64, count=len(encoded))
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return blob, np.cumsum(sizes) - sizes, sizes


def gather(blob: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> bytes:
    """The concatenation of ``blob[starts[i]:starts[i] + lengths[i]]`` over ``i``, as one vectorised gather."""
    total = int(lengths.sum())
    if total == 0:
        return b""
    kind = np.int32 if max(total, blob.size) < 2**31 else np.int64  # half the memory traffic of int64
    lengths = lengths.astype(kind, copy=False)
    ends = np.cumsum(lengths, dtype=kind)
    index = np.repeat(starts.astype(kind, copy=False) - (ends - lengths), lengths)
    index += np.arange(total, dtype=kind)
    return blob[index].tobytes()


def affine_codes(count: int, modulus: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct numbers below ``modulus``: the first ones of a random affine bijection of [0, modulus)."""
    multiplier = int(rng.integers(1, 2**40)) | 1
    while math.gcd(multiplier, modulus) != 1:
        multiplier += 2
    offset = int(rng.integers(0, modulus))
    return (np.arange(count, dtype=np.int64) * multiplier + offset) % modulus  # < 2**57 + 2**61: no overflow


MAX_SYLLABLES = 5


def word_list(script: Script, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` words in Zipf rank order (frequent words short), as a UTF-8 blob, offsets and lengths.

    A word's syllable count is 1 + Poisson(a + b log10(rank + 1)); within one syllable count, the words are the
    first codes of a random bijection of all syllable sequences of that length, so no two words are spelled with
    the same syllables (two sequences can still spell one string, which merely merges two types).
    """
    syllables = list(script.syllables)
    size = len(syllables)
    growth = script.growth[0] + script.growth[1] * np.log10(np.arange(count) + 1.0)
    longest = min(MAX_SYLLABLES, int(61 / math.log2(size)))  # the codes of size**longest sequences fit in int64
    length = np.minimum(1 + rng.poisson(growth), longest)
    for syllable_count in range(1, longest):  # more words of a length than it can spell: the rarest get longer
        chosen = np.flatnonzero(length == syllable_count)
        length[chosen[size**syllable_count :]] += 1
    digits = np.zeros((count, longest), dtype=np.int64)
    for syllable_count in range(1, longest + 1):
        chosen = np.flatnonzero(length == syllable_count)
        codes = affine_codes(len(chosen), size**syllable_count, rng)
        for place in range(syllable_count):
            codes, digits[chosen, place] = np.divmod(codes, size)
    order = rng.permutation(size)  # which syllable a digit spells
    syllable_ids = order[digits[np.arange(longest) < length[:, None]]]
    blob, offsets, sizes = utf8_blob(syllables)
    word_bytes = np.add.reduceat(sizes[syllable_ids], np.cumsum(length) - length)
    words = np.frombuffer(gather(blob, offsets[syllable_ids], sizes[syllable_ids]), dtype=np.uint8)
    return words, np.cumsum(word_bytes) - word_bytes, word_bytes


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
        blobs, offsets, lengths, left, right = [], [], [], [], []
        position = 0

        def add(blob, item_offsets, item_lengths, attach_left=None, attach_right=None):
            nonlocal position
            first = sum(len(chunk) for chunk in offsets)
            blobs.append(blob)
            offsets.append(item_offsets + position)
            lengths.append(item_lengths)
            left.append(np.zeros(len(item_offsets), bool) if attach_left is None else attach_left)
            right.append(np.zeros(len(item_offsets), bool) if attach_right is None else attach_right)
            position += blob.size
            return first

        add(*utf8_blob(strings))
        per_lang = {key: [] for key in ("rank_base", "size", "start_base", "stop_base", "separator")}
        self.ratio = []
        for lang in self.langs:
            vocab = vocabulary(lang, seed)
            specials = vocab.specials
            words_blob, word_offsets, word_lengths = vocab.words
            special_blob, special_offsets, special_lengths = utf8_blob([s[2 if self.raw else 1] for s in specials])
            ranks = np.array([s[0] for s in specials], dtype=np.int64)
            is_word = np.ones(vocab.size, bool)
            is_word[ranks] = False
            rank_offsets = np.empty(vocab.size, np.int64)
            rank_lengths = np.empty(vocab.size, np.int64)
            rank_offsets[is_word], rank_lengths[is_word] = word_offsets, word_lengths
            rank_offsets[ranks] = special_offsets + words_blob.size
            rank_lengths[ranks] = special_lengths
            attach_left, attach_right = np.zeros(vocab.size, bool), np.zeros(vocab.size, bool)
            if self.raw:  # Moses text has a space on both sides of every token
                attach_left[ranks] = [s[3] == "left" for s in specials]
                attach_right[ranks] = [s[3] == "right" for s in specials]
            per_lang["rank_base"].append(
                add(np.concatenate([words_blob, special_blob]), rank_offsets, rank_lengths, attach_left, attach_right)
            )
            per_lang["size"].append(vocab.size)
            per_lang["start_base"].append(add(*utf8_blob(vocab.starts)))
            stops = utf8_blob(list(vocab.script.stops))
            per_lang["stop_base"].append(add(*stops, np.full(3, self.raw), None))
            per_lang["separator"].append(self.space if vocab.script.spaced else self.empty)
            self.ratio.append(vocab.script.ratio)
        self.blob = np.concatenate(blobs)
        self.offsets = np.concatenate(offsets)
        self.lengths = np.concatenate(lengths)
        self.attach_left = np.concatenate(left)
        self.attach_right = np.concatenate(right)
        for key, values in per_lang.items():
            setattr(self, key, np.array(values, dtype=np.int64))
        self.span = np.array([zipf_span(size) for size in self.size])
        self.start_span = zipf_span(SENTENCE_STARTS)
        self.ratio = np.array(self.ratio)
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


# ---------------------------------------------------------------------------------------------------------------
# TED talks


TED_HEADER = (
    "talk_name en es pt-br fr ru he ar ko zh-cn it ja zh-tw nl ro tr de vi pl pt bg el fa sr hu hr uk cs id th sv "
    "sk sq lt da calv my sl mk fr-ca fi hy hi nb ka mn et ku gl mr zh ur eo ms az ta bn kk be eu bs"
).split()
TED_SPLITS = ("train", "dev", "test")
TED_ROWS = {"train": 258_098, "dev": 6_049, "test": 7_213}  # TFDS ted_multi_translate
# (train, dev, test) pairs with English: ../shared/spec/datasets.md §1.2 (pt: its training size only)
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


# ---------------------------------------------------------------------------------------------------------------
# Archives


class TarGz:
    """A gzipped tar with nothing of the moment in it: gzip mtime 0, no file name in the gzip header, fixed member
    dates and owners."""

    def __init__(self, path: Path):
        self.raw = open(path, "wb")
        self.gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=COMPRESSION_LEVEL, mtime=0)
        self.tar = tarfile.open(fileobj=self.gzip, mode="w", format=tarfile.GNU_FORMAT, copybufsize=1 << 20)

    def info(self, name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, ARCHIVE_MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def directory(self, name: str) -> None:
        self.tar.addfile(self.info(name, tarfile.DIRTYPE, 0o755))

    def file(self, name: str, source: Path) -> None:
        with open(source, "rb") as handle:
            self.tar.addfile(self.info(name, tarfile.REGTYPE, 0o644, source.stat().st_size), handle)

    def data(self, name: str, data: bytes) -> None:
        self.tar.addfile(self.info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tar.close()
        self.gzip.close()
        self.raw.close()


class Zip:
    """A zip (deflated) with fixed member dates and modes."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION_LEVEL)

    def file(self, name: str, source: Path) -> None:
        # ZipFile.write streams the file (a 2 GB side does not go through memory) but dates the member with the
        # file's local modification time: give it the fixed date first
        stamp = time.mktime((*ARCHIVE_DATE, 0, 0, -1))
        os.utime(source, (stamp, stamp))
        os.chmod(source, 0o644)
        self.zip.write(source, name)

    def data(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, ARCHIVE_DATE)
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, data, zipfile.ZIP_DEFLATED, COMPRESSION_LEVEL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()


# ---------------------------------------------------------------------------------------------------------------
# WMT


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


@dataclass(frozen=True)
class TestSet:
    """One dev or test set: ``segments`` sentences in several languages, each written to the members named
    ``(path, language, role)`` (role ``src`` or ``ref``: the SGML wrapper differs)."""

    name: str
    segments: int
    files: tuple[tuple[str, str, str], ...]


def both_ways(folder: str, name: str, lang: str, segments: int, pair_name: str | None = None) -> TestSet:
    """A set of WMT16 on: ``<name>-<l>en-src.<l>.sgm`` / ``-ref.en.sgm`` and the en→l direction, ``-en<l>-``;
    WMT14 names both directions by one pair (``pair_name``, ``fren``)."""
    into, out_of = (pair_name, pair_name) if pair_name else (f"{lang}en", f"en{lang}")
    files = (
        (f"{folder}/{name}-{into}-src.{lang}.sgm", lang, "src"),
        (f"{folder}/{name}-{into}-ref.en.sgm", "en", "ref"),
        (f"{folder}/{name}-{out_of}-src.en.sgm", "en", "src"),
        (f"{folder}/{name}-{out_of}-ref.{lang}.sgm", lang, "ref"),
    )
    return TestSet(name, segments, files)


DEV_TEST = {
    # newstest2013 is multi-way parallel: one set, six languages
    "wmt13-test.tgz": (
        TestSet(
            "newstest2013",
            3000,
            tuple((f"test/newstest2013-src.{lang}.sgm", lang, "src") for lang in ("cs", "de", "en", "es", "fr", "ru")),
        ),
    ),
    "wmt14-test-filtered.tgz": (
        both_ways("test", "newstest2014", "fr", 3003, "fren"),
        both_ways("test", "newstest2014", "de", 2737, "deen"),
    ),
    "wmt16-dev.tgz": (both_ways("dev", "newsdev2016", "ro", 1999),),
    "wmt16-test.tgz": (both_ways("test", "newstest2016", "ro", 1999), both_ways("test", "newstest2016", "tr", 3000)),
    "wmt17-dev.tgz": (both_ways("dev", "newsdev2017", "zh", 2002),),
    "wmt17-test.tgz": (both_ways("test", "newstest2017", "zh", 2001), both_ways("test", "newstest2017", "tr", 3007)),
    "wmt18-dev.tgz": (both_ways("dev", "newsdev2018", "et", 2000),),
    "wmt18-test.tgz": (both_ways("test", "newstest2018", "et", 2000),),
}

WMT_ARCHIVES = (  # in the order config/paper.yaml's wmt6 corpora first name them
    "training-parallel-europarl-v7.tgz", "training-parallel-commoncrawl.tgz", "training-parallel-nc-v9.tgz",
    "wmt13-test.tgz", "wmt14-test-filtered.tgz", "training-parallel-nc-v12.tgz", "opus-unpc-v1.0-en-zh.txt.zip",
    "wmt17-dev.tgz", "wmt17-test.tgz", "training-parallel-ep-v8-wmt18.tgz", "wmt18-dev.tgz", "wmt18-test.tgz",
    "training-parallel-ep-v8-wmt16.tgz", "opus-setimes-v2-en-ro.txt.zip", "wmt16-dev.tgz", "wmt16-test.tgz",
    "opus-setimes-v2-en-tr.txt.zip",
)  # fmt: skip
DATASET_ARCHIVES = {"ted8_diverse": (TED_ARCHIVE,), "ted8_related": (TED_ARCHIVE,), "wmt6": WMT_ARCHIVES}


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


def document_sizes(segments: int, rng) -> list[int]:
    """How a set's segments fall into news documents: 10 to 40 each (the last one what is left)."""
    sizes = []
    while sum(sizes) < segments:
        sizes.append(min(int(rng.integers(10, 41)), segments - sum(sizes)))
    return sizes


def sgm(lines: list[bytes], documents: list[int], test_set: TestSet, lang: str, role: str) -> bytes:
    """WMT's "fake SGML": one ``<seg>`` per line, in documents (the seg ids restart in each)."""
    if role == "src":
        head = f'<srcset setid="{test_set.name}" srclang="any">'
        tail = "</srcset>"
    else:
        head = f'<refset setid="{test_set.name}" srclang="any" trglang="{lang}">'
        tail = "</refset>"
    body = [head.encode()]
    number = 0
    for document, size in enumerate(documents):
        body.append(f'<doc sysid="ref" docid="{test_set.name}-{document:04d}" genre="news" origlang="en">'.encode())
        body += [b'<seg id="%d">%s</seg>' % (seg, line) for seg, line in enumerate(lines[number : number + size], 1)]
        body.append(b"</doc>")
        number += size
    body.append(tail.encode())
    return b"\n".join(body) + b"\n"


def write_dev_test(name: str, path: Path, fraction: float, seed: int, staging: Path) -> tuple[int, int]:
    """A dev/test archive: its sets whole whatever the fraction."""
    sets = DEV_TEST[name]
    langs = ["en", *dict.fromkeys(lang for test_set in sets for _, lang, _ in test_set.files if lang != "en")]
    lexicon = Lexicon(langs, "raw", seed)
    profile = PROFILES["news"]
    members: dict[str, bytes] = {}
    for test_set in sets:
        rng = np.random.default_rng([seed, zlib.crc32(f"{name}:{test_set.name}:{test_set.files[0][0]}".encode())])
        english = lognormal_lengths(rng, test_set.segments, profile.mean, profile.sigma)
        newline = np.full(test_set.segments, lexicon.newline, np.int64)
        fixed = np.full(test_set.segments, -1, np.int64)
        text = {}
        for lang in dict.fromkeys(lang for _, lang, _ in test_set.files):  # one text per language: both directions
            index = lexicon.index(lang)
            count = english if lang == "en" else translated_lengths(rng, english, lexicon.ratio[index], 0.15)
            rendered = lexicon.render(rng, np.full(test_set.segments, index), count, fixed, newline)
            text[lang] = rendered.split(b"\n")[:-1]
        documents = document_sizes(test_set.segments, rng)  # the same in every file of the set
        for member, lang, role in test_set.files:
            members[member] = sgm(text[lang], documents, test_set, lang, role)
    with TarGz(path) as archive:
        for directory in sorted({member.split("/")[0] for member in members}):
            archive.directory(directory)
        for member in sorted(members):
            archive.data(member, members[member])
    return sum(data.count(b"\n") for data in members.values()), sum(len(data) for data in members.values())


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


# ---------------------------------------------------------------------------------------------------------------
# The directory: archives, stamp, table


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
    return table, written


def generate(
    out_dir: Path, fraction: float, datasets: Iterable[str] = ("ted8_diverse", "ted8_related", "wmt6"), seed: int = 0
) -> Path:
    """Write the archives the datasets need (TED archive once for both ted8_*; the WMT archives for wmt6) and
    out_dir/downloads.tsv; return the table's path. Reuses files already generated with the same fraction and seed
    (a small stamp file records them) so a rerun costs nothing."""
    return generate_files(out_dir, fraction, datasets, seed)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory of the archives and downloads.tsv")
    parser.add_argument("--fraction", required=True, type=float, help="of the real training sizes, in (0, 1]")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    table, written = generate_files(args.out, args.fraction, args.datasets, args.seed)
    for item in written:
        cost = (
            "reused"
            if item.reused
            else f"{item.seconds:.1f} s, {item.text_bytes / 1e6 / item.seconds:.1f} MB/s of text"
        )
        print(
            f"{item.name}: {item.bytes / 1e6:.1f} MB ({item.text_bytes / 1e6:.1f} MB of text), "
            f"{item.lines} lines, {cost}"
        )
    print(f"{table} ({time.perf_counter() - began:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
