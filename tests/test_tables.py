"""Result tables from per-pair evaluation files: averages, seeds, significance marks, published rows."""

import json
from pathlib import Path

import pandas as pd
import pytest

from lssd import metrics
from lssd.report import table_render, tables

MANIFEST = {
    "pivot": "eng",
    "languages": {
        "bos": {"role": "low", "sizes": {"train": 65}},
        "fra": {"role": "high", "sizes": {"train": 600}},
        "mkd": {"role": "low", "sizes": {"train": 90}},
    },
}


def write_results(tmp_path, rows):
    paths = []
    for method, seed, pair, bleu, chrf in rows:
        path = tmp_path / f"{method}.{seed}.{pair}.json"
        result = {"method": method, "seed": seed, "pair": pair, "split": "test", "bleu": bleu, "chrf": chrf}
        # the paper-comparable BLEU one point above the standard one, chrF++ one below chrF: told apart below
        result.update(spm_ref_bleu=bleu + 1, chrfpp=chrf - 1)
        path.write_text(json.dumps(result))
        paths.append(path)
    return paths


ROWS = [
    ("baseline", 1, "eng-bos", 10.0, 30.0),
    ("baseline", 2, "eng-bos", 12.0, 32.0),
    ("baseline", 1, "eng-fra", 30.0, 50.0),
    ("baseline", 2, "eng-fra", 30.0, 50.0),
    ("baseline", 1, "eng-mkd", 20.0, 40.0),
    ("baseline", 2, "eng-mkd", 22.0, 42.0),
    ("lssd_whole", 1, "eng-bos", 1.0, 2.0),
    ("lssd_whole", 1, "eng-fra", 2.0, 3.0),
    ("lssd_whole", 1, "eng-mkd", 3.0, 4.0),
]


def test_table_orders_by_training_size_averages_seeds_and_groups(tmp_path):
    results = tables.load_results(write_results(tmp_path, ROWS))
    languages = tables.languages_by_training_size(MANIFEST)
    assert languages == ["fra", "mkd", "bos"]
    roles = tables.language_roles(MANIFEST)
    mean, std, seeds = tables.seed_statistics(results, "bleu", ["baseline", "lssd_whole"], languages, "eng", roles)
    assert list(mean.columns) == ["fra", "mkd", "bos", "avg", "low_avg", "high_avg"]
    assert list(mean.index) == ["baseline", "lssd_whole"]
    assert mean.loc["baseline", ["fra", "mkd", "bos"]].tolist() == [30.0, 21.0, 11.0]
    # seed 1: avg (30+20+10)/3 = 20, seed 2: (30+22+12)/3 = 21.333 → mean 20.667, sample std 0.943
    assert mean.loc["baseline", "avg"] == pytest.approx(62 / 3)
    assert std.loc["baseline", "avg"] == pytest.approx(0.9428, abs=1e-4)
    assert std.loc["baseline", "bos"] == pytest.approx(1.4142, abs=1e-4)
    assert mean.loc["baseline", "low_avg"] == pytest.approx(16.0)  # mkd and bos
    assert mean.loc["baseline", "high_avg"] == 30.0
    assert seeds.to_dict() == {"baseline": 2, "lssd_whole": 1}


def test_missing_language_is_an_error(tmp_path):
    results = tables.load_results(write_results(tmp_path, [("baseline", 1, "bos-eng", 1.0, 1.0)]))
    with pytest.raises(ValueError, match="fra"):
        tables.results_table(results, "bleu", ["baseline"], ["fra", "bos"], "eng")


def text_of(path):
    """A rendered table with runs of spaces collapsed (column padding is pandas' business)."""
    return " ".join(path.read_text().split())


def run_cli(tmp_path, extra=(), after=()):
    """The tables of ROWS; ``extra`` options before the result files, ``after`` after them (``--pair-best``)."""
    paths = write_results(tmp_path, ROWS)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    significance = tmp_path / "sig.json"
    significance.write_text(
        json.dumps(
            {
                "method": "lssd_whole",
                "pairs": {
                    "eng-bos": {"significant_gain": True},
                    "eng-fra": {"significant_gain": False},
                    "eng-mkd": {"significant_gain": False},
                },
            }
        )
    )
    prefix = tmp_path / "out" / "o2m"
    arguments = ["--manifest", str(manifest), "--methods", "baseline,lssd_whole", "--out-prefix", str(prefix)]
    arguments += ["--significance", str(significance), *extra, *map(str, paths), *after]
    assert tables.main(arguments) == 0
    return prefix


def test_cli_writes_csv_markdown_latex_with_std_and_significance(tmp_path):
    prefix = run_cli(tmp_path)
    frame = pd.read_csv(f"{prefix}.bleu.csv")
    baseline = frame[frame["method"] == "baseline"].iloc[0]
    assert baseline["kind"] == "computed" and baseline["avg"] == pytest.approx(20.6667, abs=1e-4)
    assert baseline["bos_std"] == pytest.approx(1.4142, abs=1e-4)
    whole = frame[frame["method"] == "lssd_whole"].iloc[0]
    assert bool(whole["bos_significant"]) and not bool(whole["fra_significant"])
    markdown = text_of(tmp_path / "out" / "o2m.bleu.md")
    # shown by the paper's names (the CSV keeps the config keys); the baseline is best in every column: bold
    assert "| Baseline | **30.00 ± 0.00** | **21.00 ± 1.41** | **11.00 ± 1.41** |" in markdown
    assert "| LSSD-Whole | 2.00 | 3.00 | 1.00† |" in markdown
    assert "Bold: the best computed mean per column." in markdown
    assert frame["title"].tolist() == ["Baseline", "LSSD-Whole"]
    assert frame["fra_best"].tolist() == [True, False]
    latex = (tmp_path / "out" / "o2m.bleu.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex and "1.00$^\\dagger$" in latex
    assert "LSSD-Whole & 2.00" in latex and "lssd\\_whole" not in latex
    assert "\\textbf{30.00 $\\pm$ 0.00}" in latex
    chrf = (tmp_path / "out" / "o2m.chrf.md").read_text()
    assert "†" not in chrf.split("\n\n")[1]  # significance is tested on BLEU
    assert "| Baseline | **49.00 ± 0.00** |" in text_of(tmp_path / "out" / "o2m.chrfpp.md")
    paper = text_of(tmp_path / "out" / "o2m.spm_ref_bleu.md")
    assert (
        "| Baseline | **31.00 ± 0.00** | **22.00 ± 1.41** | **12.00 ± 1.41** |" in paper
        and "comparable with the paper" in paper
    )


def test_published_numbers_are_never_written_into_computed_rows(tmp_path):
    setting = ["--paper-setting", "ted8_diverse", "--temperature", "1", "--lssd-methods", "lssd_whole"]
    prefix = run_cli(tmp_path, ["--direction", "o2m", *setting])
    # published numbers are compared with the paper-comparable BLEU only (the original's scoring)
    standard = pd.read_csv(f"{prefix}.bleu.csv")
    assert set(standard["kind"]) == {"computed"}
    frame = pd.read_csv(f"{prefix}.spm_ref_bleu.csv")
    computed = frame[frame["kind"] == "computed"]
    assert computed["method"].tolist() == ["baseline", "lssd_whole"]
    assert computed["fra"].tolist() == [31.0, 3.0]  # our numbers only
    published = frame[frame["kind"] == "published"]
    first = published.iloc[0]
    assert first["method"] == "published: Temperature τ=1" and first["fra"] == 40.26 and first["bos"] == 16.82
    assert first["avg"] == 22.75 and pd.isna(first["low_avg"])  # not published: left empty, never filled in
    lssd = published[published["method"] == "published: LSSD (variant not stated)"].iloc[0]
    assert lssd["avg"] == 23.55 and pd.isna(lssd["fra"])
    difference = frame[frame["kind"] == "difference"]
    baseline_delta = difference[difference["method"] == "Δ baseline − published Temperature τ=1"].iloc[0]
    assert baseline_delta["fra"] == pytest.approx(31.0 - 40.26)
    assert baseline_delta["avg"] == pytest.approx(62 / 3 + 1 - 22.75, abs=1e-4)
    whole_delta = difference[difference["method"] == "Δ lssd_whole − published LSSD (variant not stated)"].iloc[0]
    assert whole_delta["avg"] == pytest.approx(3.0 - 23.55) and pd.isna(whole_delta["fra"])
    assert whole_delta["title"] == "Δ LSSD-Whole − published LSSD (variant not stated)"
    markdown = text_of(tmp_path / "out" / "o2m.spm_ref_bleu.md")
    # a published number above ours is not bold: bold is the best of our computed rows only
    assert "| *published: Temperature τ=1* | 40.26 |" in markdown
    assert "| *Δ LSSD-Whole − published LSSD (variant not stated)* |" in markdown
    assert "Pareto-MD" in frame["source"].iloc[2]
    latex = (tmp_path / "out" / "o2m.spm_ref_bleu.tex").read_text()
    # booktabs: a rule under the header, one before the published rows and one before the Δ rows
    assert latex.count("\\midrule") == 3 and "\\textit{published: Temperature $\\tau$=1} & 40.26" in latex


@pytest.mark.parametrize(("temperature", "compared"), [("5", "τ=5"), ("1", "τ=1"), (None, None)])
def test_our_baseline_is_compared_with_the_published_baseline_of_its_own_temperature(tmp_path, temperature, compared):
    """WMT-6 publishes a τ = 1 and a τ = 5 baseline; ours trains at τ = 5 (as the original): its Δ row is against
    the τ = 5 row, and the table says which temperature our rows used. Unknown: no baseline Δ at all."""
    extra = ["--temperature", temperature] if temperature else []
    prefix = run_cli(
        tmp_path, ["--direction", "o2m", "--paper-setting", "wmt6", "--lssd-methods", "lssd_whole", *extra]
    )
    frame = pd.read_csv(f"{prefix}.spm_ref_bleu.csv")
    deltas = frame[frame["kind"] == "difference"]["method"].tolist()
    baseline_deltas = [name for name in deltas if name.startswith("Δ baseline")]
    assert baseline_deltas == ([f"Δ baseline − published Temperature {compared}"] if compared else [])
    assert "Δ lssd_whole − published LSSD (variant not stated)" in deltas
    computed = frame[frame["kind"] == "computed"]
    sampled = f", τ={temperature}" if temperature else ""
    assert computed["source"].tolist() == [f"2 seed(s){sampled}", f"1 seed(s){sampled}"]


def test_the_published_lssd_row_is_compared_with_the_methods_that_distil_whatever_their_names(tmp_path):
    """Which of our rows are LSSD is the config's word (a method whose criterion distils: the rule passes
    --lssd-methods), not a name prefix."""
    setting = ["--direction", "o2m", "--paper-setting", "ted8_diverse", "--temperature", "1"]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    by_name = pd.read_csv(f"{run_cli(tmp_path / 'a', setting)}.spm_ref_bleu.csv")
    assert not [name for name in by_name["method"] if name.startswith("Δ lssd_whole")]
    marked = pd.read_csv(f"{run_cli(tmp_path / 'b', [*setting, '--lssd-methods', 'baseline'])}.spm_ref_bleu.csv")
    deltas = marked[marked["kind"] == "difference"]["method"].tolist()
    assert "Δ baseline − published LSSD (variant not stated)" in deltas
    assert not [name for name in deltas if name.startswith("Δ lssd_whole")]


@pytest.mark.parametrize("content", ['{"method": "baseline", "seed": 1, "pai', "", '{"method": "baseline"}', None])
def test_a_damaged_evaluation_file_names_itself_and_what_to_do(tmp_path, capsys, content):
    """A cut-short, empty, foreign or missing evaluation JSON: the table job names the file and says to delete its
    run's evaluation directory (the evaluate rule's output: a file alone is not rebuilt), no traceback."""
    from lssd.io import run_cli as run_stage

    paths = write_results(tmp_path, ROWS)
    if content is None:
        paths[2].unlink()
    else:
        paths[2].write_text(content)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    argv = ["--manifest", str(manifest), "--methods", "baseline,lssd_whole", "--out-prefix", str(tmp_path / "t")]
    assert run_stage(lambda: tables.main([*argv, *map(str, paths)])) == 1
    error = capsys.readouterr().err
    advice = f"delete the run's evaluation directory {tmp_path} and run snakemake again"
    assert error.startswith(f"error: {paths[2]}: ") and advice in error, error
    assert not list(tmp_path.glob("t.*"))


def computed(method, cells):
    return {
        "kind": "computed",
        "label": method,
        "title": table_render.method_title(method),
        "source": "1 seed(s)",
        "cells": {column: (value, None, False) for column, value in cells.items()},
    }


def test_the_best_computed_mean_per_column_is_bold_ties_all_and_published_rows_never():
    columns = ["fra", "avg"]
    rows = [
        computed("baseline", {"fra": 14.2, "avg": 9.0}),
        computed("lssd_whole", {"fra": 14.2001, "avg": 11.5}),  # a tie as shown (2 decimals): both bold
        computed("my_variant", {"fra": 10.0, "avg": 8.0}),  # not a paper method: shown by its key
        {
            "kind": "published",
            "label": "published: X",
            "title": "published: X",
            "source": "paper",
            "cells": {"fra": (40.0, None, False), "avg": (30.0, None, False)},
        },
    ]
    best = table_render.best_columns(rows, columns)
    markdown = " ".join(table_render.render_markdown(rows, columns, "t", "n", best).split())
    assert "| Baseline | **14.20** | 9.00 |" in markdown
    assert "| LSSD-Whole | **14.20** | **11.50** |" in markdown
    assert "| my_variant | 10.00 | 8.00 |" in markdown
    assert "| *published: X* | 40.00 | 30.00 |" in markdown
    latex = table_render.render_latex(rows, columns, "t", "n", best)
    assert latex.count("\\textbf{") == 3 and "Baseline & \\textbf{14.20} & 9.00" in latex
    assert "\\textbf{40.00}" not in latex
    frame = table_render.render_csv(rows, columns, best)
    assert frame["method"].tolist() == ["baseline", "lssd_whole", "my_variant", "published: X"]
    assert frame["fra_best"].tolist()[:3] == [True, True, False] and pd.isna(frame["fra_best"].iloc[3])
    assert frame["avg_best"].tolist()[:3] == [False, True, False]


def test_a_single_computed_row_is_not_bold_and_the_note_does_not_claim_it(tmp_path):
    rows = [computed("baseline", {"fra": 14.2})]
    table_render.write_tables(rows, ["fra"], tmp_path / "m2o", "bleu", "t")
    markdown = (tmp_path / "m2o.bleu.md").read_text()
    assert "| 14.20 |" in markdown and "**" not in markdown and table_render.BEST_NOTE not in markdown
    assert not pd.read_csv(tmp_path / "m2o.bleu.csv")["fra_best"].any()


def signed_results(tmp_path, languages):
    """Evaluation files carrying the signatures lssd.metrics.score writes (tok:zh for a Chinese target)."""
    paths = []
    for method, offset in (("baseline", 0.0), ("lssd_whole", 1.0)):
        for lang in languages:
            scores = metrics.score(["a cat sat"], ["a cat sat down"], lang)
            scores |= metrics.score(["a cat sat"], ["a cat sat down"], lang, metrics.SPM_REF)
            row = {"method": method, "seed": 1, "pair": f"eng-{lang}", "split": "test", **scores}
            row |= {name: 10.0 + offset for name in metrics.TABLES}
            path = tmp_path / f"{method}.eng-{lang}.json"
            path.write_text(json.dumps(row))
            paths.append(str(path))
    sizes = {lang: {"role": "low", "sizes": {"train": 100 - index}} for index, lang in enumerate(languages)}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"pivot": "eng", "languages": sizes}))
    argv = ["--manifest", str(manifest), "--methods", "baseline,lssd_whole", "--out-prefix", str(tmp_path / "o2m")]
    assert tables.main([*argv, *paths]) == 0
    return tmp_path / "o2m"


def test_one_signature_is_printed_under_every_table(tmp_path):
    prefix = signed_results(tmp_path, ["fra", "bos"])
    markdown = (tmp_path / "o2m.bleu.md").read_text()
    (line,) = [line for line in markdown.splitlines() if "signature" in line]
    assert line.startswith("sacrebleu signature: `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert "nw:2" in (tmp_path / "o2m.chrfpp.md").read_text() and "nw:0" in (tmp_path / "o2m.chrf.md").read_text()
    assert "tok:13a" in (tmp_path / "o2m.spm_ref_bleu.md").read_text()
    latex = (tmp_path / "o2m.bleu.tex").read_text()
    assert "% sacrebleu signature: nrefs:1|case:mixed|eff:no|tok:13a" in latex
    assert "| LSSD-Whole | **11.00** |" in " ".join(Path(f"{prefix}.bleu.md").read_text().split())


def test_distinct_signatures_are_listed_with_the_pairs_they_apply_to(tmp_path):
    signed_results(tmp_path, ["fra", "zho", "bos"])
    markdown = (tmp_path / "o2m.bleu.md").read_text()
    lines = markdown.splitlines()
    start = lines.index("sacrebleu signatures:")
    first, second = lines[start + 1 : start + 3]
    assert first.startswith("- `nrefs:1|case:mixed|eff:no|tok:13a|") and first.endswith("`: eng-fra, eng-bos")
    assert second.startswith("- `nrefs:1|case:mixed|eff:no|tok:zh|") and second.endswith("`: eng-zho")
    # chrF does not tokenize: one signature for all pairs
    assert "sacrebleu signature: `" in (tmp_path / "o2m.chrf.md").read_text()
    latex = (tmp_path / "o2m.bleu.tex").read_text()
    assert "% - nrefs:1|case:mixed|eff:no|tok:zh|" in latex and latex.count("% - ") == 2


def test_evaluation_files_without_signatures_still_make_the_tables(tmp_path):
    """Files written before the signatures were kept: the tables render, without a signature line."""
    results = tables.load_results(write_results(tmp_path, ROWS))
    assert results["bleu_signature"].isna().all()
    assert tables.table_signatures(results, "bleu", ["fra", "mkd", "bos"], "eng") == {}
    run_cli(tmp_path)
    markdown = (tmp_path / "out" / "o2m.bleu.md").read_text()
    assert "| LSSD-Whole |" in markdown and "signature" not in markdown


def test_the_html_table_shows_titles_bold_best_escaped_text_and_the_note(tmp_path):
    """The page Snakemake's report shows inline: same rows and marks as the Markdown, text escaped, the note's
    `code` and list kept."""
    rows = [
        computed("baseline", {"fra": 14.2, "avg": 9.0}),
        computed("a<b&c", {"fra": 15.0, "avg": 8.0}),
        {
            "kind": "published",
            "label": "published: X",
            "title": "published: X",
            "source": "paper",
            "cells": {"fra": (40.0, None, False), "avg": (30.0, None, False)},
        },
    ]
    signatures = {"nrefs:1|tok:13a": ["eng-fra"], "nrefs:1|tok:zh": ["eng-zho"]}
    markdown = table_render.write_tables(rows, ["fra", "avg"], tmp_path / "o2m", "bleu", "demo <o2m>", signatures)
    page = (tmp_path / "o2m.bleu.html").read_text()
    assert markdown == (tmp_path / "o2m.bleu.md").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h3>demo &lt;o2m&gt;</h3>" in page
    assert '<tr class="computed"><td>Baseline</td><td>14.20</td><td><b>9.00</b></td></tr>' in page
    assert '<tr class="computed"><td>a&lt;b&amp;c</td><td><b>15.00</b></td><td>8.00</td></tr>' in page
    assert '<tr class="published"><td>published: X</td><td>40.00</td><td>30.00</td></tr>' in page
    assert "<li><code>nrefs:1|tok:zh</code>: eng-zho</li>" in page and table_render.BEST_NOTE in page
    assert page.count("<b>") == 2


def write_pair_best(tmp_path, rows, models):
    """Per-pair best evaluation files (lssd.run.evaluate_pair_best's): today's keys plus the pair_best object;
    ``models``: {(method, seed): the run's number of distinct checkpoints}."""
    paths = write_results(tmp_path / "pair_best", rows)
    for path, (method, seed, *_) in zip(paths, rows, strict=True):
        result = json.loads(path.read_text())
        result["pair_best"] = {
            "epoch": 2,
            "checkpoint": "x.pt",
            "models": models[(method, seed)],
            "reused_one_model": False,
        }
        path.write_text(json.dumps(result))
    return paths


# every per-pair best number 5 points above the one-model one: higher than every computed row, never bold
PAIR_BEST_ROWS = [(method, seed, pair, bleu + 5, chrf + 5) for method, seed, pair, bleu, chrf in ROWS]
PAIR_BEST_MODELS = {("baseline", 1): 2, ("baseline", 2): 3, ("lssd_whole", 1): 1}


def test_per_pair_best_rows_follow_their_methods_rows_never_bold_never_compared(tmp_path):
    (tmp_path / "pair_best").mkdir()
    best = write_pair_best(tmp_path, PAIR_BEST_ROWS, PAIR_BEST_MODELS)
    setting = ["--direction", "o2m", "--paper-setting", "ted8_diverse", "--temperature", "1"]
    prefix = run_cli(tmp_path, [*setting, "--lssd-methods", "lssd_whole"], ["--pair-best", *map(str, best)])
    frame = pd.read_csv(f"{prefix}.spm_ref_bleu.csv")
    ours = frame[frame["kind"].isin(["computed", "pair_best"])]
    assert ours["kind"].tolist() == ["computed", "pair_best", "computed", "pair_best"]
    assert ours["method"].tolist() == ["baseline", "baseline", "lssd_whole", "lssd_whole"]
    assert ours["title"].tolist()[1::2] == [
        "Baseline, per-pair best (2–3 models)",
        "LSSD-Whole, per-pair best (1 model)",
    ]
    baseline_best = ours.iloc[1]
    # seed means, deviations and averages exactly as the computed rows (the same numbers, 5 points up)
    assert baseline_best["fra"] == 36.0 and baseline_best["avg"] == pytest.approx(62 / 3 + 6, abs=1e-4)
    assert baseline_best["bos_std"] == pytest.approx(1.4142, abs=1e-4) and baseline_best["source"] == "2 seed(s), τ=1"
    assert not ours.iloc[1]["fra_best"] and ours.iloc[0]["fra_best"]  # bold: the best computed mean only
    deltas = frame[frame["kind"] == "difference"]
    assert len(deltas) == 2 and set(deltas["title"].str.contains("per-pair")) == {False}
    markdown = text_of(tmp_path / "out" / "o2m.spm_ref_bleu.md")
    assert "| Baseline, per-pair best (2–3 models) | 36.00 ± 0.00 | 27.00 ± 1.41 | 17.00 ± 1.41 |" in markdown
    assert "| LSSD-Whole, per-pair best (1 model) | 8.00 |" in markdown
    assert table_render.PAIR_BEST_NOTE in markdown
    latex = (tmp_path / "out" / "o2m.spm_ref_bleu.tex").read_text()
    # one rule under the header, one before the published rows, one before the Δ rows: ours are one block
    assert latex.count("\\midrule") == 3 and "\\textbf{41.00" not in latex
    page = (tmp_path / "out" / "o2m.bleu.html").read_text()
    assert '<tr class="pair_best"><td>Baseline, per-pair best (2–3 models)</td><td>35.00 ± 0.00</td>' in page
    standard = pd.read_csv(f"{prefix}.bleu.csv")
    # no significance mark on a per-pair best row, even where its method's one-model row has one
    assert not standard[standard["kind"] == "pair_best"]["bos_significant"].any()
    assert standard[standard["kind"] == "computed"]["bos_significant"].tolist() == [False, True]


def test_without_per_pair_best_files_the_tables_have_no_such_rows_or_note(tmp_path):
    prefix = run_cli(tmp_path)
    assert set(pd.read_csv(f"{prefix}.bleu.csv")["kind"]) == {"computed"}
    assert table_render.PAIR_BEST_NOTE not in (tmp_path / "out" / "o2m.bleu.md").read_text()


def test_a_per_pair_best_file_without_its_object_names_itself(tmp_path, capsys):
    from lssd.io import run_cli as run_stage

    (tmp_path / "pair_best").mkdir()
    best = write_pair_best(tmp_path, PAIR_BEST_ROWS, PAIR_BEST_MODELS)
    best[1].write_text(
        json.dumps({key: value for key, value in json.loads(best[1].read_text()).items() if key != "pair_best"})
    )
    assert run_stage(lambda: run_cli(tmp_path, after=["--pair-best", *map(str, best)])) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {best[1]}: no 'pair_best' in it") and "per-pair best evaluation directory" in error
