"""Result tables from per-pair evaluation files."""

import json

import pandas as pd
import pytest

from lssd import tables

MANIFEST = {
    "pivot": "eng",
    "languages": {
        "bos": {"sizes": {"train": 65}},
        "fra": {"sizes": {"train": 600}},
        "mkd": {"sizes": {"train": 90}},
    },
}


def write_results(tmp_path, rows):
    paths = []
    for method, seed, pair, bleu, chrf in rows:
        path = tmp_path / f"{method}.{seed}.{pair}.json"
        path.write_text(
            json.dumps({"method": method, "seed": seed, "pair": pair, "split": "test", "bleu": bleu, "chrf": chrf})
        )
        paths.append(path)
    return paths


def test_table_orders_by_training_size_averages_seeds_and_pairs(tmp_path):
    rows = [
        ("baseline", 1, "eng-bos", 10.0, 30.0),
        ("baseline", 2, "eng-bos", 12.0, 32.0),
        ("baseline", 1, "eng-fra", 30.0, 50.0),
        ("baseline", 2, "eng-fra", 30.0, 50.0),
        ("baseline", 1, "eng-mkd", 20.0, 40.0),
        ("baseline", 2, "eng-mkd", 22.0, 42.0),
        ("other", 1, "eng-bos", 1.0, 2.0),
        ("other", 1, "eng-fra", 2.0, 3.0),
        ("other", 1, "eng-mkd", 3.0, 4.0),
    ]
    results = tables.load_results(write_results(tmp_path, rows))
    languages = tables.languages_by_training_size(MANIFEST)
    assert languages == ["fra", "mkd", "bos"]
    table = tables.results_table(results, "bleu", ["baseline", "other"], languages, "eng")
    assert list(table.columns) == ["fra", "mkd", "bos", "avg"]
    assert list(table.index) == ["baseline", "other"]
    assert table.loc["baseline"].tolist() == [30.0, 21.0, 11.0, pytest.approx(62 / 3, abs=0.005)]
    assert table.loc["other", "avg"] == 2.0


def test_missing_language_is_an_error(tmp_path):
    results = tables.load_results(write_results(tmp_path, [("baseline", 1, "bos-eng", 1.0, 1.0)]))
    with pytest.raises(ValueError, match="fra"):
        tables.results_table(results, "bleu", ["baseline"], ["fra", "bos"], "eng")


def test_cli_writes_csv_and_markdown(tmp_path):
    paths = write_results(tmp_path, [("baseline", 1, f"{lang}-eng", 5.0, 6.0) for lang in ("bos", "fra", "mkd")])
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    prefix = tmp_path / "out" / "m2o"
    assert (
        tables.main(
            ["--manifest", str(manifest), "--methods", "baseline", "--out-prefix", str(prefix), *map(str, paths)]
        )
        == 0
    )
    frame = pd.read_csv(f"{prefix}.bleu.csv", index_col=0)
    assert frame.loc["baseline", "avg"] == 5.0
    assert "| baseline" in (tmp_path / "out" / "m2o.chrf.md").read_text()
