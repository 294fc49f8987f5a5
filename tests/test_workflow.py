"""The real DAG (real Snakemake scheduler, real fairseq) on CPU, with the config the Snakemake workflow catalog runs
(.test/config/config.yaml over the demo's: two languages, a one-layer model, two epochs, baseline and LSSD-Adaptive
in both directions)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from itertools import product
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lssd.method.history import pair_best_epochs
from lssd.run import commands
from tests.helpers import BIN, REPO, job_stats, snakemake

pytestmark = pytest.mark.slow

CATALOG_CONFIG = REPO / ".test" / "config" / "config.yaml"
DATASET, PRESET = "ci", "ci_tiny"  # its dataset and training preset


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dag")
    # written as dry_run_with writes its variants (keys sorted), so that they differ from it only by their change
    (workdir / "config.yaml").write_text(yaml.safe_dump(yaml.safe_load(CATALOG_CONFIG.read_text())))
    result = snakemake("--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    (workdir / "first-run.out").write_text(result.stdout + result.stderr)
    return workdir


def test_dag_leaves_per_pair_scores_histories_and_tables(workdir):
    results = workdir / "results"
    directions = {"m2o": ["bos-eng", "fra-eng"], "o2m": ["eng-bos", "eng-fra"]}
    for (direction, pairs), method in product(directions.items(), ("baseline", "lssd_adaptive")):
        run = results / "train" / DATASET / direction / method / "seed1"
        history = json.loads((run / "history.json").read_text())
        assert list(history) == [*pairs, "all"] and all(len(v) == 2 for v in history.values())
        records = json.loads((run / "records.json").read_text())
        assert list(records) == pairs and records[pairs[0]]["kd_on"] == [False, False]
        assert (run / "checkpoint_best.pt").stat().st_size > 0
        log = (workdir / "logs" / "train" / DATASET / direction / method / "seed1.log").read_text()
        criterion = "LSSDDistillationCriterion" if method != "baseline" else "LabelSmoothedCrossEntropyCriterion"
        assert f"criterion: {criterion}" in log
        evaluation = results / "eval" / DATASET / direction / method / "seed1"
        for pair in pairs:
            scores = json.loads((evaluation / f"{pair}.test.json").read_text())
            target = pair.split("-")[1]
            source = pair.split("-")[0] if target == "eng" else target
            references = (results / "data" / DATASET / f"test.{source}-eng.{target}").read_text().splitlines()
            hypotheses = (evaluation / f"{pair}.test.hyp").read_text().splitlines()
            assert scores["n_sentences"] == len(references) == len(hypotheses)
            for metric in ("bleu", "chrf", "chrfpp", "spm_ref_bleu", "spm_ref_chrf", "spm_ref_chrfpp"):
                assert 0 <= scores[metric] <= 100, metric
            assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
            assert scores["spm_ref_bleu_signature"] == scores["bleu_signature"]
            # the paper-comparable references: the binarized split decoded, one per raw reference
            assert len((evaluation / f"{pair}.test.spm_ref").read_text().splitlines()) == len(references)
            assert (scores["method"], scores["pair"], scores["split"]) == (method, pair, "test")
    for direction in ("m2o", "o2m"):
        table = pd.read_csv(results / "tables" / DATASET / f"{direction}.bleu.csv", index_col="method")
        scores = [c for c in table.columns if c in ("fra", "bos", "avg", "low_avg", "high_avg")]
        assert scores == ["fra", "bos", "avg", "low_avg", "high_avg"]  # ordered by training size, then averages
        # each method's one-model row, then its per-pair best row (evaluation.per_pair_best)
        assert list(table.index) == ["baseline", "baseline", "lssd_adaptive", "lssd_adaptive"]
        assert list(table["kind"]) == ["computed", "pair_best"] * 2  # no paper setting: no published rows
        table = table[table["kind"] == "computed"]
        assert table.loc["baseline", "avg"] == pytest.approx(table.loc["baseline", ["fra", "bos"]].mean(), abs=0.01)
        assert table.loc["baseline", "low_avg"] == table.loc["baseline", "bos"]
        assert (results / "tables" / DATASET / f"{direction}.chrf.md").read_text().startswith(f"### {DATASET}")
    manifest = json.loads((results / "data" / DATASET / "manifest.json").read_text())
    assert manifest["languages"]["bos"]["sizes"]["train"] == 65
    assert {p.name for p in (results / "spm" / DATASET / "models").glob("*.model")} == {
        "spm.bos.model", "spm.fra.model", "spm.eng.model"
    }  # fmt: skip
    assert (workdir / "logs" / "train" / DATASET / "m2o" / "baseline" / "seed1.log").exists()


def test_report_files_and_html_report(workdir):
    results = workdir / "results"
    for direction in ("m2o", "o2m"):
        for name in ("curves", "compare", "distillation"):
            for ext in ("png", "pdf"):
                assert (results / "figures" / DATASET / direction / f"{name}.{ext}").stat().st_size > 5000
        for name in ("convergence", "convergence_summary"):
            assert (results / "tables" / DATASET / f"{direction}.{name}.csv").exists()
        latex = (results / "tables" / DATASET / f"{direction}.bleu.tex").read_text()
        assert "\\toprule" in latex and "LSSD-Adaptive" in latex and "\\textbf{" in latex
        page = (results / "tables" / DATASET / f"{direction}.bleu.html").read_text()
        assert "<td>LSSD-Adaptive</td>" in page and "<td><b>" in page and "sacrebleu signature" in page
        significance = json.loads((results / "significance" / DATASET / direction / "lssd_adaptive.json").read_text())
        assert len(significance["pairs"]) == 2
        assert all(0 <= test["p_value"] <= 1 for test in significance["pairs"].values())
    result = snakemake("--report", "report.zip", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        names = [name.rsplit("/", 1)[-1] for name in archive.namelist()]
    assert "report.html" in names
    for direction in ("m2o", "o2m"):
        for metric in ("bleu", "spm_ref_bleu", "chrf", "chrfpp"):
            for ext in ("csv", "md", "tex", "html"):
                assert f"{direction}.{metric}.{ext}" in names
        for name in ("convergence", "convergence_summary"):
            for ext in ("csv", "md", "html"):
                assert f"{direction}.{name}.{ext}" in names
    for name in ("curves", "compare", "distillation"):  # one per direction
        assert names.count(f"{name}.png") == 2 and names.count(f"{name}.pdf") == 2


def test_the_disk_the_trainings_need_is_said_before_they_start_and_holds(workdir):
    """Before any job, the disk the trainings to run need (lssd.run.disk's arithmetic) is printed. What each
    finished run holds is at most the estimate (made at the largest dictionary the SentencePiece settings allow),
    and, with the model's real parameter count, the files the arithmetic counts (three full checkpoints and one
    weights-only file per pair) within a few per cent."""
    import torch

    from lssd import config_files
    from lssd.run import disk, disk_space

    output = (workdir / "first-run.out").read_text()
    assert "lssd: the 4 trainings to run need up to " in output and " more disk while they train" in output
    assert "lssd: warning" not in output
    config = config_files.load_config([config_files.DEMO, workdir / "config.yaml"])
    for direction, method in product(("m2o", "o2m"), ("baseline", "lssd_adaptive")):
        run = workdir / "results" / "train" / DATASET / direction / method / "seed1"
        held = disk_space.run_bytes(run)
        assert held <= disk.training_disk(config, DATASET, direction, method, fp16=False).finished_bytes
        weights = torch.load(run / "checkpoint_best.pt", map_location="cpu", weights_only=False)["model"]
        parameters = sum(
            tensor.numel()
            for name, tensor in weights.items()
            if not name.endswith(".version") and "embed_positions" not in name and "output_projection" not in name
        )
        exact = disk.run_disk(
            parameters, pairs=2, fp16=False, mid_epoch_checkpoints=False, distils=method != "baseline", pair_best=True
        )
        assert 0.95 * exact.finished_bytes <= held <= 1.1 * exact.finished_bytes, (direction, method, held, exact)


def test_second_run_does_nothing(workdir):
    result = snakemake("-n", "--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr
    assert "lssd: the " not in result.stdout + result.stderr  # no training to run: nothing said of the disk


def test_a_training_records_only_its_fairseq_arguments(workdir):
    """Snakemake replans a job whose recorded params changed, and it records every param that does not depend on
    the job's input or output files. The train rule records one: the fairseq arguments, what defines the model.
    Another param of the wildcards alone (the save dir, say) would be recorded too, and adding one in an upgrade
    replans every finished training of every user (docs/running.md, Upgrading the pipeline)."""
    records = [json.loads(path.read_text()) for path in (workdir / ".snakemake" / "metadata").iterdir()]
    trainings = [record for record in records if record.get("rule") == "train"]
    assert len(trainings) == 3 * 4  # a record per output (best, history, records) of each of the 4 runs
    for record in trainings:
        assert len(record["params"]) == 1 and record["params"][0].startswith(f'"results/bin/{DATASET} --task '), record


def test_lint_is_clean_but_for_the_documented_conda_warning():
    result = snakemake("--lint", cwd=REPO)
    lints = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("* ")]
    assert lints and all(line.startswith("* Specify a conda environment or container") for line in lints), lints


def test_report_rules_rerun_when_and_only_when_their_inputs_change(workdir):
    """A run evaluated again (its evaluation directory deleted, as docs/running.md says): that evaluation, its
    direction's table and significance test are planned, nothing else. A changed history: the tables, statistics
    and figures that read it. (Snakemake compares the content of small inputs: a mere touch plans nothing.)"""
    evaluation = workdir / "results" / "eval" / DATASET / "o2m" / "lssd_adaptive" / "seed1"
    shutil.rmtree(evaluation)
    result = snakemake("-n", "--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    planned = job_stats(result.stdout + result.stderr)
    # its per-pair best evaluation reuses the one-model files where a pair's best is checkpoint_best.pt: it follows,
    # and the gap table and figure read both
    assert planned == {
        "evaluate": 1,
        "evaluate_pair_best": 1,
        "significance": 1,
        "tables": 1,
        "gap_table": 1,
        "figure_pair_best": 1,
        "all": 1,
    }, planned
    assert snakemake("--cores", "2", "--configfile", "config.yaml", cwd=workdir).returncode == 0
    assert (evaluation / "eng-bos.test.json").exists()
    history = workdir / "results" / "train" / DATASET / "m2o" / "baseline" / "seed1" / "history.json"
    values = json.loads(history.read_text())
    values["all"][-1] += 0.001
    history.write_text(json.dumps(values))
    result = snakemake("-n", "--configfile", "config.yaml", cwd=workdir)
    planned = job_stats(result.stdout + result.stderr)
    # the history also says which checkpoint is each pair's best: that run's per-pair best evaluation and what
    # reads it (the tables' per-pair best rows, the gap table and figure)
    assert planned == {
        "convergence": 1,
        "figure_curves": 1,
        "figure_compare": 1,
        "evaluate_pair_best": 1,
        "tables": 1,
        "gap_table": 1,
        "figure_pair_best": 1,
        "all": 1,
    }, planned
    assert snakemake("--cores", "2", "--configfile", "config.yaml", cwd=workdir).returncode == 0


def test_a_damaged_evaluation_file_is_noticed_and_the_run_evaluated_again(workdir):
    """A truncated score file inside an evaluation directory (Snakemake dates the directory, not its files): the
    next run moves the directory aside, kept, and evaluates the run again; the tables follow. A dry run says so and
    moves nothing."""
    evaluation = workdir / "results" / "eval" / DATASET / "m2o" / "baseline" / "seed1"
    scores = evaluation / "bos-eng.test.json"
    whole = scores.read_text()
    assert (evaluation / "checksums.sha256").read_text().count("\n") == len(list(evaluation.glob("*.*.*")))
    scores.write_text(whole[: len(whole) // 2])
    result = snakemake("-n", "--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert f"{scores.relative_to(workdir)} changed since it was written" in said, said[-3000:]
    assert "(dry run: nothing moved)" in said and scores.read_text() != whole
    result = snakemake("--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    [moved] = evaluation.parent.glob("seed1.damaged-*")
    assert (moved / "bos-eng.test.json").read_text() == whole[: len(whole) // 2]
    assert json.loads(scores.read_text()) == json.loads(whole)
    assert "rule evaluate:" in result.stdout + result.stderr and "rule tables:" in result.stdout + result.stderr
    again = snakemake("-n", "--configfile", "config.yaml", cwd=workdir)
    assert "Nothing to be done" in again.stdout + again.stderr


def dry_run_with(workdir, name, change):
    """A dry run of the working directory's config as ``change(config)`` leaves it; its output."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    change(config)
    (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", f"{name}.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_a_changed_config_value_replans_exactly_the_jobs_it_affects(workdir):
    """Params are a rerun trigger: a decoding setting replans the evaluations (and what reads them); a method's
    weight in one direction replans that one training and what depends on it, nothing else."""
    planned = job_stats(dry_run_with(workdir, "beam", lambda config: config["evaluation"].update(beam=4)))
    assert planned == {
        "evaluate": 4,
        "evaluate_pair_best": 4,  # (decoded with the same settings)
        "significance": 2,
        "tables": 2,
        "gap_table": 2,
        "figure_pair_best": 2,
        "all": 1,
    }, planned

    def weight(config):
        config["methods"]["lssd_adaptive"]["by_direction"]["o2m"]["criterion_args"]["distillation_weight"] = 0.7

    output = dry_run_with(workdir, "weight", weight)
    planned = job_stats(output)
    assert planned["train"] == 1 and planned["evaluate"] == 1, planned
    assert f"wildcards: dataset={DATASET}, direction=o2m, method=lssd_adaptive, seed=1" in output
    assert not any(rule in planned for rule in ("prepare_demo", "spm_train", "spm_encode", "binarize"))
    assert "direction=m2o" not in output and "method=baseline" not in output

    # another method (the demo's LSSD-Whole): its trainings and what reads them, not the data, SentencePiece or the
    # data-bin
    def another_method(config):
        demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["methods"]["lssd_whole"] = demo["methods"]["lssd_whole"]
        config["run"]["methods"].append("lssd_whole")

    planned = job_stats(dry_run_with(workdir, "more", another_method))
    assert planned["train"] == 2 and not {"prepare_demo", "spm_train", "spm_encode", "binarize"} & set(planned)


def test_finished_runs_keep_no_epoch_checkpoints(workdir):
    """Bounded disk: a finished run keeps checkpoint_last.pt, fairseq's best, the teachers in use and its records;
    no epoch checkpoint (kept on request: run.keep_epoch_checkpoints)."""
    for direction, method in product(("m2o", "o2m"), ("baseline", "lssd_adaptive")):
        save_dir = workdir / "results" / "train" / DATASET / direction / method / "seed1" / "checkpoints"
        files = sorted(str(path.relative_to(save_dir)) for path in save_dir.rglob("*") if path.is_file())
        teachers = [name for name in files if name.startswith("teachers/")]
        assert [name for name in files if name not in teachers] == [
            "checkpoint_best.pt", "checkpoint_last.pt", "history.json", "logs/attempt-1.log", "records.json",
            "run_args.json",
        ], files  # fmt: skip
        # each pair's best checkpoint (evaluation.per_pair_best), and LSSD's teachers of the last epoch (one file per
        # distinct best epoch of a pair, the same files where they are the same epochs)
        records = json.loads((save_dir.parent / "records.json").read_text())
        in_use = {records[pair]["best_epoch"][-1] for pair in records} if method != "baseline" else set()
        bests = set(pair_best_epochs(json.loads((save_dir / "history.json").read_text())).values())
        assert teachers == sorted(f"teachers/teacher_epoch{epoch}.pt" for epoch in in_use | bests), teachers


def copy_tree(source, target):
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    else:
        shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git", "__pycache__"))


def test_a_moved_checkout_and_results_plan_nothing(workdir, tmp_path):
    """The checkout and the working directory copied elsewhere (mtimes kept, .snakemake with them): the plugin's
    path is not in any rule's params, so nothing is planned."""
    checkout, moved = tmp_path / "checkout", tmp_path / "work"
    for name in ("Snakefile", "workflow", "lssd", "config"):
        copy_tree(REPO / name, checkout / name)
    copy_tree(workdir, moved)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(checkout))
    command = [str(BIN / "snakemake"), "-s", str(checkout / "Snakefile"), "--directory", str(moved)]
    result = subprocess.run(
        [*command, "-n", "--configfile", "config.yaml"], cwd=moved, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    where = subprocess.run(
        [sys.executable, "-c", "import lssd.run.commands as c; print(c.USER_DIR)"],
        cwd=moved,
        env=env,
        capture_output=True,
        text=True,
    )
    # the copy's plugin is the one the rules would load
    assert where.stdout.strip() == str(checkout / Path(commands.USER_DIR).relative_to(REPO))


def test_settings_that_cannot_change_a_model_replan_only_what_reads_them(workdir):
    """A language's role: only the tables and figures (its averages and panel titles). Logging, checkpoint
    retention, CPU workers and fp16: nothing. A raised max_epoch: the trainings (which continue) and what reads them."""
    role = dry_run_with(
        workdir, "role", lambda config: config["datasets"][DATASET]["languages"]["fra"].update(role="low")
    )
    planned = job_stats(role)
    # (the gap table's and the per-pair best figure's low/high averages and panel titles too)
    assert planned == {
        "tables": 2,
        "figure_curves": 2,
        "figure_compare": 2,
        "gap_table": 2,
        "figure_pair_best": 2,
        "all": 1,
    }, planned

    def runtime(config):
        config["trainings"][PRESET]["log_interval"] = 7
        config["run"]["keep_epoch_checkpoints"] = True
        # the devices: a finished run stays published (a resumed one is checked against its identity)
        config["run"]["cpu_workers_per_training"] = 2
        config["run"]["fp16"] = True

    output = dry_run_with(workdir, "runtime", runtime)
    assert "Nothing to be done" in output, output[-3000:]

    planned = job_stats(dry_run_with(workdir, "longer", lambda config: config["trainings"][PRESET].update(max_epoch=3)))
    assert planned["train"] == 4 and not {"prepare_demo", "spm_train", "binarize"} & set(planned), planned
