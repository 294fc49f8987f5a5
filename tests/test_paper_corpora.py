"""benchmarks/paper_corpora.py (the package benchmarks/corpora/): the synthetic paper-size corpora are what
config/paper.yaml downloads, in the real layouts and sizes, byte-identical for one fraction and seed, and what the
TED and WMT extractions accept."""

from __future__ import annotations

import collections
import copy
import csv
import hashlib
import io
import re
import shutil
import tarfile
import zipfile

import numpy as np
import pytest
import yaml

from benchmarks import paper_corpora as pc
from benchmarks.corpora.files import STAMP, TABLE, WMT_ARCHIVES, writer
from benchmarks.corpora.ted import TALK_ROWS, TED_ARCHIVE, TED_HEADER, TED_SPLITS, ted_counts, ted_rows
from benchmarks.corpora.text import Lexicon, lognormal_lengths, scaled, vocabulary
from benchmarks.corpora.wmt import MIN_TRAIN_LINES, TRAINING
from lssd.config import dataset_downloads, stage_spec
from lssd.data import ted, wmt
from lssd.data.archive import find_member, member_names
from lssd.data.download import read_table
from tests.helpers import REPO

FRACTION = 0.001
SPLIT_OF = {"train": "train", "valid": "dev", "test": "test"}  # the pipeline's split → TED's file
TED_ROWS = {"train": 258_098, "dev": 6_049, "test": 7_213}  # TFDS ted_multi_translate
# (train, dev, test) pairs of the published sizes (benchmarks/corpora/ted.py), a few of them
TED_SIZES = {"bs": (5664, 474, 463), "fr": (192304, 4320, 4866), "ko": (205640, 4441, 5637), "be": (4510, 249, 665),
             "ru": (208107, 4806, 5477), "pt-br": (185000, 4035, 4855), "sk": (61500, 2271, 2445)}  # fmt: skip


@pytest.fixture(scope="module")
def paper():
    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper_corpora")
    table, written = pc.generate_files(out, FRACTION)
    return out, table, written


@pytest.fixture(scope="module")
def tsvs(corpora):
    """The TED archive's three tables: split → rows (header first), as csv reads them (QUOTE_NONE)."""
    out, _, _ = corpora
    tables = {}
    with tarfile.open(out / TED_ARCHIVE) as archive:
        for split in TED_SPLITS:
            data = archive.extractfile(f"ted_talks/all_talks_{split}.tsv").read().decode()
            tables[split] = list(csv.reader(io.StringIO(data), delimiter="\t", quoting=csv.QUOTE_NONE))
    return tables


def column(tables, split, name):
    header = tables[split][0]
    return [row[header.index(name)] for row in tables[split][1:]]


def member_text(path, name) -> str:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return archive.read(name).decode()
    with tarfile.open(path) as archive:
        return archive.extractfile(name).read().decode()


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_archives_are_what_the_paper_config_downloads(paper, corpora):
    out, _, written = corpora
    for name in ("ted8_diverse", "ted8_related"):
        assert dataset_downloads(paper["datasets"][name]) == [TED_ARCHIVE]
    assert dataset_downloads(paper["datasets"]["wmt6"]) == list(WMT_ARCHIVES)
    expected = {TED_ARCHIVE, *WMT_ARCHIVES}
    assert {item.name for item in written} == expected
    assert {path.name for path in out.iterdir()} == expected | {TABLE, STAMP}
    names_in_table = {line.split("\t")[0] for line in (REPO / "config" / "downloads.tsv").read_text().splitlines()}
    assert expected <= names_in_table  # the names config/downloads.tsv gives them


def test_every_member_the_config_names_is_there(paper, corpora):
    out, _, _ = corpora
    for spec in paper["datasets"]["wmt6"]["source"]["corpora"].values():
        for entry in [*spec["train"], spec["valid"], spec["test"]]:
            names = member_names(out / entry["download"])
            for suffix in (entry["foreign"], entry["english"]):
                find_member(out / entry["download"], suffix, names)  # exactly one member, or an error
    assert sorted(member_names(out / TED_ARCHIVE)) == [
        f"ted_talks/all_talks_{split}.tsv" for split in ("dev", "test", "train")
    ]


def test_the_table_lists_each_file_with_its_size_and_checksum(corpora):
    out, table, _ = corpora
    entries = read_table(table)
    assert set(entries) == {TED_ARCHIVE, *WMT_ARCHIVES}
    for name, entry in entries.items():
        assert entry.url == f"http://mirror.invalid/{name}"
        assert entry.size == (out / name).stat().st_size
        assert entry.sha256 == sha256(out / name)
        assert entry.provenance == f"synthetic paper-size corpus, fraction {FRACTION}, seed 0"


def test_ted_header_rows_and_pairs_per_language(tsvs):
    counts = ted_counts(FRACTION)
    markers = collections.Counter()
    talks_seen = set()
    for split, rows in ted_rows(FRACTION).items():
        assert tsvs[split][0] == TED_HEADER
        assert len(tsvs[split]) - 1 == rows == max(8, round(TED_ROWS[split] * FRACTION))
        for name in TED_HEADER[1:]:
            cells = column(tsvs, split, name)
            markers.update(cell for cell in cells if ted.is_missing(cell))
            assert sum(not ted.is_missing(cell) for cell in cells) == counts[name][split], (split, name)
        talks = column(tsvs, split, "talk_name")
        assert all(re.fullmatch(r"talk_\d{4}", talk) for talk in talks)
        assert len(set(talks)) <= len(talks) // TALK_ROWS[0] + 1  # talks of many consecutive rows
        assert not set(talks) & talks_seen  # and each talk in one split
        talks_seen |= set(talks)
    assert markers["__NULL__"] > 20 * markers["_ _ NULL _ _"] > 0
    # the known sizes (benchmarks/corpora/ted.py) times the fraction, within rounding (never fewer than 2 pairs)
    for name, sizes in TED_SIZES.items():
        for split, size in zip(TED_SPLITS, sizes, strict=True):
            expected = min(max(2, size * FRACTION), ted_rows(FRACTION)[split])
            assert abs(counts[name][split] - expected) <= 0.5, (name, split)
    assert counts["fr"]["train"] == 192 and counts["ko"]["train"] == 206 and counts["pt"]["train"] == 52
    assert all(sizes["train"] >= 2 for sizes in counts.values())


def test_ted_extraction_yields_the_expected_pairs(paper, corpora, tmp_path):
    out, _, _ = corpora
    counts = ted_counts(FRACTION)
    for name in ("ted8_diverse", "ted8_related"):
        spec = stage_spec(paper["datasets"][name], "data")
        manifest = ted.build(spec, name, out / TED_ARCHIVE, tmp_path / name, log=io.StringIO())
        for lang, info in manifest["languages"].items():
            for split, sizes_split in SPLIT_OF.items():
                assert info["sizes"][split] == counts[info["column"]][sizes_split], (name, lang, split)
    # por is the pt-br column (185K), not pt (52K)
    assert manifest["languages"]["por"]["sizes"]["train"] == 185


def test_wmt_extraction_yields_the_expected_pairs(paper, corpora, tmp_path):
    out, _, _ = corpora
    spec = copy.deepcopy(stage_spec(paper["datasets"]["wmt6"], "data"))
    spec["languages"] = {"ron": {"reference_size": 100}, "tur": {"reference_size": 50}}
    manifest = wmt.build(spec, "wmt6", out, tmp_path / "wmt6", log=io.StringIO())
    ron, tur = manifest["languages"]["ron"], manifest["languages"]["tur"]
    assert ron["sizes"] == {"train": 100, "valid": 1999, "test": 1999}
    assert tur["sizes"] == {"train": 50, "valid": 3000, "test": 3007}
    assert ron["train_available"] + ron["train_dropped_empty"] == 399 + 213  # Europarl v8 + SETIMES2, scaled
    assert tur["train_available"] + tur["train_dropped_empty"] == 208


def test_training_corpora_are_aligned_with_a_few_empty_lines(corpora):
    out, _, _ = corpora
    empty_one_side = 0
    for name, spec in TRAINING.items():
        for corpus in spec.corpora:
            foreign = member_text(out / name, corpus.foreign).split("\n")[:-1]
            english = member_text(out / name, corpus.english).split("\n")[:-1]
            assert len(foreign) == len(english) == scaled(corpus.lines, FRACTION, MIN_TRAIN_LINES)
            both = [(f, e) for f, e in zip(foreign, english, strict=True) if f and e]
            assert all(f or e for f, e in zip(foreign, english, strict=True))  # never both sides
            empty_one_side += len(foreign) - len(both)
            if corpus.profile == "europarl" and len(both) > 300:  # translations have correlated lengths
                lengths = np.array([(len(f.split()), len(e.split())) for f, e in both if corpus.lang != "zh"])
                assert np.corrcoef(lengths.T)[0, 1] > 0.8
                assert 22 < lengths[:, 1].mean() < 32  # Europarl English: about 27 tokens
    assert 20 < empty_one_side < 200  # about 0.3% of some 32K lines
    europarl = member_text(out / "training-parallel-europarl-v7.tgz", "training/europarl-v7.fr-en.fr")
    assert europarl.count("\n") == 2008  # 2,007,723 lines
    assert member_text(out / "opus-unpc-v1.0-en-zh.txt.zip", "UNPC.en-zh.en").count("\n") == 15886  # 15,886,041


def letters(text: str) -> str:
    return "".join(char for char in text if char.isalpha())


def share(text: str, pattern: str) -> float:
    found = letters(text)
    return len(re.findall(pattern, found)) / max(1, len(found))


def test_scripts_tokenization_and_lengths(tsvs, corpora):
    out, _, _ = corpora
    cells = {name: " ".join(c for c in column(tsvs, "train", name) if not ted.is_missing(c)) for name in TED_HEADER}
    assert share(cells["el"], "[\u0370-\u03ff]") > 0.99
    assert share(cells["ko"], "[\uac00-\ud7a3]") > 0.99
    assert share(cells["ru"], "[\u0400-\u04ff]") > 0.99
    assert share(cells["hi"], "[\u0900-\u097f]") > 0.99
    assert share(cells["en"], "[a-zA-Z]") == 1.0
    assert re.search("[éèêàç]", cells["fr"])
    assert share(cells["zh-cn"], "[\u4e00-\u9fff]") > 0.99
    assert all(" " not in cell for cell in column(tsvs, "train", "zh-cn") if not ted.is_missing(cell))
    # Moses tokenization: punctuation split off, apostrophes and quotes escaped
    assert " &apos;s " in cells["en"] and "l&apos; " in cells["fr"] and " &quot; " in cells["en"]
    assert "'" not in cells["en"] and " ." in cells["en"] and " , " in cells["en"]
    english = [cell.split() for cell in column(tsvs, "train", "en")]
    assert 17 < np.mean([len(tokens) for tokens in english]) < 23  # TED: about 20 tokens a sentence
    assert all(tokens[0][0].isupper() for tokens in english)
    # WMT text is untokenized: punctuation attached, raw apostrophes; Chinese without spaces
    news = member_text(out / "training-parallel-nc-v9.tgz", "training/news-commentary-v9.fr-en.en")
    assert "'s " in news and "&apos;" not in news and re.search(r"\w[.?!]\n", news) and " ." not in news
    unpc = [line for line in member_text(out / "opus-unpc-v1.0-en-zh.txt.zip", "UNPC.en-zh.zh").split("\n") if line]
    assert share("".join(unpc), "[\u4e00-\u9fff]") > 0.99 and not any(" " in line for line in unpc)


def test_dev_and_test_sets_are_whole_fake_sgml(corpora):
    out, _, _ = corpora
    text = member_text(out / "wmt17-test.tgz", "test/newstest2017-zhen-src.zh.sgm")
    lines = text.splitlines()
    assert lines[0] == '<srcset setid="newstest2017" srclang="any">' and lines[-1] == "</srcset>"
    segments = wmt.SEGMENT.findall(text)
    assert len(segments) == 2001 and all(segments)
    assert sum(line.startswith("<doc ") for line in lines) > 40  # documents of 10 to 40 segments
    reference = member_text(out / "wmt17-test.tgz", "test/newstest2017-zhen-ref.en.sgm")
    assert reference.startswith('<refset setid="newstest2017" srclang="any" trglang="en">')
    assert len(wmt.SEGMENT.findall(reference)) == 2001
    documents = [line for line in lines if not line.startswith("<seg")][1:-1]
    assert documents == [line for line in reference.splitlines() if not line.startswith("<seg")][1:-1]
    # both directions of one set hold the same sentences
    assert wmt.SEGMENT.findall(member_text(out / "wmt17-test.tgz", "test/newstest2017-enzh-ref.zh.sgm")) == segments


def test_vocabularies_are_zipfian_with_many_types():
    lexicon = Lexicon(["de"], "moses", seed=3)
    rng = np.random.default_rng(0)
    lines = 20000
    count = lognormal_lengths(rng, lines, 20.0, 0.6)
    text = lexicon.render(rng, np.zeros(lines, int), count, np.full(lines, -1), np.full(lines, lexicon.newline))
    frequencies = np.array(sorted(collections.Counter(text.decode().split()).values(), reverse=True), float)
    ranks = np.arange(1, len(frequencies) + 1)
    slope = np.polyfit(np.log(ranks[10:2000]), np.log(frequencies[10:2000]), 1)[0]
    assert -1.25 < slope < -0.95
    assert len(frequencies) > 40_000  # of 400K tokens; the vocabulary has 120K types
    words = vocabulary("de", 3).words
    spelled = {bytes(words[0][offset : offset + size]) for offset, size in zip(words[1], words[2], strict=True)}
    assert len(spelled) > 0.98 * len(words[1])


def test_same_fraction_and_seed_same_bytes_and_reruns_reuse(corpora, tmp_path, capsys):
    out, _, written = corpora
    digest = {item.name: item.sha256 for item in written}
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(out / STAMP, again / STAMP)
    with open(again / TED_ARCHIVE, "wb") as handle:  # the stamp's file, one byte too long: written again
        handle.write((out / TED_ARCHIVE).read_bytes() + b"\0")
    table = pc.generate(again, FRACTION, datasets=("ted8_related",))
    assert sha256(again / TED_ARCHIVE) == digest[TED_ARCHIVE]
    assert [line.split("\t")[0] for line in table.read_text().splitlines()] == ["name", TED_ARCHIVE]
    for name in ("opus-setimes-v2-en-tr.txt.zip", "wmt16-test.tgz"):
        writer(name)(again / name, FRACTION, 0, tmp_path)
        assert sha256(again / name) == digest[name]
    writer("wmt16-test.tgz")(tmp_path / "other-seed.tgz", FRACTION, 1, tmp_path)
    assert sha256(tmp_path / "other-seed.tgz") != digest["wmt16-test.tgz"]
    # a rerun reuses the file
    modified = (again / TED_ARCHIVE).stat().st_mtime_ns
    assert pc.main(["--out", str(again), "--fraction", str(FRACTION), "--datasets", "ted8_diverse"]) == 0
    assert f"{TED_ARCHIVE}: " in (printed := capsys.readouterr().out) and "reused" in printed
    assert (again / TED_ARCHIVE).stat().st_mtime_ns == modified
    # another fraction: nothing is reused
    assert pc.generate_files(again, 0.0005, datasets=("ted8_diverse",))[1][0].reused is False


def test_wmt_languages_built_side_by_side_give_the_same_dataset(paper, corpora, tmp_path):
    out, _, _ = corpora
    spec = copy.deepcopy(stage_spec(paper["datasets"]["wmt6"], "data"))
    for info in spec["languages"].values():
        info["reference_size"] = 40
    logs = {}
    for workers in (1, 3):
        logs[workers] = io.StringIO()
        wmt.build(spec, "wmt6", out, tmp_path / f"w{workers}", log=logs[workers], workers=workers)
    files = sorted(path.relative_to(tmp_path / "w1") for path in (tmp_path / "w1").rglob("*") if path.is_file())
    assert len(files) == 1 + 6 * 3 * 2  # the manifest, then every language's three splits, both sides
    for name in files:
        assert (tmp_path / "w3" / name).read_bytes() == (tmp_path / "w1" / name).read_bytes(), name
    assert logs[3].getvalue() == logs[1].getvalue()  # the languages reported in the config's order
