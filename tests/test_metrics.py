"""The metric registry (lssd.metrics): the scores an evaluation writes, the tables, and a new metric added as one
entry reaching the evaluation's scores and the tables (the rules read lssd.metrics.TABLES for their outputs)."""

import dataclasses
import json

import pytest

from lssd import metrics
from lssd.report import tables

HYPOTHESES = ["the cat sat on the mat", "a dog barked", "it rains today"]
REFERENCES = ["the cat sat on a mat", "the dog barked", "it is raining today"]


def test_every_metric_is_a_score_the_evaluation_writes():
    written = {
        **metrics.score(HYPOTHESES, REFERENCES, "fra", metrics.RAW),
        **metrics.score(HYPOTHESES, REFERENCES, "fra", metrics.SPM_REF),
    }
    scores = [key for key in written if not key.endswith(("_signature", "_details"))]
    assert scores == list(metrics.METRICS)
    assert all(f"{name}_signature" in written for name in metrics.METRICS)
    assert written["bleu_details"]["sys_len"] == sum(len(line.split()) for line in HYPOTHESES)


def test_every_table_has_a_title_a_note_and_its_place():
    assert list(metrics.TABLES) == ["bleu", "spm_ref_bleu", "chrf", "chrfpp"]
    for name, entry in metrics.TABLES.items():
        assert entry.title and entry.note and metrics.table_note(name).endswith(metrics.TABLE_FOOTER)
    assert metrics.SIGNIFICANT in metrics.table_note(metrics.SIGNIFICANCE_METRIC)
    assert "comparable with the paper" in metrics.table_note(metrics.PUBLISHED_METRIC)
    assert metrics.bleu_tokenizer("zho") == "zh" and metrics.bleu_tokenizer("fra") == "13a"


@pytest.fixture
def with_ter(monkeypatch):
    """TER (sacrebleu's) added as the module docstring says: a scorer, its metric entry, its table."""
    from sacrebleu.metrics import TER

    monkeypatch.setitem(metrics.SCORERS, "ter", metrics.Scorer(lambda lang: TER()))
    ter = metrics.Metric(
        "ter", "TER against the raw references (standard)", title="TER", note="TER (sacrebleu).", higher_is_better=False
    )
    monkeypatch.setitem(metrics.METRICS, "ter", ter)
    monkeypatch.setitem(metrics.METRICS, "spm_ref_ter", dataclasses.replace(ter, name="spm_ref_ter", title=None))
    monkeypatch.setitem(metrics.TABLES, "ter", ter)
    return ter


def test_a_new_metric_is_one_entry_in_the_registry(with_ter, tmp_path):
    written = metrics.score(HYPOTHESES, REFERENCES, "fra")
    assert written["ter"] > 0 and "tok:tercom" in written["ter_signature"]
    assert "ter" in metrics.descriptions()
    # the tables: one more table in every format, with its title and note
    results = []
    for method, value in (("baseline", 50.0), ("lssd_whole", 40.0)):
        path = tmp_path / f"{method}.json"
        row = {"method": method, "seed": 1, "pair": "eng-fra", "split": "test"}
        row |= {name: value for name in metrics.TABLES}
        path.write_text(json.dumps(row))
        results.append(str(path))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"pivot": "eng", "languages": {"fra": {"role": "high", "sizes": {"train": 10}}}}))
    prefix = tmp_path / "out" / "o2m"
    argv = ["--manifest", str(manifest), "--methods", "baseline,lssd_whole", "--out-prefix", str(prefix)]
    assert tables.main([*argv, "--title", "demo o2m", *results]) == 0
    for ext in ("csv", "md", "tex"):
        assert (tmp_path / "out" / f"o2m.ter.{ext}").exists()
    markdown = (tmp_path / "out" / "o2m.ter.md").read_text()
    assert "demo o2m TER" in markdown and "TER (sacrebleu)." in markdown and "| LSSD-Whole | **40.00** |" in markdown
