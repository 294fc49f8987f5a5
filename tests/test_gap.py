"""The gap table: the share of the baseline's per-pair best gap each LSSD variant closes, and when a gap is real."""

import json

import pandas as pd
import pytest

from lssd.report import gap, gap_render, pair_best

MANIFEST = {
    "pivot": "eng",
    "languages": {
        "fra": {"role": "high", "sizes": {"train": 600}},
        "mkd": {"role": "low", "sizes": {"train": 90}},
        "bos": {"role": "low", "sizes": {"train": 65}},
    },
}
SENTENCES = [f"sentence number {index} says the cat sat on mat {index % 7}" for index in range(60)]
WORSE = [f"one word {index}" for index in range(60)]


def write_evaluation(root, method, seed, pair, bleu, hypotheses, models=None):
    """An evaluation directory's JSON and .hyp, as lssd.run.evaluate (and, with ``models``, evaluate_pair_best)
    writes them; the raw reference is the shared SENTENCES."""
    kind = "eval_pair_best" if models else "eval"
    directory = root / kind / method / f"seed{seed}"
    directory.mkdir(parents=True, exist_ok=True)
    reference = root / f"test.{pair}.ref"
    reference.write_text("\n".join(SENTENCES) + "\n")
    stem = directory / f"{pair}.test"
    (directory / f"{pair}.test.hyp").write_text("\n".join(hypotheses) + "\n")
    result = {"method": method, "seed": seed, "pair": pair, "split": "test", "bleu": bleu}
    result.update(spm_ref_bleu=bleu + 1, chrf=bleu + 20, chrfpp=bleu + 19)
    result.update(hypotheses=f"{stem}.hyp", reference=str(reference), spm_reference=f"{stem}.spm_ref")
    if models:
        result[pair_best.PAIR_BEST] = {"epoch": 3, "checkpoint": "teacher_epoch3.pt", "models": models}
        result[pair_best.PAIR_BEST]["reused_one_model"] = False
    path = directory / f"{pair}.test.json"
    path.write_text(json.dumps(result))
    return path


# (method, seed, pair, one-model BLEU, per-pair best BLEU or None, per-pair best hypotheses differ)
# fra: a real gap (the per-pair best's translations are far better); mkd: real; bos: the same translation
SCORES = [
    ("baseline", 1, "eng-fra", 30.0, 34.0),
    ("baseline", 2, "eng-fra", 32.0, 36.0),
    ("baseline", 1, "eng-mkd", 20.0, 22.0),
    ("baseline", 1, "eng-bos", 10.0, 10.0),
    ("lssd_whole", 1, "eng-fra", 33.0, None),
    ("lssd_whole", 1, "eng-mkd", 19.0, None),
    ("lssd_whole", 1, "eng-bos", 11.0, None),
]


def evaluations(tmp_path, models=(3, 3), valid=True):
    paths = []
    for method, seed, pair, one_model, best in SCORES:
        paths.append(write_evaluation(tmp_path, method, seed, pair, one_model, WORSE))
        if best is not None:
            better = best > one_model
            model_count = models[0] if seed == 1 else models[1]
            paths.append(
                write_evaluation(tmp_path, method, seed, pair, best, SENTENCES if better else WORSE, model_count)
            )
    if valid:  # another split of the same run: left out of the gap table
        path = paths[0]
        valid = path.with_name("eng-fra.valid.json")
        valid.write_text(json.dumps(json.loads(path.read_text()) | {"split": "valid", "bleu": 99.0}))
        paths.append(valid)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    return manifest, paths


def test_the_share_is_the_gap_closed_per_pair_where_real_and_gap_weighted_on_average():
    baseline = pd.Series({"fra": 30.0, "mkd": 20.0, "bos": 10.0, "hin": 5.0})
    oracle = pd.Series({"fra": 34.0, "mkd": 21.0, "bos": 10.5, "hin": 7.0})
    variant = pd.Series({"fra": 33.0, "mkd": 21.5, "bos": 12.0, "hin": 4.0})
    real = {"fra": True, "mkd": True, "bos": False, "hin": True}
    groups = {"avg": ["fra", "mkd", "bos", "hin"], "low_avg": ["bos"], "high_avg": ["fra", "mkd"]}
    shares = gap.gap_shares(baseline, oracle, variant, real, groups)
    assert shares["fra"] == pytest.approx(0.75)  # (33 - 30) / (34 - 30)
    assert shares["mkd"] == pytest.approx(1.5)  # beyond the per-pair best: more than the whole gap
    assert shares["hin"] == pytest.approx(-0.5)  # worse than the baseline: negative
    assert shares["bos"] is None  # no real gap: blank, whatever the variant scored
    # gap-weighted over the real pairs: (3 + 1.5 - 1) / (4 + 1 + 2), not the mean of the shares
    assert shares["avg"] == pytest.approx(3.5 / 7)
    assert shares["high_avg"] == pytest.approx(4.5 / 5)
    assert shares["low_avg"] is None  # its only pair has no real gap


def test_model_counts_label_the_per_pair_best_rows():
    assert pair_best.models_label([3, 3]) == "3 models"
    assert pair_best.models_label([2, 4, 3]) == "2–4 models"
    assert pair_best.models_label([1]) == "1 model"
    assert pair_best.pair_best_title("lssd_whole", [2]) == "LSSD-Whole, per-pair best (2 models)"
    with pytest.raises(ValueError, match="no per-pair best"):
        pair_best.models_label([])


def run_gap(tmp_path, extra=(), **kwargs):
    manifest, paths = evaluations(tmp_path, **kwargs)
    prefix = tmp_path / "tables" / "o2m"
    prefix.parent.mkdir()
    argv = ["--manifest", str(manifest), "--out-prefix", str(prefix), "--title", "demo o2m"]
    argv += ["--lssd-methods", "lssd_whole", "--samples", "200", *extra, *map(str, paths)]
    assert gap.main(argv) == 0
    return prefix


def test_the_gap_table_from_evaluation_files(tmp_path):
    prefix = run_gap(tmp_path)
    frame = pd.read_csv(f"{prefix}.gap.csv")
    assert list(frame.columns[:9]) == ["method", "title", "kind", "fra", "mkd", "bos", "avg", "low_avg", "high_avg"]
    scores = frame[frame["kind"] == "score"].set_index("method")
    assert scores.loc["baseline", "fra"] == 31.0  # mean over the two seeds
    assert scores.loc["baseline_pair_best", "fra"] == 35.0
    assert scores.loc["baseline_pair_best", "title"] == "Baseline, per-pair best (3 models)"
    assert scores.loc["baseline", "avg"] == pytest.approx((31 + 20 + 10) / 3, abs=1e-4)
    (gap_row,) = frame[frame["kind"] == "gap"].to_dict("records")
    assert (gap_row["fra"], gap_row["mkd"], gap_row["bos"]) == (4.0, 2.0, 0.0)
    assert gap_row["fra_real"] and gap_row["mkd_real"] and not gap_row["bos_real"]
    (p_row,) = frame[frame["kind"] == "p_value"].to_dict("records")
    assert p_row["fra"] < 0.05 and p_row["mkd"] < 0.05 and p_row["bos"] == 1.0  # the same translation: no test
    (share,) = frame[frame["kind"] == "share"].to_dict("records")
    assert share["method"] == "lssd_whole" and share["title"] == "LSSD-Whole: share of the gap closed"
    assert share["fra"] == pytest.approx(0.5) and share["mkd"] == pytest.approx(-0.5) and pd.isna(share["bos"])
    assert share["avg"] == pytest.approx((2 - 1) / (4 + 2), abs=1e-4)  # Σ(L − B) / Σ(O − B) over fra and mkd
    assert share["high_avg"] == pytest.approx(0.5) and share["low_avg"] == pytest.approx(-0.5)
    markdown = " ".join((tmp_path / "tables" / "o2m.gap.md").read_text().split())
    assert "### demo o2m share of the per-pair best gap closed" in markdown
    assert "| gap: per-pair best − Baseline | +4.00† | +2.00† | +0.00 |" in markdown
    assert "| LSSD-Whole: share of the gap closed | 50% | -50% | | 17% |" in markdown
    assert "p < 0.05" in markdown and "seed 1" in markdown and "gap-weighted" in markdown
    assert "- eng-bos: its per-pair best checkpoint is the one model (the same translation)" in markdown


def test_the_gap_table_in_latex_and_html(tmp_path):
    prefix = run_gap(tmp_path)
    latex = (tmp_path / "tables" / "o2m.gap.tex").read_text()
    assert "\\toprule" in latex and "+4.00$^\\dagger$" in latex and "50\\%" in latex
    assert latex.count("\\midrule") == 3  # header, scores | gap and p | shares
    assert "Share: (LSSD -- baseline) / (per-pair best -- baseline)" in latex
    page = (tmp_path / "tables" / "o2m.gap.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '<tr class="share"><td>LSSD-Whole: share' in page
    assert "<li>eng-bos: its per-pair best checkpoint is the one model (the same translation)</li>" in page
    assert prefix.with_name("o2m.gap.csv").is_file()


def test_a_gap_that_the_bootstrap_does_not_support_is_not_real(tmp_path):
    """fra's per-pair best scores higher, but the bootstrap is asked for p < 0.0001 (unreachable with 200
    resamples): no gap is real, every share is blank and the note says why for each pair."""
    prefix = run_gap(tmp_path, ["--alpha", "0.0001"], models=(2, 3))
    frame = pd.read_csv(f"{prefix}.gap.csv")
    (share,) = frame[frame["kind"] == "share"].to_dict("records")
    assert all(pd.isna(share[column]) for column in ("fra", "mkd", "bos", "avg", "low_avg", "high_avg"))
    assert frame[frame["method"] == "baseline_pair_best"]["title"].item() == "Baseline, per-pair best (2–3 models)"
    markdown = (tmp_path / "tables" / "o2m.gap.md").read_text()
    assert "- eng-fra: p = 0.005 ≥ 0.0001" in markdown


def test_a_not_better_per_pair_best_is_not_real_whatever_the_bootstrap():
    statistics = {
        "real": {"fra": False},
        "tests": {"fra": {"pair": "eng-fra", "p_value": 0.001, "same": False}},
        "pair_best": {"fra": 20.0},
        "one_model": {"fra": 21.0},
        "alpha": 0.05,
    }
    assert gap.blank_reasons(statistics) == ["eng-fra: the per-pair best is not better than the one model"]


def test_a_missing_per_pair_best_result_names_the_method_and_language(tmp_path):
    manifest, paths = evaluations(tmp_path)
    kept = [path for path in paths if not ("eval_pair_best" in str(path) and "eng-mkd" in path.name)]
    argv = ["--manifest", str(manifest), "--out-prefix", str(tmp_path / "o2m"), *map(str, kept)]
    with pytest.raises(ValueError, match="no per-pair best test result of baseline for language.s. mkd"):
        gap.main(argv)


def test_the_hypotheses_beside_the_json_are_read_where_the_recorded_path_is_gone(tmp_path):
    path = write_evaluation(tmp_path, "baseline", 1, "eng-fra", 1.0, ["a"])
    result = json.loads(path.read_text())
    assert gap.hypotheses_file(path, result) == path.with_suffix(".hyp")
    path.with_suffix(".hyp").unlink()
    assert gap.hypotheses_file(path, result) == path.with_suffix(".hyp")  # the recorded path is that same file
    assert gap.hypotheses_file(path, result | {"hypotheses": "elsewhere.hyp"}) == gap.Path("elsewhere.hyp")


def test_shares_render_as_percentages_and_blanks():
    assert gap_render.format_value("share", 0.456) == "46%"
    assert gap_render.format_value("share", None) == ""
    assert gap_render.format_value("gap", -0.5, real=False) == "-0.50"
    assert gap_render.format_value("gap", 1.25, real=True) == "+1.25†"
    assert gap_render.format_value("p_value", 0.0049) == "0.005"
