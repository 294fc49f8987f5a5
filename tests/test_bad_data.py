"""Bad input data stops the pipeline before training, with the file, line or language named; nothing is written."""

import io
import json
import tarfile

import pytest
import yaml

from lssd.data import ted, user, wmt
from tests.helpers import PIVOT, REPO, snakemake, ted_spec, tsv_archive, user_spec, write_corpus


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
    with tarfile.open(downloads / "train.tgz", "w:gz") as archive:
        for name, text in (("c.fr-en.fr", b"a\nb\nc\n"), ("c.fr-en.en", b"A\nB\n"), ("t.fr", b"x\n"), ("t.en", b"X\n")):
            info = tarfile.TarInfo(f"training/{name}")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    pair = {"download": "train.tgz", "foreign": "t.fr", "english": "t.en"}
    spec = {
        "pivot": PIVOT,
        "languages": {"fra": {"role": "high", "reference_size": 10}},
        "source": {
            "kind": "wmt",
            "corpora": {
                "fra": {
                    "train": [{"download": "train.tgz", "foreign": "c.fr-en.fr", "english": "c.fr-en.en"}],
                    "valid": pair,
                    "test": pair,
                }
            },
        },
    }
    with pytest.raises(ValueError, match="train.tgz:c.fr-en.fr / c.fr-en.en: the two sides have different line counts"):
        wmt.build(spec, "wmt", downloads, tmp_path / "data" / "out")
    assert not (tmp_path / "data" / "out").exists()


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
