"""The paper-scale rehearsal (benchmarks/rehearse_data.py), end to end at a tiny fraction, and its growth fit."""

import json
import subprocess
import sys

import pytest

from benchmarks.rehearsal_report import exponent, fit, line
from lssd.config import dataset_downloads
from tests.helpers import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rehearsal")
    report = workdir / "wmt.json"
    command = [sys.executable, str(REPO / "benchmarks" / "rehearse_data.py"), "--fraction", "0.001", "--datasets",
               "wmt6", "--workdir", str(workdir), "--cores", "2", "--json", str(report)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(report.read_text()), result.stdout, workdir


def test_every_data_job_of_the_paper_config_is_measured(rehearsed):
    import yaml

    report, _, _ = rehearsed
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    jobs = {(record["stage"], record["job"]) for record in report["records"]}
    downloads = {job for stage, job in jobs if stage == "download"}
    assert downloads == set(dataset_downloads(paper["datasets"]["wmt6"]))
    others = {(stage, job) for stage, job in jobs if stage != "download"}
    # one joint SentencePiece model, one encoding job per language, one preparation and one binarization
    languages = sorted(paper["datasets"]["wmt6"]["languages"])
    assert others == {
        ("prepare_wmt", "wmt6"),
        ("spm_train", "wmt6.joint"),
        ("binarize", "wmt6"),
        *{("spm_encode", f"wmt6.{lang}") for lang in languages},
    }


def test_each_job_has_its_time_exact_peak_memory_and_sizes(rehearsed):
    report, _, _ = rehearsed
    for record in report["records"]:
        assert record["seconds"] > 0, record
        assert record["written_bytes"] > 0, record
        if record["stage"] != "download":
            # the job's own log line (lssd.io.peak_memory_line), not only Snakemake's sample
            assert record["peak_own_mb"] > 10, record
            assert record["read_bytes"] > 0, record
    prepared = next(r for r in report["records"] if r["stage"] == "prepare_wmt")
    downloaded = sum(r["written_bytes"] for r in report["records"] if r["stage"] == "download")
    assert prepared["read_bytes"] == downloaded  # what the preparation reads: every archive it needs


def test_the_summary_names_every_stage_and_the_machine(rehearsed):
    _, printed, _ = rehearsed
    for stage in ("download", "prepare_wmt", "spm_train", "spm_encode", "binarize"):
        assert f"\n{stage} " in printed
    assert "fraction 0.001, 1 repeat(s), snakemake --cores 2" in printed


def test_the_fit_reads_the_reports(rehearsed):
    _, _, workdir = rehearsed
    command = [sys.executable, str(REPO / "benchmarks" / "rehearse_data.py"), "--fit", str(workdir / "wmt.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {row.split()[0] for row in result.stdout.splitlines()[1:]} == {
        "download", "prepare_wmt", "spm_train", "spm_encode", "binarize"
    }  # fmt: skip


def test_growth_exponents_tell_linear_from_quadratic():
    sizes = [1.0, 10.0, 100.0]
    assert exponent(sizes, [3 * s for s in sizes]) == "1.00"
    assert exponent(sizes, [s * s for s in sizes]) == "2.00"
    assert exponent([1.0, 2.0], [1.0, 4.0]) == "-"  # a factor of 2 in size is too narrow to tell
    assert line([0.0, 1.0, 2.0], [5.0, 7.0, 9.0]) == pytest.approx((5.0, 2.0))
    assert line([1.0, 1.0], [4.0, 6.0]) == (5.0, 0.0)


def test_the_fit_gives_the_figures_the_cost_table_holds():
    records = [
        {"stage": "binarize", "read_bytes": gb * 1e9, "seconds": 60 * (2 + 3 * gb), "peak_mb": 500 + 100 * gb}
        for gb in (0.1, 1.0, 10.0)
    ]
    row = fit([{"records": records}]).splitlines()[1].split()
    assert row[0] == "binarize" and row[1] == "3"
    fixed_mb, per_gb_mb, fixed_min, per_gb_min = map(float, row[-4:])
    assert (fixed_mb, per_gb_mb, fixed_min, per_gb_min) == pytest.approx((500, 100, 2, 3), abs=0.01)


def test_the_markdown_table_has_a_row_per_dataset_and_stage(rehearsed):
    from benchmarks.rehearsal_report import markdown

    report, _, _ = rehearsed
    rows = markdown(report).splitlines()
    assert rows[0].startswith("| dataset | stage | jobs | wall time, s (2 cores) |")
    stages = [row.split(" | ")[:3] for row in rows[2:]]
    assert stages == [
        ["| downloads", "download", "17"],
        ["| wmt6", "prepare_wmt", "1"],
        ["| wmt6", "spm_train", "1"],
        ["| wmt6", "spm_encode", "6"],
        ["| wmt6", "binarize", "1"],
    ]
