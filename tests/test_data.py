"""Corpus extraction from gettext catalogs, splitting and subsampling."""

import json

import pytest

from lssd.data import demo
from lssd.data.parallel import (
    read_parallel,
    split_of,
    split_pairs,
    subsample,
    subsample_sizes,
)
from lssd.data.text import normalize_text

ENTRIES = [
    'msgid "Save"\nmsgstr "Sauvegarder"\n',
    '#, fuzzy\nmsgid "Delete"\nmsgstr "Supprimer?"\n',
    'msgid "%(count)s item"\nmsgid_plural "%(count)s items"\n'
    'msgstr[0] "%(count)s objet"\nmsgstr[1] "%(count)s objets"\n',
    'msgctxt "month"\nmsgid "May"\nmsgstr "Mai"\n',
    'msgid "OK"\nmsgstr "OK"\n',
    'msgid "Untranslated"\nmsgstr ""\n',
    '#~ msgid "Obsolete"\n#~ msgstr "Obsolète"\n',
    'msgid ""\n"Two\\n"\n"lines"\nmsgstr "Deux\\tlignes"\n',
    'msgid "Save"\nmsgstr "Enregistrer"\n',
]


def test_catalog_pairs_skips_fuzzy_plural_context_identity_and_duplicates(fake_django):
    root, add = fake_django
    path = add("fr", ENTRIES)
    pairs, skipped = demo.catalog_pairs([path])
    assert pairs == [("Sauvegarder", "Save"), ("Deux lignes", "Two lines")]
    assert skipped["fuzzy"] == 1
    assert skipped["plural"] == 1
    assert skipped["context"] == 1
    assert skipped["identity"] == 1
    assert skipped["untranslated"] == 1
    assert skipped["obsolete"] == 1
    assert skipped["duplicate"] == 1


def test_normalize_text_makes_one_line():
    assert normalize_text("  a\n b\t\tc  ") == "a b c"


def test_split_is_by_english_side_and_deterministic():
    english = [f"string number {i}" for i in range(2000)]
    first = [split_of(e, 10, 10) for e in english]
    assert first == [split_of(e, 10, 10) for e in english]
    counts = {s: first.count(s) for s in ("train", "valid", "test")}
    assert 150 < counts["test"] < 250 and 150 < counts["valid"] < 250
    # two languages with overlapping English strings put each shared string in the same split
    a = split_pairs([(f"a{i}", e) for i, e in enumerate(english[:1500])], 10, 10)
    b = split_pairs([(f"b{i}", e) for i, e in enumerate(english[500:])], 10, 10)
    where_a = {e: split for split, pairs in a.items() for _, e in pairs}
    where_b = {e: split for split, pairs in b.items() for _, e in pairs}
    shared = set(where_a) & set(where_b)
    assert len(shared) == 1000
    assert all(where_a[e] == where_b[e] for e in shared)


def test_split_rejects_impossible_percentages():
    with pytest.raises(ValueError, match="valid_percent"):
        split_pairs([], 60, 40)


def test_subsample_sizes_follow_reference_proportions_with_floor():
    available = {"low": 300, "mid": 500, "high": 600}
    reference = {"low": 5_000, "mid": 100_000, "high": 200_000}
    sizes = subsample_sizes(available, reference, floor=65)
    # high keeps everything; mid = round(600 * 100000 / 200000) = 300; low = max(65, 15) = 65
    assert sizes == {"low": 65, "mid": 300, "high": 600}


def test_subsample_is_deterministic_and_keeps_order():
    pairs = [(f"x{i}", f"english {i}") for i in range(100)]
    chosen = subsample(pairs, 10)
    assert chosen == subsample(list(pairs), 10)
    assert len(chosen) == 10
    assert chosen == sorted(chosen, key=pairs.index)


def demo_spec(langs, locales, subsample_floor=None, reference=None):
    languages = {lang: {"role": "low"} for lang in langs}
    if reference:
        for lang in langs:
            languages[lang]["reference_size"] = reference[lang]
    return {
        "pivot": "eng",
        "languages": languages,
        "source": {
            "kind": "django_catalogs",
            "locales": locales,
            "valid_percent": 20,
            "test_percent": 20,
            "subsample": {"floor": subsample_floor} if subsample_floor else None,
        },
    }


def test_build_reports_missing_locale(fake_django, tmp_path):
    root, add = fake_django
    add("fr", ENTRIES)
    spec = demo_spec(["bos", "fra"], {"fra": "fr", "bos": "bs"})
    with pytest.raises(ValueError, match="'bos'.*'bs'.*no catalog"):
        demo.build(spec, "toy", tmp_path / "out", root=root)
    assert not (tmp_path / "out").exists()


def test_build_reports_language_with_zero_pairs(fake_django, tmp_path):
    root, add = fake_django
    add("fr", ['msgid "OK"\nmsgstr "OK"\n'])
    with pytest.raises(ValueError, match="'fra'.*zero pairs"):
        demo.build(demo_spec(["fra"], {"fra": "fr"}), "toy", tmp_path / "out", root=root)


@pytest.fixture(scope="module")
def real_demo(tmp_path_factory):
    """The real demo corpus from the installed Django catalogs (three TED-8-Diverse languages)."""
    out = tmp_path_factory.mktemp("demo") / "data"
    reference = {"bos": 5664, "mkd": 25335, "fra": 192304}
    spec = demo_spec(["bos", "mkd", "fra"], {"bos": "bs", "mkd": "mk", "fra": "fr"}, 65, reference)
    spec["source"].update(valid_percent=10, test_percent=10)
    manifest = demo.build(spec, "demo", out)
    return spec, out, manifest


def test_real_demo_corpus_sizes_and_manifest(real_demo):
    spec, out, manifest = real_demo
    assert json.loads((out / "manifest.json").read_text()) == manifest
    sizes = {lang: info["sizes"] for lang, info in manifest["languages"].items()}
    for lang, lang_sizes in sizes.items():
        for split, count in lang_sizes.items():
            assert len(read_parallel(out, split, lang, "eng")) == count
    # the catalogs give a few hundred pairs; French keeps them all, Bosnian is cut to the floor
    assert sizes["fra"]["train"] == manifest["languages"]["fra"]["train_available"] > 400
    assert sizes["bos"]["train"] == 65
    assert sizes["fra"]["train"] > sizes["mkd"]["train"] > sizes["bos"]["train"]
    assert manifest["source"]["version"].startswith("5.2")


def test_real_demo_no_dev_or_test_string_in_train_and_shared_test_sets(real_demo):
    spec, out, manifest = real_demo
    english = {
        (lang, split): {e for _, e in read_parallel(out, split, lang, "eng")}
        for lang in manifest["languages"]
        for split in ("train", "valid", "test")
    }
    all_train = set().union(*(english[(lang, "train")] for lang in manifest["languages"]))
    for lang in manifest["languages"]:
        assert not (english[(lang, "valid")] | english[(lang, "test")]) & all_train
        pairs = read_parallel(out, "train", lang, "eng")
        assert all(foreign != eng for foreign, eng in pairs), "identity pairs must be dropped"
        assert len({eng for _, eng in pairs}) == len(pairs), "pairs are deduplicated by English side"
    # multi-way: French and Macedonian test sets share most of their English strings
    shared = english[("fra", "test")] & english[("mkd", "test")]
    assert len(shared) >= 0.5 * len(english[("mkd", "test")])


def test_real_demo_is_deterministic(real_demo, tmp_path):
    spec, out, _ = real_demo
    demo.build(spec, "demo", tmp_path / "again")
    for path in sorted(out.iterdir()):
        assert path.read_bytes() == (tmp_path / "again" / path.name).read_bytes(), path.name


def test_languages_binarized_side_by_side_give_the_same_data_bin(data_bin, tmp_path):
    import io

    from lssd.data.binarize import binarize, non_pivot_languages

    root, spec = data_bin
    log = io.StringIO()
    binarize(spec, root / "encoded", tmp_path / "bin", workers=3, log=log)
    # fairseq's own preprocess.log is the only file that differs (its lines as the workers wrote them)
    serial = sorted(p.relative_to(root / "bin") for p in (root / "bin").rglob("*") if p.name != "preprocess.log")
    parallel = sorted(
        p.relative_to(tmp_path / "bin") for p in (tmp_path / "bin").rglob("*") if p.name != "preprocess.log"
    )
    assert parallel == serial
    for name in serial:
        assert (tmp_path / "bin" / name).read_bytes() == (root / "bin" / name).read_bytes(), name
    commands = [line for line in log.getvalue().splitlines() if line.startswith("$ fairseq-preprocess")]
    assert [command.split("--source-lang ")[1].split()[0] for command in commands] == non_pivot_languages(spec)
    assert "Wrote preprocessed data" in log.getvalue()


@pytest.mark.parametrize("pieces", [0, 1, 3, 4, 5, 12, 13])
def test_dictionaries_are_fairseq_preprocess_s_own_padded_to_a_multiple_of_8(pieces):
    """As the original's dictionaries (fairseq-preprocess, threshold 0, its default --padding-factor 8): the same
    order (ties by symbol) and the same madeupword entries, checked against fairseq's Dictionary."""
    import io
    from collections import Counter

    from fairseq.data import Dictionary

    from lssd.data.binarize import PADDING_FACTOR, dictionary_lines

    counts = Counter({f"▁p{index}": 1 + index % 3 for index in range(pieces)})
    fairseq_dictionary = Dictionary()
    for piece, count in counts.items():
        fairseq_dictionary.add_symbol(piece, n=count)
    fairseq_dictionary.finalize(threshold=0, padding_factor=PADDING_FACTOR)
    written = io.StringIO()
    fairseq_dictionary.save(written)
    assert dictionary_lines(counts, PADDING_FACTOR) == written.getvalue().splitlines()
    assert len(fairseq_dictionary) % 8 == 0


def test_the_data_bin_dictionaries_are_padded_and_the_language_dictionaries_are_not(data_bin):
    from fairseq.data import Dictionary

    root, spec = data_bin
    bin_dir = root / "bin"
    for lang in spec["languages"]:
        dictionary = Dictionary.load(str(bin_dir / f"dict.{lang}.txt"))
        assert len(dictionary) % 8 == 0, lang  # before the task adds its language tokens
        own = (bin_dir / f"LS_dict.{lang}.txt").read_text(encoding="utf-8") if lang != spec["pivot"] else ""
        assert "madeupword" not in own
    padding = [line for line in (bin_dir / "dict.eng.txt").read_text().splitlines() if line.startswith("madeup")]
    assert all(line.endswith(" 0") for line in padding)
