"""Faults in the real DAG (real Snakemake, real fairseq, on CPU): a training job killed after an epoch or in the
middle of one, a Snakemake controller killed in the middle of the DAG, and the same run done twice.

Every kill is a SIGKILL of the whole process group (Snakemake, the job's shell, ``lssd.run.train_run`` and
fairseq-train), as a node failure or an OOM kill would do it; the recovery is the one docs/running.md documents
(``--unlock`` for the stale lock, then the same command, with ``--rerun-incomplete`` if Snakemake asks for it).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml

import lssd.plugin.task  # noqa: F401  (allows loading fairseq checkpoints in this process)
from lssd import layout
from tests.helpers import BIN, close, jobs_in, reduced_config, snakemake, snakemake_in_background

pytestmark = pytest.mark.slow

DIRECTION = "o2m"
PAIRS = ["eng-bos", "eng-fra"]
METHODS = ("baseline", "lssd_adaptive")
EPOCHS = 5
# A high learning rate and a dozen bos pairs (subsample floor 12) make eng-bos stop improving after epoch 3, so
# LSSD distils it in epoch 5: the resumed LSSD run needs its teacher of epoch 3 back from before the kill.
# Small batches give ~40 updates an epoch, logged one by one, so that a kill can land inside an epoch.
TRAINING = {"max_epoch": EPOCHS, "lr": 0.03, "max_tokens": 512, "log_interval": 1}
PREPARATION_RULES = {"prepare_demo", "spm_train", "spm_encode", "binarize"}
TIMEOUT = 300
# two trainings side by side, one thread each (run.threads_per_training), as in the reference run
CORES = "2"


def fault_config(methods=METHODS, **training):
    """The reduced demo config, one direction, five epochs of the one-layer model."""
    config = reduced_config()
    config["run"]["directions"] = [DIRECTION]
    config["run"]["methods"] = list(methods)
    config["datasets"]["demo"]["source"]["subsample"]["floor"] = 12
    config["trainings"]["tiny"].update({**TRAINING, **training})
    return config


def make_workdir(tmp_path_factory, name, config, prepare=None):
    """A working directory with the config; with ``prepare`` (the prepared_data fixture) its data prepared."""
    workdir = tmp_path_factory.mktemp(name)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return prepare(workdir) if prepare else workdir


def run_dir(workdir, method):
    return workdir / layout.run_dir("demo", DIRECTION, method, 1)


def train_targets(*methods):
    return [layout.run_dir("demo", DIRECTION, method, 1, layout.HISTORY) for method in methods]


def train_log(workdir, method):
    return workdir / layout.log("train", dataset="demo", direction=DIRECTION, method=method, seed=1)


def wait_until(condition, process, what, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if process.poll() is not None:
            output = Path(process.output.name).read_text()[-3000:]
            raise AssertionError(f"Snakemake exited ({process.returncode}) before {what}:\n{output}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def processes_in(workdir):
    """The processes (other than this one) whose working directory is workdir."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") == os.path.realpath(workdir):
                found.append(int(entry))
        except OSError:
            continue
    return found


def kill_group(process, workdir):
    """SIGKILL Snakemake and everything it started; every job must be gone with it (none in another group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the group Popen(start_new_session=True) made
    except ProcessLookupError:
        pass  # Snakemake and all its jobs have ended
    process.wait()
    process.output.close()
    deadline = time.time() + 10
    while processes_in(workdir) and time.time() < deadline:
        time.sleep(0.05)
    survivors = processes_in(workdir)
    for pid in survivors:  # only ours: their working directory is this test's directory
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes survived the kill of Snakemake's process group: {survivors}"


@contextmanager
def killed(process, workdir):
    """Kill the process group when the block ends, however it ends."""
    try:
        yield process
    finally:
        kill_group(process, workdir)


def rerun(workdir, *args):
    """The documented recovery after a killed Snakemake: --unlock for its stale lock, then the same command, with
    --rerun-incomplete when Snakemake asks for it. Returns the outputs of the attempts (after --unlock)."""
    command = [*args, "--configfile", "config.yaml"]
    result = snakemake(*command, cwd=workdir, timeout=TIMEOUT)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "Directory cannot be locked" in output:
        assert "--unlock" in output, output[-3000:]
        unlocked = snakemake("--unlock", "--configfile", "config.yaml", cwd=workdir, timeout=TIMEOUT)
        assert unlocked.returncode == 0, unlocked.stderr[-3000:]
        result = snakemake(*command, cwd=workdir, timeout=TIMEOUT)
        output = result.stdout + result.stderr
    attempts = [output]
    if result.returncode != 0 and "--rerun-incomplete" in output:
        result = snakemake(*args, "--rerun-incomplete", "--configfile", "config.yaml", cwd=workdir, timeout=TIMEOUT)
        attempts.append(result.stdout + result.stderr)
    assert result.returncode == 0, attempts[-1][-5000:]
    return attempts


def executed_rules(output):
    """The rule of every job a Snakemake run started."""
    return [job.rule for job in jobs_in(output)]


def load_best(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def assert_same_run(workdir, reference, method):
    """The run's published history, records and best checkpoint are those of the uninterrupted reference run."""
    resumed_dir, reference_dir = run_dir(workdir, method), run_dir(reference, method)
    for name in ("history.json", "records.json"):
        resumed = json.loads((resumed_dir / name).read_text())
        expected = json.loads((reference_dir / name).read_text())
        assert list(resumed) == list(expected), name
        assert close(resumed, expected), f"{method} {name} differs:\n{resumed}\n!=\n{expected}"
    history = json.loads((resumed_dir / "history.json").read_text())
    assert list(history) == [*PAIRS, "all"] and all(len(values) == EPOCHS for values in history.values())
    resumed, expected = (load_best(d / "checkpoint_best.pt") for d in (resumed_dir, reference_dir))
    assert resumed["extra_state"]["train_iterator"]["epoch"] == expected["extra_state"]["train_iterator"]["epoch"]
    assert resumed["optimizer_history"][-1]["num_updates"] == expected["optimizer_history"][-1]["num_updates"]
    assert resumed["model"].keys() == expected["model"].keys()
    for key, tensor in expected["model"].items():
        assert torch.allclose(resumed["model"][key], tensor, rtol=1e-6, atol=1e-8), f"{method}: weights {key} differ"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prepared_data):
    """Both methods trained without interruption (the two jobs side by side, one thread each, as in the DAG)."""
    workdir = make_workdir(tmp_path_factory, "reference", fault_config(), prepared_data)
    result = snakemake(*train_targets(*METHODS), "--cores", CORES, "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_reference_settings_make_lssd_distil(reference):
    """Without KD in the reference run, the LSSD kill test would not cover teachers kept across a kill."""
    records = json.loads((run_dir(reference, "lssd_adaptive") / "records.json").read_text())
    assert any(any(records[pair]["kd_on"]) for pair in PAIRS), (
        "KD never switched on: the test settings no longer make a pair stop improving"
    )
    assert "LSSD epoch 5: distilling eng-bos" in train_log(reference, "lssd_adaptive").read_text()


def run_status(workdir):
    """``python -m lssd.run.status`` on a working directory: its lines per run (its last line, the disk's, checked
    and left out)."""
    result = subprocess.run(
        [str(BIN / "python"), "-m", "lssd.run.status", "--configfile", "config.yaml", "--directory", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    *lines, disk = result.stdout.splitlines()
    assert re.fullmatch(r"disk: [\d.]+ [kMG]B in the runs of this config; .* free on the file system of .*", disk), disk
    runs, current = {}, None
    for line in lines:
        if not line.startswith(" "):
            current = line.split(":")[0]
            runs[current] = []
        runs[current].append(line)
    return runs


def test_status_of_finished_runs(reference):
    runs = run_status(reference)
    assert set(runs) == {f"demo/{DIRECTION}/{method}/seed1" for method in METHODS}
    lssd = runs[f"demo/{DIRECTION}/lssd_adaptive/seed1"]
    assert lssd[0].startswith(f"demo/{DIRECTION}/lssd_adaptive/seed1: finished, epoch {EPOCHS}/{EPOCHS}, ")
    assert re.search(r", \d+ s per epoch on the CPU$", lssd[0]), lssd[0]
    history = json.loads((run_dir(reference, "lssd_adaptive") / "history.json").read_text())
    expected = "  ".join(f"{pair} {history[pair][-1]:.3f}" for pair in PAIRS)
    assert lssd[1] == f"    dev loss (bits/token) after epoch {EPOCHS}: {expected}"
    records = json.loads((run_dir(reference, "lssd_adaptive") / "records.json").read_text())
    distilled = [pair for pair in PAIRS if records[pair]["kd_on"][-1]]
    assert distilled and lssd[2] == f"    distilled in epoch {EPOCHS}: {', '.join(distilled)}"
    assert runs[f"demo/{DIRECTION}/baseline/seed1"][0].startswith(f"demo/{DIRECTION}/baseline/seed1: finished")


# where the kill lands: what the training log shows when it comes, the last epoch checkpointed before it.
# After epoch 4, the checkpoint's teacher table holds the teachers that epoch 5 distils eng-bos from (a table
# holds the teachers of the validations through the previous epoch: the end-of-epoch-4 validation is applied when
# epoch 5 begins). Inside epoch 2: after its first update (one train_inner line per update), ~40 updates before
# its end.
KILLS = {
    "after_epoch": (r"Saved checkpoint \S*checkpoint4\.pt", 4),
    "mid_epoch": (r"\| train_inner \| epoch 002:\s+\d+ / \d+", 1),
}


@pytest.mark.parametrize(
    "method, kill_point",
    # both kill points for LSSD (teachers, history and records in the checkpoint); the baseline's plain
    # fairseq state, in the harder case of the two (the interrupted epoch redone from its start)
    [("baseline", "mid_epoch"), ("lssd_adaptive", "after_epoch"), ("lssd_adaptive", "mid_epoch")],
)
def test_killed_training_job_resumes_and_matches_an_uninterrupted_run(
    reference, tmp_path_factory, prepared_data, method, kill_point
):
    """SIGKILL Snakemake with its training job, rerun: the job resumes from checkpoint_last.pt (not from scratch) and
    publishes the history, records and best weights of the uninterrupted reference run."""
    workdir = make_workdir(tmp_path_factory, f"kill-{method}-{kill_point}", fault_config(), prepared_data)
    targets = train_targets(method)
    pattern, saved_epoch = KILLS[kill_point]
    log, checkpoints = train_log(workdir, method), run_dir(workdir, method) / "checkpoints"

    process = snakemake_in_background(workdir, *targets, "--cores", CORES, "--configfile", "config.yaml")
    with killed(process, workdir):
        wait_until(lambda: log.exists() and re.search(pattern, log.read_text()), process, f"/{pattern}/ in {log}")
    log_at_kill = log.read_text()

    # the kill landed where intended: epochs up to saved_epoch checkpointed, the next one not finished
    assert (checkpoints / f"checkpoint{saved_epoch}.pt").exists()
    assert not (checkpoints / f"checkpoint{saved_epoch + 1}.pt").exists(), "the kill came too late"
    assert f"begin training epoch {saved_epoch + 1}" in log_at_kill or kill_point == "after_epoch"
    assert not (run_dir(workdir, method) / "history.json").exists()
    # what the status command says of the killed run: stopped, after the epochs it validated
    status = run_status(workdir)[f"demo/{DIRECTION}/{method}/seed1"]
    assert status[0].startswith(f"demo/{DIRECTION}/{method}/seed1: stopped, epoch {saved_epoch}/{EPOCHS}"), status

    attempts = rerun(workdir, *targets, "--cores", CORES)
    assert executed_rules(attempts[-1]) == ["train"], attempts[-1][-3000:]
    full_log = log.read_text()
    rerun_log = full_log[len(log_at_kill) :] if full_log.startswith(log_at_kill) else full_log
    # resumed, not started over: the runner found its own save dir, fairseq loaded the last checkpoint
    assert f"resuming in {layout.save_dir('demo', DIRECTION, method, 1)} (same arguments and data" in rerun_log
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @ (\d+) updates\)", rerun_log)
    assert loaded and int(loaded.group(1)) == saved_epoch + 1, rerun_log[-3000:]
    assert "begin training epoch 1\n" not in rerun_log and f"begin training epoch {saved_epoch + 1}\n" in rerun_log
    assert not list(checkpoints.parent.glob("checkpoints.stale-*"))
    # Snakemake deleted the job's log when it started the job again: the killed attempt's own log is kept
    killed_attempt = (checkpoints / "logs" / "attempt-1.log").read_text()
    assert "begin training epoch 1\n" in killed_attempt and re.search(pattern, killed_attempt)
    assert "Loaded checkpoint" in (checkpoints / "logs" / "attempt-2.log").read_text()
    if method == "lssd_adaptive":
        epochs = list(range(1, saved_epoch + 1))
        restored = f"per-pair history restored from {checkpoints.relative_to(workdir)}/checkpoint_last.pt"
        assert f"{restored}: epochs {epochs}" in rerun_log, rerun_log[-3000:]
        # every teacher that a resumed epoch distils from and that was made before the kill is read back from disk
        records = json.loads((run_dir(reference, method) / "records.json").read_text())
        reloaded = {
            records[pair]["best_epoch"][epoch - 1]
            for pair in PAIRS
            for epoch in range(saved_epoch + 1, EPOCHS + 1)
            if records[pair]["kd_on"][epoch - 1] and records[pair]["best_epoch"][epoch - 1] <= saved_epoch
        }
        assert reloaded or kill_point == "mid_epoch", "no resumed epoch distils from a teacher made before the kill"
        for epoch in reloaded:
            assert f"LSSD teacher of epoch {epoch} reloaded from" in rerun_log, rerun_log[-3000:]

    assert_same_run(workdir, reference, method)


def fairseq_processes(workdir):
    """The fairseq-train processes working in workdir."""
    found = []
    for pid in processes_in(workdir):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith((b"fairseq-train", b"fairseq_cli.train")) for part in command):
            found.append(pid)
    return found


def published(run):
    """Content, inode and time stamp of each of a run's published files."""
    return {
        name: ((run / name).read_bytes(), (run / name).stat().st_ino, (run / name).stat().st_mtime_ns)
        for name in (layout.BEST, layout.HISTORY, layout.RECORDS)
    }


def test_a_retraining_that_dies_leaves_the_published_run_in_place(reference, tmp_path_factory):
    """A finished run, a changed setting, and the new training killed as an OOM kill would (SIGKILL of
    fairseq-train): Snakemake had deleted the run's outputs before the job and deletes a failed job's outputs, yet
    the published model, history and records are back, the same files; the training is still planned for the new
    setting, and the old setting has nothing to do."""
    workdir = tmp_path_factory.mktemp("failed-retraining")
    shutil.copytree(reference, workdir, symlinks=True, dirs_exist_ok=True)
    targets = train_targets("baseline")
    before = published(run_dir(workdir, "baseline"))
    changed = fault_config(lr=0.02)
    (workdir / "changed.yaml").write_text(yaml.safe_dump(changed))

    process = snakemake_in_background(workdir, *targets, "--cores", CORES, "--configfile", "changed.yaml")
    with killed(process, workdir):
        wait_until(lambda: fairseq_processes(workdir), process, "fairseq-train")
        assert not (run_dir(workdir, "baseline") / layout.BEST).exists()  # deleted by Snakemake before the job
        for pid in fairseq_processes(workdir):
            os.kill(pid, signal.SIGKILL)
        assert process.wait(timeout=TIMEOUT) != 0
    output = (workdir / "snakemake.out").read_text()
    assert "previous outputs are back" in output, output[-3000:]
    assert published(run_dir(workdir, "baseline")) == before
    assert not list(workdir.rglob(".kept.*"))
    again = snakemake("-n", *targets, "--configfile", "changed.yaml", cwd=workdir)
    assert executed_rules(again.stdout + again.stderr) == ["train"], again.stdout[-3000:]
    same = snakemake("-n", *targets, "--configfile", "config.yaml", cwd=workdir)
    assert "Nothing to be done" in same.stdout + same.stderr, same.stdout[-3000:]


def snapshot(workdir, *folders):
    """mtime of every file and directory under the given result folders."""
    times = {}
    for folder in folders:
        root = workdir / folder
        for path in [root, *sorted(root.rglob("*"))]:
            times[str(path.relative_to(workdir))] = path.stat().st_mtime_ns
    return times


def test_killed_controller_mid_dag_reruns_only_unfinished_jobs(reference, tmp_path_factory, prepared_data):
    """SIGKILL Snakemake while both trainings run (data, SentencePiece and data-bin done, here copied in): the rerun
    redoes no finished job, leaves their outputs untouched, resumes the trainings and completes the evaluation."""
    workdir = make_workdir(tmp_path_factory, "controller", fault_config(), prepared_data)
    evaluation = f"results/eval/demo/{DIRECTION}/baseline/seed1/eng-bos.test.json"
    targets = [*train_targets(*METHODS), f"results/eval/demo/{DIRECTION}/baseline/seed1"]
    manifest = workdir / "results" / "bin" / "demo" / "manifest.json"

    def training_started():
        return manifest.exists() and any(
            (run_dir(workdir, m) / "checkpoints" / "checkpoint_last.pt").exists() for m in METHODS
        )

    process = snakemake_in_background(workdir, *targets, "--cores", CORES, "--configfile", "config.yaml")
    with killed(process, workdir):
        wait_until(training_started, process, "the data-bin and a first training checkpoint")
    prepared = snapshot(workdir, "results/data", "results/spm", "results/bin")
    assert not (workdir / evaluation).exists()
    # checkpoint_best.pt is the training's output published last: a job without it is rerun
    interrupted = [m for m in METHODS if not (run_dir(workdir, m) / "checkpoint_best.pt").exists()]
    assert interrupted, "both trainings finished before the kill"
    resumable = [m for m in interrupted if (run_dir(workdir, m) / "checkpoints" / "checkpoint_last.pt").exists()]
    assert resumable

    attempts = rerun(workdir, *targets, "--cores", CORES)
    rules = [rule for output in attempts for rule in executed_rules(output)]
    assert not PREPARATION_RULES & set(rules), rules
    assert sorted(rules) == sorted(["train"] * len(interrupted) + ["evaluate"]), rules
    assert snapshot(workdir, "results/data", "results/spm", "results/bin") == prepared
    for method in resumable:
        log = train_log(workdir, method).read_text()
        assert "resuming in" in log and "Loaded checkpoint" in log, log[-3000:]
    for method in METHODS:
        assert_same_run(workdir, reference, method)
    scores = json.loads((workdir / evaluation).read_text())
    assert (scores["method"], scores["pair"], scores["split"]) == ("baseline", "eng-bos", "test")
    result = snakemake("-n", *targets, "--configfile", "config.yaml", cwd=workdir)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_same_config_and_seed_give_the_same_scores(tmp_path_factory):
    """Two fresh runs through evaluation, side by side: the same best weights, and the same BLEU, chrF and
    hypotheses for every pair."""
    # 5 epochs of the data (the original's epoch size): enough for every pair to translate something
    config = fault_config(methods=["baseline"], max_epoch=5)
    config["evaluation"]["max_len_b"] = 50  # the half-trained model's runaway repetitions are cut sooner
    evaluation = f"results/eval/demo/{DIRECTION}/baseline/seed1"
    targets = [f"{evaluation}/{pair}.test.json" for pair in PAIRS]
    workdirs = [make_workdir(tmp_path_factory, f"same-{i}", config) for i in (1, 2)]
    processes = [
        snakemake_in_background(workdir, evaluation, "--cores", "1", "--configfile", "config.yaml")
        for workdir in workdirs
    ]
    try:
        for process in processes:
            assert process.wait(timeout=TIMEOUT) == 0, Path(process.output.name).read_text()[-5000:]
    finally:
        for process, workdir in zip(processes, workdirs, strict=True):
            kill_group(process, workdir)
    first, second = (load_best(run_dir(workdir, "baseline") / "checkpoint_best.pt")["model"] for workdir in workdirs)
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)
    for pair, target in zip(PAIRS, targets, strict=True):
        first, second = (json.loads((workdir / target).read_text()) for workdir in workdirs)
        assert first["n_sentences"] == second["n_sentences"] > 0
        assert (first["bleu"], first["chrf"]) == (second["bleu"], second["chrf"]), pair
        assert first["chrf"] > 0
        hypotheses = [(workdir / target).with_suffix(".hyp").read_text() for workdir in workdirs]
        assert hypotheses[0] == hypotheses[1], pair
        # the translations depend on the source (not one constant line), so the comparison means something
        assert len(set(hypotheses[0].splitlines())) > 1, pair


def test_sentencepiece_models_do_not_depend_on_the_cores_given(tmp_path_factory):
    """The same config and data with --cores 1 and --cores 2: the same pieces and scores (the .vocab files; the
    .model files also hold their input paths, which differ between the two directories). SentencePiece's unigram
    scores depend on its thread count, so spm_train must not take it from the cores Snakemake grants the job."""
    config = fault_config()
    models = [f"results/spm/demo/models/spm.{name}.model" for name in ("bos", "fra", "eng")]
    vocabularies = []
    for cores in ("1", "2"):
        workdir = make_workdir(tmp_path_factory, f"spm-cores{cores}", config)
        result = snakemake(*models, "--cores", cores, "--configfile", "config.yaml", cwd=workdir)
        assert result.returncode == 0, result.stderr[-3000:]
        vocabularies.append({model: (workdir / model).with_suffix(".vocab").read_text() for model in models})
    assert vocabularies[0] == vocabularies[1]
