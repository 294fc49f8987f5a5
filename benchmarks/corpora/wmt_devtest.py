"""The WMT-6 dev/test archives: the ``.tgz`` files with their "fake SGML" ``.sgm`` sets in both directions, with
the real segment counts (never scaled: the sets are always used whole). Untokenized text, as the releases have it.
The releases' other years' test sets are left out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.corpora.archives import TarGz
from benchmarks.corpora.text import Lexicon, lognormal_lengths, translated_lengths
from benchmarks.corpora.wmt import PROFILES


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
