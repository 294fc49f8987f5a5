"""Convergence statistics and figures from small hand-made histories and records."""

import json

import pytest

from lssd.report import convergence, figures

HISTORY = {
    "a-eng": [5.0, 4.0, 4.5, 4.6],  # best at 2
    "b-eng": [6.0, 5.0, 4.8, 4.7],  # best at 4
    "all": [5.5, 4.5, 4.6, 4.65],  # overall best at 2
}
RECORDS = {
    "a-eng": {"best_epoch": [None, 1, 2, 2], "kd_on": [False, False, False, True], "mean_gate": [None] * 3 + [0.5],
              "kd_loss": [None] * 3 + [3.0]},
    "b-eng": {"best_epoch": [None, 1, 2, 3], "kd_on": [False] * 4, "mean_gate": [None] * 4, "kd_loss": [None] * 4},
}  # fmt: skip


def test_pair_statistics_by_hand():
    rows = {row["pair"]: row for row in convergence.pair_statistics(HISTORY, RECORDS)}
    assert rows["a-eng"]["best_epoch"] == 2 and rows["a-eng"]["best_loss"] == 4.0
    assert rows["a-eng"]["distance_to_own_best"] == 0.0
    assert rows["b-eng"]["best_epoch"] == 4
    assert rows["b-eng"]["loss_at_overall_best"] == 5.0
    assert rows["b-eng"]["distance_to_own_best"] == pytest.approx(0.3)
    # a: epoch 4 is the first whose best-before (2) is more than one epoch back; b improves every epoch
    assert rows["a-eng"]["switch_epochs"] == 1 and rows["b-eng"]["switch_epochs"] == 0
    assert rows["a-eng"]["distilled_epochs"] == 1 and rows["b-eng"]["distilled_epochs"] == 0
    assert rows["all"]["best_epoch"] == 2 and rows["all"]["distance_to_own_best"] == pytest.approx(0.3)
    summary = convergence.run_summary(list(rows.values()))
    assert summary["best_epoch_range"] == 2
    assert summary["best_epoch_std"] == pytest.approx(1.0)
    assert summary["overall_best_epoch"] == 2


def test_switch_rule_and_ties():
    assert convergence.switch_epochs([3.0, 2.0, 2.0, 2.5, 1.0, 1.5]) == [False, False, False, True, True, False]
    assert convergence.best_epoch([2.0, 1.0, 1.0]) == 2  # the earliest of equal minima
    assert convergence.best_epoch([2.0, 1.0, 0.5], before=3) == 2


def test_convergence_tables_are_written(tmp_path):
    convergence.write_tables([("baseline seed1", HISTORY, RECORDS)], tmp_path / "m2o", "toy m2o")
    detail = (tmp_path / "m2o.convergence.md").read_text()
    row = next(line for line in detail.splitlines() if "b-eng" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][:3] == ["baseline seed1", "b-eng", "4"]
    assert "0.300" in row
    assert "best_epoch_range" in (tmp_path / "m2o.convergence_summary.csv").read_text()
    page = " ".join((tmp_path / "m2o.convergence.html").read_text().split())
    assert "<h3>toy m2o: convergence</h3>" in page and "<td>baseline seed1</td> <td>b-eng</td> <td>4</td>" in page
    assert "0.300" in page and "<p>Per pair: best epoch" in page


MANIFEST = {"pivot": "eng", "languages": {"a": {"role": "low"}, "b": {"role": "high"}}}


def test_figures_are_written_and_not_empty(tmp_path):
    made = figures.save(figures.plot_curves(HISTORY, MANIFEST, "toy"), tmp_path / "curves")
    made += figures.save(
        figures.plot_compare({"baseline": HISTORY, "lssd_whole": HISTORY}, MANIFEST, "toy"), tmp_path / "compare"
    )
    made += figures.save(figures.plot_distillation({"lssd_whole": RECORDS}, "toy"), tmp_path / "kd")
    assert sorted(p.name for p in made) == sorted(
        f"{name}.{ext}" for name in ("curves", "compare", "kd") for ext in ("png", "pdf")
    )
    for path in made:
        assert path.stat().st_size > 5000
        assert path.read_bytes()[:4] in (b"\x89PNG", b"%PDF")


def test_distillation_matrix_marks_kd_epochs_with_their_gate():
    pairs, matrix = figures.distillation_matrix(RECORDS)
    assert pairs == ["a-eng", "b-eng"]
    assert matrix[0, 3] == 0.5
    assert sum(1 for value in matrix.flatten() if value == value) == 1  # one non-NaN cell


def test_a_truncated_history_names_itself_and_what_to_do(tmp_path, capsys):
    from lssd.io import run_cli

    history, records = tmp_path / "history.json", tmp_path / "records.json"
    history.write_text(json.dumps(HISTORY)[:40])
    records.write_text(json.dumps(RECORDS))
    argv = ["--run", "baseline seed1", str(history), str(records), "--out-prefix", str(tmp_path / "m2o")]
    assert run_cli(lambda: convergence.main(argv)) == 1
    error = capsys.readouterr().err
    assert f"error: {history}: not valid JSON" in error and "cut short" in error and "delete it" in error
