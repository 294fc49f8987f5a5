"""The pipeline submitted to a real SLURM (a one-node cluster on loopback, ``tests/slurm_cluster.py``) with the
project's own profile, ``workflow/profiles/slurm``, only the partition and account set from here; and a training
job cancelled while it trains, resubmitted by Snakemake and resumed from its checkpoint.

Skipped, with the reason, where no cluster can be started (not root, no apt-get to install SLURM); CI runs as root.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.helpers import BIN, REPO, close, reduced_config, snakemake
from tests.slurm_cluster import PARTITION, unavailable_reason

pytestmark = pytest.mark.slow

DIRECTION = "o2m"
PAIRS = ["eng-bos", "eng-fra"]
METHODS = ("baseline", "lssd_adaptive")
EPOCHS = 20  # long enough (about half a second an epoch) to cancel a training while it trains
LOCAL_RULES = {"download", "tables", "all"}


def cluster_config():
    """The reduced demo: one direction, the baseline and LSSD-Adaptive, the one-layer model."""
    config = reduced_config()
    config["run"]["directions"] = [DIRECTION]
    config["run"]["methods"] = list(METHODS)
    config["datasets"]["demo"]["source"]["subsample"]["floor"] = 12
    config["trainings"]["tiny"].update(max_epoch=EPOCHS, lr=0.03, max_tokens=512, log_interval=1)
    return config


def targets():
    runs = [f"results/train/demo/{DIRECTION}/{method}/seed1" for method in METHODS]
    evaluations = [f"results/eval/demo/{DIRECTION}/{method}/seed1" for method in METHODS]
    return [*(f"{run}/history.json" for run in runs), *evaluations, f"results/tables/demo/{DIRECTION}.bleu.csv"]


def profile_arguments():
    """The SLURM profile as a user runs it, with this cluster's partition and an account; the plugin's status
    checks made frequent (they are settings) and two jobs at a time on this 2-core machine."""
    return [
        "--profile", str(REPO / "workflow" / "profiles" / "slurm"),
        "--default-resources", f"slurm_partition={PARTITION}", "slurm_account=tests", "runtime=60", "mem_mb=8000",
        "--set-resources", f"train:slurm_partition={PARTITION}", f"evaluate:slurm_partition={PARTITION}",
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "2", "--jobs", "2",
    ]  # fmt: skip


def in_cluster(workdir, script, timeout=900):
    """Run a shell script inside the test cluster, in workdir; its output."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="2")
    command = [sys.executable, "-m", "tests.slurm_cluster", "--state", str(workdir / "cluster"), "--", "bash", "-c"]
    completed = subprocess.run(
        [*command, f"cd {workdir} || exit 1\n{script}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode == 77:
        pytest.skip(completed.stderr.strip())
    return completed


def snakemake_command(workdir, *extra, configfile="config.yaml", wanted=None):
    words = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return " ".join([*words, *(wanted or targets()), "--configfile", configfile, *profile_arguments(), *extra])


@pytest.fixture(scope="module")
def cluster_available():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    (workdir / "config.yaml").write_text(yaml.safe_dump(cluster_config()))
    result = snakemake(*targets(), "--cores", "2", "--configfile", "config.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def submitted_rules(output):
    """The rules whose jobs Snakemake submitted with sbatch, and those it ran itself (local rules)."""
    blocks = re.findall(r"^(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", output, flags=re.MULTILINE)
    jobs = {jobid: rule for _, rule, jobid in blocks}
    submitted = {jobs[jobid] for jobid in re.findall(r"^Job (\d+) has been submitted with SLURM jobid", output, re.M)}
    # a submitted job's own Snakemake (inside SLURM) prints "localrule <its rule>:", which the controller shows in a
    # failed (cancelled) job's log: those are not local jobs. (Job ids do not tell them apart: the last target of
    # the controller may be job 0 too.)
    local = {rule for is_local, rule, _ in blocks if is_local} - submitted
    return submitted, local


def assert_same_results(workdir, reference):
    for method in METHODS:
        for name in ("history.json", "records.json"):
            ours = json.loads((workdir / "results/train/demo" / DIRECTION / method / "seed1" / name).read_text())
            theirs = json.loads((reference / "results/train/demo" / DIRECTION / method / "seed1" / name).read_text())
            assert close(ours, theirs), (method, name, ours, theirs)
        for pair in PAIRS:
            path = f"results/eval/demo/{DIRECTION}/{method}/seed1/{pair}.test.json"
            ours, theirs = (json.loads((root / path).read_text()) for root in (workdir, reference))
            assert (ours["bleu"], ours["chrf"]) == (theirs["bleu"], theirs["chrf"]), path


CANCEL = r"""
{snakemake} > snakemake.out 2>&1 &
controller=$!
log=results/train/demo/{direction}/baseline/seed1/checkpoints/logs/attempt-1.log
for i in $(seq 6000); do grep -q "end of epoch 3 " "$log" 2>/dev/null && break; sleep 0.1; done
job=$(squeue -h -o "%i %k" | awk '/rule_train_/ && /baseline/ {{print $1}}' | head -1)
echo "cancelling SLURM job $job" > cancelled.txt
scancel "$job"
wait $controller
"""


@pytest.fixture(scope="module")
def cluster_run(cluster_available, tmp_path_factory):
    """The reduced demo through sbatch; the baseline's training job is cancelled (scancel, as a pre-emption does
    it) after its third epoch."""
    workdir = tmp_path_factory.mktemp("slurm")
    (workdir / "config.yaml").write_text(yaml.safe_dump(cluster_config()))
    result = in_cluster(workdir, CANCEL.format(snakemake=snakemake_command(workdir), direction=DIRECTION))
    output = (workdir / "snakemake.out").read_text()
    assert result.returncode == 0, output[-5000:] + result.stderr[-2000:]
    return workdir, output


def test_the_pipeline_runs_through_sbatch_and_matches_a_local_run(cluster_run, local_reference):
    workdir, output = cluster_run
    submitted, local = submitted_rules(output)
    assert submitted == {"prepare_demo", "spm_train", "spm_encode", "binarize", "train", "evaluate"}, submitted
    assert local == {"tables", "significance"}, local  # light: run by Snakemake itself, not submitted
    assert_same_results(workdir, local_reference)


def test_a_cancelled_training_job_is_resubmitted_and_resumes(cluster_run, local_reference):
    """Snakemake submits the cancelled job again (the profile's retries), the runner resumes from
    checkpoint_last.pt, and the results are those of the uninterrupted local run (checked above)."""
    workdir, output = cluster_run
    cancelled = (workdir / "cancelled.txt").read_text()
    assert re.fullmatch(r"cancelling SLURM job \d+\n", cancelled), cancelled
    assert "SLURM status is: 'CANCELLED'" in output or "CANCELLED" in output, output[-3000:]
    logs = workdir / "results/train/demo" / DIRECTION / "baseline/seed1/checkpoints/logs"
    first, second = ((logs / f"attempt-{n}.log").read_text() for n in (1, 2))
    assert "end of epoch 3 " in first and f"end of epoch {EPOCHS} " not in first, first[-2000:]
    assert f"resuming in results/train/demo/{DIRECTION}/baseline/seed1/checkpoints (same arguments and data" in second
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @", second)
    assert loaded and int(loaded.group(1)) >= 4, second[-3000:]
    assert "begin training epoch 1\n" not in second and f"end of epoch {EPOCHS} " in second


LONG = r"""
{snakemake} > long.out 2>&1 &
controller=$!
log={run}/checkpoints/logs/attempt-2.log
for i in $(seq 6000); do grep -q "end of epoch" "$log" 2>/dev/null && break; sleep 0.1; done
scancel --user "$(id -un)"  # the second attempt has resumed and trained an epoch: enough
wait $controller
"""


def test_a_training_past_its_time_limit_is_submitted_again_and_continues(cluster_run):
    """A training given one minute (its preset's runtime_minutes) that needs far more: SLURM ends it at its time
    limit, Snakemake submits it again, and the second attempt continues from checkpoint_last.pt instead of
    starting over (then this run is cancelled: it would never finish)."""
    workdir, _ = cluster_run
    config = cluster_config()
    long = {"training": {"max_epoch": 100000, "runtime_minutes": 1}}
    config["methods"]["long"] = {"criterion": "label_smoothed_cross_entropy", "by_direction": {DIRECTION: long}}
    config["run"]["methods"] = ["long"]
    (workdir / "long.yaml").write_text(yaml.safe_dump(config))
    run = f"results/train/demo/{DIRECTION}/long/seed1"
    command = snakemake_command(workdir, "--retries", "1", configfile="long.yaml", wanted=[f"{run}/history.json"])
    result = in_cluster(workdir, LONG.format(snakemake=command, run=run))
    output = (workdir / "long.out").read_text()
    assert result.returncode != 0, output[-3000:]  # cancelled at the end
    assert output.count("SLURM status is: 'TIMEOUT'") == 1, output[-5000:]
    logs = workdir / run / "checkpoints" / "logs"
    first, second = ((logs / f"attempt-{n}.log").read_text() for n in (1, 2))
    epochs = len(re.findall(r"end of epoch \d+ ", first))
    assert epochs >= 2, first[-2000:]
    assert f"resuming in {run}/checkpoints (same arguments and data; {epochs} epochs trained" in second, second[:3000]
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @", second)
    assert loaded and int(loaded.group(1)) >= epochs, second[-3000:]
    assert "begin training epoch 1\n" not in second


def test_a_job_failing_for_a_real_reason_fails_once_per_attempt_with_its_log_shown(cluster_run):
    """A training that cannot work (batches of one token: no dev sentence fits) fails in each of its attempts, and
    Snakemake shows the job's log each time (the profile's show-failed-logs), not silently."""
    workdir, _ = cluster_run
    config = cluster_config()
    config["methods"]["broken"] = {
        "criterion": "label_smoothed_cross_entropy",
        "by_direction": {DIRECTION: {"training": {"max_tokens": 1}}},
    }
    config["run"]["methods"] = ["broken"]
    (workdir / "broken.yaml").write_text(yaml.safe_dump(config))
    run = f"results/train/demo/{DIRECTION}/broken/seed1"
    command = snakemake_command(workdir, "--retries", "1", configfile="broken.yaml", wanted=[f"{run}/history.json"])
    result = in_cluster(workdir, command + " > broken.out 2>&1")
    output = (workdir / "broken.out").read_text()
    assert result.returncode != 0
    assert submitted_rules(output)[0] == {"train"}  # nothing else is redone for a new method
    assert len(re.findall(r"^Job \d+ has been submitted with SLURM jobid", output, flags=re.MULTILINE)) == 2
    assert output.count("fairseq-train failed with exit code") == 2, output[-5000:]  # each attempt's log, shown
    logs = workdir / run / "checkpoints" / "logs"
    assert sorted(path.name for path in logs.glob("attempt-*.log")) == ["attempt-1.log", "attempt-2.log"]
