"""Every writer of the pipeline writes under a temporary name and renames: interrupted just before the rename (the
last moment a kill can strike), it leaves neither its output nor a temporary file that a later rule would accept."""

import os

import matplotlib
import pytest

from lssd import io
from lssd.data import download, spm, ted, user
from lssd.report import convergence, figures, tables
from tests.helpers import ted_spec, tsv_archive, user_spec, write_corpus
from tests.mirror import serve

matplotlib.use("Agg")


class Killed(BaseException):
    """What a SIGKILL at the rename looks like to the writer: nothing after it runs."""


@pytest.fixture
def killed_at_rename(monkeypatch):
    def replace(src, dst):
        raise Killed(dst)

    monkeypatch.setattr(os, "replace", replace)


def leftovers(directory):
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*")) if directory.exists() else []


def interrupted(write, out_dir):
    with pytest.raises(Killed):
        write()
    return leftovers(out_dir)


def test_io_helpers(tmp_path, killed_at_rename):
    (tmp_path / "src").write_text("x")
    out = tmp_path / "out"
    assert interrupted(lambda: io.write_lines(out / "a.txt", ["x"]), out) == []
    assert interrupted(lambda: io.write_json(out / "a.json", {"x": 1}), out) == []
    assert interrupted(lambda: io.copy_file(tmp_path / "src", out / "b"), out) == []


def test_data_spm_and_download(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "mine", lines=40)
    spec = {**user_spec(corpus), "spm": {"recipe": "joint", "vocab_size": 40}}
    user.build(spec, "mine", tmp_path / "data")  # the inputs of the steps below, written normally
    archive = tmp_path / "ted_talks.tar.gz"
    tsv_archive(archive, ["talk_name", "en", "fr"], [["t1", "Hello .", "Bonjour ."]])
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.bin").write_bytes(b"\x00" * 1000)
    entry = download.Entry("file.bin", "https://example.invalid/file.bin", 1000, "", "")
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(Killed(dst)))
    out = tmp_path / "out"
    assert interrupted(lambda: user.build(spec, "mine", out / "data"), out) == []
    assert interrupted(lambda: ted.build(ted_spec({"fra": "fr"}), "ted", archive, out / "ted"), out) == []
    assert interrupted(lambda: spm.train_one(spec, tmp_path / "data", out / "models", "joint"), out) == ["models"]
    with serve(served) as (url, _):
        assert interrupted(lambda: download.download(entry, out / "file.bin", mirror=url, retries=0), out) == ["models"]


def test_tables_and_figures(tmp_path, killed_at_rename):
    out = tmp_path / "out"
    rows = [
        {
            "kind": "computed",
            "label": "baseline",
            "title": "Baseline",
            "source": "1 seed(s)",
            "cells": {"fra": (30.0, None, False)},
        }
    ]
    with pytest.raises(Killed):
        tables.write_tables(rows, ["fra"], out / "m2o", "bleu", "demo")
    history = {"fra-eng": [3.0, 2.5, 2.7], "all": [3.0, 2.5, 2.7]}
    with pytest.raises(Killed):
        convergence.write_tables([("baseline seed1", history, None)], out / "m2o", "demo")
    figure = figures.plot_curves(
        history, {"pivot": "eng", "languages": {"fra": {"sizes": {"train": 10}, "role": "high"}}}, "t"
    )
    with pytest.raises(Killed):
        figures.save(figure, out / "curves")
    assert leftovers(out) == []


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask):
    """On a shared cluster the group reads the results: the writers' modes are a plain open()'s, not mkstemp's 0600."""
    previous = os.umask(umask)
    try:
        io.write_json(tmp_path / "out" / "a.json", {"x": 1})
        io.copy_file(tmp_path / "out" / "a.json", tmp_path / "out" / "b.json")
        with io.atomic_directory(tmp_path / "data") as staging:
            (staging / "train.txt").write_text("x\n")
    finally:
        os.umask(previous)
    for name in ("out/a.json", "out/b.json", "data/train.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o777 & ~umask


def test_what_a_killed_write_left_is_removed_by_the_next_write_of_that_path(tmp_path, capsys):
    """A SIGKILL runs no ``finally``: the temporary file (or staging directory) stays. The next write of the same
    path removes it; the temporary names of other files in the directory, written now by other jobs, stay."""
    out = tmp_path / "out"
    out.mkdir()
    orphan_file = out / ".tmp-train.fra.k2x9_a7q"
    orphan_file.write_bytes(b"x" * 1000)
    orphan_directory = out / ".tmp-bin.0p3zzq1_"
    (orphan_directory / "sub").mkdir(parents=True)
    (orphan_directory / "sub" / "train.bin").write_bytes(b"x" * 1000)
    others = [".tmp-train.fra.eng.k2x9_a7q", ".tmp-train.fr.k2x9_a7q", ".tmp-train.fra.k2x9_a7", ".tmp-bin.0p3zzq1_x"]
    for name in others:
        (out / name).write_bytes(b"y")
    io.write_lines(out / "train.fra", ["a sentence"])
    with io.atomic_directory(out / "bin") as staging:
        (staging / "dict.txt").write_text("a 1\n")
    assert leftovers(out) == sorted([*others, "bin", "bin/dict.txt", "train.fra"])
    assert (out / "train.fra").read_text() == "a sentence\n"
    said = capsys.readouterr().err
    assert f"removed {orphan_file}: left by a write of {out / 'train.fra'} that was killed" in said
    assert f"removed {orphan_directory}: left by a write of {out / 'bin'} that was killed" in said
