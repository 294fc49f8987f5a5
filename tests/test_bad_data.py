"""Bad input data stops the pipeline before training, with the file, line or language named; nothing is written."""

import functools
import io
import json
import tarfile

import pytest
import yaml

from lssd.data import ted, user, wmt
from tests.helpers import (
    REPO,
    snakemake,
    tar_of,
    ted_spec,
    tsv_archive,
    tsv_bytes,
    user_spec,
    wmt_spec,
    write_corpus,
)


def test_a_byte_order_mark_is_removed_and_joiners_inside_words_are_kept(tmp_path):
    root = write_corpus(tmp_path / "mine")
    (root / "train.bos-eng.bos").write_bytes("\ufeffbos 0\nक्\u200dष\nbos 2\n".encode())
    user.build(user_spec(root), "mine", tmp_path / "out")
    assert (tmp_path / "out" / "train.bos-eng.bos").read_text() == "bos 0\nक्\u200dष\nbos 2\n"


def test_a_good_corpus_is_imported(tmp_path):
    root = write_corpus(tmp_path / "mine")
    manifest = user.build(user_spec(root), "mine", tmp_path / "out")
    assert manifest["languages"]["bos"]["sizes"] == {"train": 3, "valid": 3, "test": 3}
    assert (tmp_path / "out" / "train.bos-eng.bos").read_text() == "bos 0\nbos 1\nbos 2\n"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / "train.fra-eng.eng").write_text("a\nb\n"), "has 3 lines but {root}/train.fra-eng.eng has 2"),
        (lambda r: (r / "valid.bos-eng.bos").write_text("x\n\ny\n"), "{root}/valid.bos-eng.bos, line 2: empty"),
        (lambda r: (r / "test.bos-eng.eng").write_text("x\n \t \ny\n"), "{root}/test.bos-eng.eng, line 2: empty"),
        (
            lambda r: (r / "train.bos-eng.bos").write_bytes(b"ok\nbad \xff\xfe\nok\n"),
            "{root}/train.bos-eng.bos, line 2: invalid UTF-8",
        ),
        (lambda r: (r / "test.fra-eng.fra").unlink(), "missing file(s): {root}/test.fra-eng.fra"),
        (
            lambda r: (r / "valid.fra-eng.fra").write_text("x\n\u200b\u200d \ufeff\ny\n"),
            "{root}/valid.fra-eng.fra, line 2: empty line (or only spaces or invisible characters)",
        ),
        (lambda r: (r / "train.fra-eng.eng").write_bytes(b"a\nb\x00c\nd\n"), "{root}/train.fra-eng.eng, line 2: a NUL"),
        (
            lambda r: (r / "train.fra-eng.eng").write_text("a\nb\nc\n", encoding="utf-16"),
            "{root}/train.fra-eng.eng, line 1: a NUL byte",
        ),
        (
            lambda r: [(r / f"valid.fra-eng.{side}").write_text("") for side in ("fra", "eng")],
            "language 'fra' has no valid pairs",
        ),
    ],
)
def test_bad_parallel_files_are_rejected_naming_file_and_line(tmp_path, damage, message):
    root = write_corpus(tmp_path / "mine")
    damage(root)
    with pytest.raises(ValueError) as error:
        user.build(user_spec(root), "mine", tmp_path / "out")
    assert message.format(root=root) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_ted_language_missing_from_the_source_is_named(tmp_path):
    archive = tmp_path / "ted_talks.tar.gz"
    tsv_archive(archive, ["talk_name", "en", "fr"], [["t1", "Hello .", "Bonjour ."]])
    with pytest.raises(ValueError, match=r"all_talks_train.tsv, line 1: no column 'bs' \(language bos\)"):
        ted.build(ted_spec({"fra": "fr", "bos": "bs"}), "ted", archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_ted_language_with_zero_pairs_after_filtering_is_named(tmp_path):
    archive = tmp_path / "ted_talks.tar.gz"
    rows = [["t1", "Hello .", "Bonjour .", "__NULL__"], ["t1", "Yes .", "Oui .", "_ _ NULL _ _"]]
    tsv_archive(archive, ["talk_name", "en", "fr", "bs"], rows)
    with pytest.raises(ValueError, match="language 'bos' \\(TED column 'bs'\\) has no train pairs"):
        ted.build(ted_spec({"fra": "fr", "bos": "bs"}), "ted", archive, tmp_path / "out")


def test_ted_malformed_row_is_named_with_its_line(tmp_path):
    archive = tmp_path / "ted_talks.tar.gz"
    tsv_archive(archive, ["talk_name", "en", "fr"], [["t1", "Hello .", "Bonjour ."], ["t1", "Yes ."]])
    with pytest.raises(ValueError, match="all_talks_train.tsv, line 3: 2 tab-separated fields, the header has 3"):
        ted.build(ted_spec({"fra": "fr"}), "ted", archive, tmp_path / "out")


def test_ted_invalid_utf8_is_named_with_its_line(tmp_path):
    archive = tmp_path / "ted_talks.tar.gz"
    data = b"talk_name\ten\tfr\nt1\tHello .\tBonjour .\nt1\tYes .\tOui \xff .\n"
    with tarfile.open(archive, "w:gz") as handle:
        for split in ("train", "dev", "test"):
            info = tarfile.TarInfo(f"all_talks_{split}.tsv")
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="all_talks_train.tsv, line 3: invalid UTF-8"):
        ted.build(ted_spec({"fra": "fr"}), "ted", archive, tmp_path / "out")


def test_wmt_sides_with_different_line_counts_are_named(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    texts = {"c.fr-en.fr": b"a\nb\nc\n", "c.fr-en.en": b"A\nB\n", "t.fr": b"x\n", "t.en": b"X\n"}
    tar_of(downloads / "train.tgz", {f"training/{name}": text for name, text in texts.items()})
    pair = {"download": "train.tgz", "foreign": "t.fr", "english": "t.en"}
    train = [{"download": "train.tgz", "foreign": "c.fr-en.fr", "english": "c.fr-en.en"}]
    spec = wmt_spec({"train": train, "valid": pair, "test": pair})
    with pytest.raises(ValueError, match="train.tgz:c.fr-en.fr / c.fr-en.en: the two sides have different line counts"):
        wmt.build(spec, "wmt", downloads, tmp_path / "data" / "out")
    assert not (tmp_path / "data" / "out").exists()


# One text check for every source (lssd.data.text). Each builder below makes a tiny dataset of its kind whose French
# side is "fra 0", "fra 1", "fra 2" in every split, with ``text`` as the second sentence of ``split`` and (``bom``)
# a byte-order mark at the start of the file that holds it; it returns the build, the name that file has in
# errors, the line of that second sentence in it, and the output directory.

BOM = "\ufeff"
INVISIBLE = "\u200b\u200d \ufeff"  # a zero-width space, a joiner, a space, a stray U+FEFF: nothing to translate
TED_FILE = {"train": "train", "valid": "dev", "test": "test"}


def french(text=None):
    return ["fra 0", "fra 1" if text is None else text, "fra 2"]


def parallel_files_corpus(tmp_path, split, text=None, bom=False):
    root = write_corpus(tmp_path / "mine", langs=("fra",))
    path = root / f"{split}.fra-eng.fra"
    path.write_text((BOM if bom else "") + "".join(f"{line}\n" for line in french(text)), encoding="utf-8")
    out = tmp_path / "out"
    return lambda: user.build(user_spec(root, langs=("fra",)), "mine", out), str(path), 2, out


def ted_corpus(tmp_path, split, text=None, bom=False):
    header = ["talk_name", "en", "fr"]
    members = {}
    for name, ted_name in TED_FILE.items():
        lines = french(text if name == split else None)
        data = tsv_bytes(header, [["t1", f"english {i}", line] for i, line in enumerate(lines)])
        members[f"all_talks_{ted_name}.tsv"] = (BOM.encode() if bom and name == split else b"") + data
    archive, out = tmp_path / "ted_talks.tar.gz", tmp_path / "out"
    tar_of(archive, members)
    label = f"{archive}:all_talks_{TED_FILE[split]}.tsv"
    return lambda: ted.build(ted_spec({"fra": "fr"}), "ted", archive, out), label, 3, out  # line 1: the header


def wmt_side(lines, sgml):
    """A WMT file: plain text, or "fake SGML" (two lines of markup, one <seg> per line, then the closing tags)."""
    if not sgml:
        return "".join(f"{line}\n" for line in lines)
    segments = "".join(f'<seg id="{i}">{line}</seg>\n' for i, line in enumerate(lines, start=1))
    return f'<srcset setid="s" srclang="any">\n<doc docid="d" genre="news">\n{segments}</doc>\n</srcset>\n'


def wmt_corpus(tmp_path, split, text=None, bom=False, sgml=False):
    """Training corpora are plain text; with ``sgml`` the dev and test sets are "fake SGML"."""
    members, entries = {}, {}
    for name in ("train", "valid", "test"):
        in_sgml = sgml and name != "train"
        ext = ".sgm" if in_sgml else ""
        fr = (BOM if bom and name == split else "") + wmt_side(french(text if name == split else None), in_sgml)
        members[f"wmt/{name}.fr{ext}"] = fr.encode()
        members[f"wmt/{name}.en{ext}"] = wmt_side([f"english {i}" for i in range(3)], in_sgml).encode()
        entries[name] = {"download": "wmt.tgz", "foreign": f"{name}.fr{ext}", "english": f"{name}.en{ext}"}
    downloads, out = tmp_path / "downloads", tmp_path / "data" / "out"
    downloads.mkdir()
    tar_of(downloads / "wmt.tgz", members)
    spec = wmt_spec({**entries, "train": [entries["train"]]})
    line = 4 if sgml and split != "train" else 2
    build = functools.partial(wmt.build, spec, "wmt", downloads, out, log=io.StringIO())
    return build, f"wmt.tgz:{entries[split]['foreign']}", line, out


KINDS = {
    "parallel_files": parallel_files_corpus,
    "ted": ted_corpus,
    "wmt": wmt_corpus,
    "wmt_sgml": functools.partial(wmt_corpus, sgml=True),
}


@pytest.mark.parametrize("split", ["valid", "test"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_dev_or_test_sentence_of_only_invisible_characters_is_refused_naming_file_and_line(tmp_path, kind, split):
    build, label, line, out = KINDS[kind](tmp_path, split, INVISIBLE)
    with pytest.raises(ValueError) as error:
        build()
    assert f"{label}, line {line}: empty " in str(error.value)
    assert "(or only spaces or invisible characters)" in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["wmt", "wmt_sgml"])
def test_an_empty_wmt_dev_segment_is_refused_not_dropped(tmp_path, kind):
    """Dropping it would score a different test set from the one sacrebleu and the paper score."""
    build, label, line, out = KINDS[kind](tmp_path, "valid", "")
    with pytest.raises(ValueError, match=f"{label}, line {line}: empty sentence .* in the dev set"):
        build()
    assert not out.exists()


def test_an_empty_ted_cell_is_a_missing_translation_dropped_and_counted_in_every_split(tmp_path):
    """As in multiDDS, whose per-pair dev and test sets are the rows with both cells filled: not an error."""
    build, _, _, out = ted_corpus(tmp_path, "valid", "")
    manifest = build()
    assert manifest["languages"]["fra"]["dropped_rows"]["valid"] == {"missing_translation": 1}
    assert (out / "valid.fra-eng.fra").read_text() == "fra 0\nfra 2\n"


@pytest.mark.parametrize("kind", ["ted", "wmt"])
def test_a_training_sentence_of_only_invisible_characters_is_dropped_and_counted(tmp_path, kind):
    build, _, _, out = KINDS[kind](tmp_path, "train", INVISIBLE)
    manifest = build()
    assert (out / "train.fra-eng.fra").read_text() == "fra 0\nfra 2\n"
    assert (out / "train.fra-eng.eng").read_text() == "english 0\nenglish 2\n"
    language = manifest["languages"]["fra"]
    if kind == "ted":
        assert language["dropped_rows"]["train"] == {"invisible_text": 1}
    else:
        assert language["train_dropped_empty"] == 1


@pytest.mark.parametrize("split", ["train", "valid"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_nul_byte_is_refused_naming_file_and_line(tmp_path, kind, split):
    build, label, line, out = KINDS[kind](tmp_path, split, "fra\0 1")
    with pytest.raises(ValueError) as error:
        build()
    assert f"{label}, line {line}: a NUL byte (binary data, or a UTF-16 file?)" in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize("split", ["train", "valid"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_byte_order_mark_at_the_start_of_a_file_is_removed_for_every_kind(tmp_path, kind, split):
    build, _, _, out = KINDS[kind](tmp_path, split, bom=True)
    build()
    assert (out / f"{split}.fra-eng.fra").read_text(encoding="utf-8") == "fra 0\nfra 1\nfra 2\n"


@pytest.mark.parametrize("kind", ["parallel_files", "wmt"])
def test_a_byte_order_mark_at_the_start_of_a_later_line_is_removed(tmp_path, kind):
    """What concatenating files that start with one leaves; a U+FEFF inside a sentence is kept, like a joiner."""
    build, _, _, out = KINDS[kind](tmp_path, "valid", f"{BOM}fra{BOM} 1")
    build()
    assert (out / "valid.fra-eng.fra").read_text(encoding="utf-8") == f"fra 0\nfra{BOM} 1\nfra 2\n"


def test_the_ted_and_wmt_jobs_end_with_the_error_not_a_traceback(tmp_path, capsys):
    for kind in ("ted", "wmt"):
        (tmp_path / kind).mkdir()
    _, label, line, out = ted_corpus(tmp_path / "ted", "train", "fra\0 1")
    spec = json.dumps(ted_spec({"fra": "fr"}))
    argv = ["--spec", spec, "--name", "ted", "--archive", label.split(":")[0], "--outdir", str(out)]
    assert ted.main(argv) == 1
    assert capsys.readouterr().err == f"error: {label}, line {line}: a NUL byte (binary data, or a UTF-16 file?)\n"
    build, label, line, out = wmt_corpus(tmp_path / "wmt", "test", "")
    spec = json.dumps(build.args[0])
    assert wmt.main(["--spec", spec, "--name", "wmt", "--downloads", str(build.args[2]), "--outdir", str(out)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {label}, line {line}: empty sentence")
    assert not out.exists()


def test_demo_catalogs_get_the_same_text_check(fake_django):
    from lssd.data import demo

    root, add = fake_django
    path = add("fr", ['msgid "Save"\nmsgstr "Sauvegarder"\n', f'msgid "Hidden"\nmsgstr "{INVISIBLE}"\n'])
    pairs, skipped = demo.catalog_pairs([path])
    assert pairs == [("Sauvegarder", "Save")] and skipped["invisible"] == 1
    path.write_text(path.read_text().replace("Sauvegarder", "Sauve\0garder"))
    with pytest.raises(ValueError, match=f"{path}, line 6: a NUL byte"):
        demo.catalog_pairs([path])


@pytest.mark.slow
def test_bad_data_stops_the_dag_before_any_training(tmp_path):
    root = write_corpus(tmp_path / "mine", lines=30)
    (root / "train.bos-eng.bos").write_bytes((root / "train.bos-eng.bos").read_bytes().replace(b"bos 7", b"bos \xff"))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = {
        "mine": {
            **user_spec(root),
            "spm": {"recipe": "joint", "vocab_size": 100},
            "training": "demo_tiny",
        }
    }
    config["run"].update(datasets=["mine"], methods=["baseline"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "1", "--configfile", "config.yaml", cwd=tmp_path)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "data" / "mine.log").read_text()
    assert f"{root}/train.bos-eng.bos, line 8: invalid UTF-8" in log
    assert not (tmp_path / "results" / "data" / "mine").exists()
    assert not (tmp_path / "results" / "train").exists() and not (tmp_path / "logs" / "train").exists()
    # a language whose files are missing: Snakemake names the file before any job runs
    (root / "test.fra-eng.fra").unlink()
    result = snakemake("-n", "--configfile", "config.yaml", cwd=tmp_path)
    assert result.returncode != 0 and "test.fra-eng.fra" in result.stdout + result.stderr


def test_a_vocabulary_sentencepiece_refuses_names_the_config_key(tmp_path, capsys):
    from lssd.data import spm

    root = write_corpus(tmp_path / "mine", lines=30)
    user.build(user_spec(root), "mine", tmp_path / "data")
    spec = {**user_spec(root), "spm": {"recipe": "joint", "vocab_size": 8}}
    argv = ["train", "--spec", json.dumps(spec), "--data", str(tmp_path / "data"), "--models", str(tmp_path / "m")]
    assert spm.main([*argv, "--model", "joint", "--dataset", "mine"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: datasets.mine.spm.vocab_size = 8: SentencePiece cannot train the 'joint' model")
    assert "Vocabulary size is smaller than required_chars" in error
    assert not (tmp_path / "m" / "spm.joint.model").exists()


@pytest.mark.slow
def test_a_dev_sentence_longer_than_the_model_stops_the_dag_before_training(tmp_path):
    """fairseq would stop on it in the first validation (or in translation); it is found when the data-bin is built."""
    root = write_corpus(tmp_path / "mine", lines=30)
    lines = (root / "valid.fra-eng.eng").read_text().splitlines()
    lines[2] = " ".join(f"w{i}" for i in range(300))
    (root / "valid.fra-eng.eng").write_text("\n".join(lines) + "\n")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = {
        "mine": {**user_spec(root), "spm": {"recipe": "joint", "vocab_size": 100}, "training": "demo_tiny"}
    }
    config["run"].update(datasets=["mine"], methods=["baseline"], directions=["o2m"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "2", "--configfile", "config.yaml", cwd=tmp_path)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "binarize" / "mine.log").read_text()
    assert (
        "error: results/data/mine/valid.fra-eng.eng, line 3: " in log
        and "too long for the model's 256 positions" in log
    )
    assert "(trainings.demo_tiny.max_positions or an override of it)" in log
    assert not (tmp_path / "results" / "bin" / "mine").exists() and not (tmp_path / "results" / "train").exists()
