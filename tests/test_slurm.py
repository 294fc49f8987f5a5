"""The pipeline submitted to a real SLURM (a one-node cluster on loopback, ``tests/slurm_cluster.py``) with the
project's own profile, ``workflow/profiles/slurm``, only the partition and account set from here: a training job
cancelled while it trains, one past its time limit, both resubmitted by Snakemake and resumed from their
checkpoints, one failing for a real reason, and, once the main run has finished, that run retrained with a setting
that fails on its node, whose published outputs must come back. The scenarios run side by side in one cluster.

Skipped, with the reason, where no cluster can be started (not root, no apt-get to install SLURM); CI runs as root.
"""

import json
import re
import subprocess
import sys

import pytest
import yaml

from lssd import layout
from tests.helpers import REPO, close, jobs_in, reduced_config, snakemake, snakemake_invocation
from tests.slurm_cluster import GPU_PARTITION, PARTITION, unavailable_reason

pytestmark = pytest.mark.slow

DIRECTION = "o2m"
PAIRS = ["eng-bos", "eng-fra"]
METHODS = ("baseline", "lssd_adaptive")
EPOCHS = 20  # long enough (about half a second an epoch) to cancel a training while it trains


def cluster_config():
    """The reduced demo: one direction, the baseline and LSSD-Adaptive, the one-layer model."""
    config = reduced_config()
    config["run"]["directions"] = [DIRECTION]
    config["run"]["methods"] = list(METHODS)
    config["datasets"]["demo"]["source"]["subsample"]["floor"] = 12
    config["trainings"]["tiny"].update(max_epoch=EPOCHS, lr=0.03, max_tokens=512, log_interval=1)
    return config


def run_dir(method):
    return layout.run_dir("demo", DIRECTION, method, 1)


def targets():
    evaluations = [f"results/eval/demo/{DIRECTION}/{method}/seed1" for method in METHODS]
    histories = [f"{run_dir(method)}/history.json" for method in METHODS]
    return [*histories, *evaluations, f"results/tables/demo/{DIRECTION}.bleu.csv"]


def profile_arguments():
    """The SLURM profile as a user runs it, with this cluster's partition and an account; the plugin's status
    checks made frequent (they are settings) and three jobs at a time (the demo's three SentencePiece models)."""
    return [
        "--profile", str(REPO / "workflow" / "profiles" / "slurm"),
        "--default-resources", f"slurm_partition={PARTITION}", "slurm_account=tests", "runtime=60", "mem_mb=8000",
        "--set-resources", f"train:slurm_partition={PARTITION}", f"evaluate:slurm_partition={PARTITION}",
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "2", "--jobs", "3",
    ]  # fmt: skip


def in_cluster(workdir, script, timeout=900):
    """Run a shell script inside the test cluster, in workdir; its output."""
    _, env = snakemake_invocation(cwd=workdir)  # the same environment: this venv's programs on PATH
    command = [sys.executable, "-m", "tests.slurm_cluster", "--state", str(workdir / "cluster"), "--gpus", "2"]
    command += ["--", "bash", "-c"]
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


def snakemake_command(workdir, *extra, wanted=None, config="config.yaml"):
    configfile = ["--configfile", str(workdir / config)]
    command, _ = snakemake_invocation(*(wanted or targets()), *configfile, *profile_arguments(), *extra, cwd=workdir)
    return " ".join(command)


def submitted_rules(output):
    """The rules whose jobs Snakemake submitted with sbatch, and those it ran itself (local rules)."""
    blocks = [job for job in jobs_in(output) if "jobid" in job.fields]
    jobs = {job.fields["jobid"]: job.rule for job in blocks}
    submitted = {jobs[jobid] for jobid in re.findall(r"^Job (\d+) has been submitted with SLURM jobid", output, re.M)}
    # a submitted job's own Snakemake (inside SLURM) prints "localrule <its rule>:", which the controller shows in a
    # failed (cancelled) job's log: those are not local jobs. (Job ids do not tell them apart: the last target of
    # the controller may be job 0 too.)
    local = {job.rule for job in blocks if job.local} - submitted
    return submitted, local


def assert_same_results(workdir, reference):
    for method in METHODS:
        for name in ("history.json", "records.json"):
            ours, theirs = (json.loads((root / run_dir(method) / name).read_text()) for root in (workdir, reference))
            assert close(ours, theirs), (method, name, ours, theirs)
        for pair in PAIRS:
            path = f"results/eval/demo/{DIRECTION}/{method}/seed1/{pair}.test.json"
            ours, theirs = (json.loads((root / path).read_text()) for root in (workdir, reference))
            assert (ours["bleu"], ours["chrf"]) == (theirs["bleu"], theirs["chrf"]), path


def long_config():
    """A training given one minute (its preset's runtime_minutes) that needs far more."""
    config = cluster_config()
    long = {"training": {"max_epoch": 100000, "runtime_minutes": 1}}
    config["methods"]["long"] = {"criterion": "label_smoothed_cross_entropy", "by_direction": {DIRECTION: long}}
    config["run"]["methods"] = ["long"]
    return config


RETRAINED = "lssd_adaptive"  # its checkpoints' logs are not read by the tests of the cancelled baseline
PUBLISHED = [layout.BEST, layout.HISTORY, layout.RECORDS]  # the training's outputs


def failing_retraining_config():
    """The cluster config with the finished LSSD-Adaptive run given a setting that fails on its node."""
    config = cluster_config()
    overrides = config["methods"][RETRAINED].setdefault("by_direction", {}).setdefault(DIRECTION, {})
    overrides["training"] = {"extra_args": ["--finetune-from-model", "/nonexistent/pretrained.pt"]}
    return config


def broken_config():
    """A training that cannot work, for a reason only the job's node can tell (the start-up checks refuse what the
    config itself shows, batches smaller than a sentence among them): a model to fine-tune from that is not there."""
    config = cluster_config()
    broken = {"training": {"extra_args": ["--finetune-from-model", "/nonexistent/pretrained.pt"]}}
    config["methods"]["broken"] = {"criterion": "label_smoothed_cross_entropy", "by_direction": {DIRECTION: broken}}
    config["run"]["methods"] = ["broken"]
    return config


def gpu_config():
    """The cluster config with two GPUs per training (a data-parallel training, as the paper's 8): the node's GPUs
    stand in for real ones (no CUDA behind them, and this environment's torch is a CPU build), so the training
    stops at its check, having been given them."""
    config = cluster_config()
    config["run"]["gpus_per_training"] = 2
    return config


# The two ways the SLURM profile asks for a training's GPUs (workflow/profiles/slurm/config.yaml): the standard
# gpu resource (sbatch --gpus=2), and the alternative for clusters that only take --gres (gpu 0, gres "gpu:2");
# each takes both of the node's GPUs, so the two trainings run one after the other
GPU_REQUESTS = {
    "gpu": ["--set-resources", f"train:slurm_partition={GPU_PARTITION}"],
    "gres": ["--set-resources", f"train:slurm_partition={GPU_PARTITION}", "train:gres=gpu:2", "train:gpu=0"],
}
GPU_TARGET = f"{layout.run_dir('demo', DIRECTION, 'baseline', 1)}/history.json"


# The scenarios share one cluster and run side by side (most of their time is waiting: SLURM's one-minute time
# limit and its periodic check, the plugin's status-check intervals). The main run prepares the data through
# sbatch; once its first training has started, the long and broken runs start from copies of its prepared data
# (and of Snakemake's metadata, so that they only add trainings, as a new method in the same directory does). The
# failing retraining starts in the main run's directory when that run has ended.
SCENARIOS = r"""
wait_for() {{  # a file, a line in it, and the Snakemake that writes it (which must not have ended)
    for i in $(seq 3000); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "no '$2' in $1" >&2; return 1
}}
cancel() {{  # the running training job of a method (scancel, as a pre-emption does it)
    job=$(squeue -h -o "%i %k" | awk '/rule_train_/ && /_'"$1"'_/ {{print $1}}' | head -1)
    echo "cancelling SLURM job $job" >> cancelled.txt
    scancel "$job"
}}
{main} > snakemake.out 2>&1 &
main=$!
wait_for {baseline}/checkpoints/logs/attempt-1.log "" $main || {{ wait; exit 1; }}
for copy in long broken gpu gres; do
    mkdir -p $copy/results $copy/.snakemake
    cp -a results/data results/spm results/bin $copy/results/ && cp -a .snakemake/metadata $copy/.snakemake/
done
{long} > long.out 2>&1 &
long=$!
{broken} > broken.out 2>&1 &
broken=$!
{gpu} > gpu.out 2>&1 &
gpu=$!
{gres} > gres.out 2>&1 &
gres=$!
wait_for {baseline}/checkpoints/logs/attempt-1.log "end of epoch 3 " $main && cancel baseline
# the second attempt has resumed and trained an epoch: enough. The plugin would notice the cancellation at its
# next status check only, up to a minute later (its interval grows while no job succeeds): its Snakemake is stopped
if wait_for long/{long_run}/checkpoints/logs/attempt-2.log "end of epoch" $long; then cancel long; kill -KILL $long; fi
wait $main; echo $? > main.rc
# the finished LSSD run retrained with a setting that fails on its node (while the long run waits for its time
# limit): its published outputs must come back
published() {{ for f in {published}; do echo "$(stat -c '%n %i %Y %s' $f) $(sha256sum < $f)"; done; }}
published > published.before
{retrain} > retrain.out 2>&1 &
retrain=$!
wait $long; echo $? > long.rc
wait $broken; echo $? > broken.rc
wait $retrain; echo $? > retrain.rc
wait $gpu; echo $? > gpu.rc
wait $gres; echo $? > gres.rc
published > published.after
scontrol show job -o > jobs.txt  # every job's request and allocation (finished jobs stay listed: MinJobAge)
"""


@pytest.fixture(scope="module")
def cluster_available():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")


@pytest.fixture(scope="module")
def cluster_runs(cluster_available, tmp_path_factory):
    """The reduced demo through sbatch, its baseline's training job cancelled after its third epoch; beside it, a
    training past its time limit and one failing for a real reason; and the same demo run locally, for reference.
    The working directory (the long and broken runs in its long/ and broken/) and the local one."""
    workdir, local = tmp_path_factory.mktemp("slurm"), tmp_path_factory.mktemp("local")
    for root, config in ((workdir, cluster_config()), (local, cluster_config())):
        (root / "config.yaml").write_text(yaml.safe_dump(config))
    scenario_configs = {"long": long_config(), "broken": broken_config(), "gpu": gpu_config(), "gres": gpu_config()}
    for name, config in scenario_configs.items():
        (workdir / name).mkdir()
        (workdir / name / "config.yaml").write_text(yaml.safe_dump(config))
    (workdir / "retrain.yaml").write_text(yaml.safe_dump(failing_retraining_config()))
    command, env = snakemake_invocation(*targets(), "--cores", "2", "--configfile", "config.yaml", cwd=local)
    # the local run of the same config and seed, beside the cluster's
    reference = subprocess.Popen(
        command, cwd=local, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    retry_once = ("--retries", "1")
    script = SCENARIOS.format(
        main=snakemake_command(workdir),
        long=snakemake_command(workdir / "long", *retry_once, wanted=[f"{run_dir('long')}/history.json"]),
        broken=snakemake_command(workdir / "broken", *retry_once, wanted=[f"{run_dir('broken')}/history.json"]),
        **{
            name: snakemake_command(workdir / name, "--retries", "0", *request, wanted=[GPU_TARGET])
            for name, request in GPU_REQUESTS.items()
        },
        baseline=run_dir("baseline"),
        long_run=run_dir("long"),
        retrain=snakemake_command(
            workdir, "--retries", "0", wanted=[f"{run_dir(RETRAINED)}/{layout.HISTORY}"], config="retrain.yaml"
        ),
        published=" ".join(f"{run_dir(RETRAINED)}/{name}" for name in PUBLISHED),
    )
    try:
        result = in_cluster(workdir, script)
    finally:
        reference_output = reference.communicate(timeout=900)[0]
    assert reference.returncode == 0, reference_output[-3000:]
    names = ("snakemake", "long", "broken", "retrain", *GPU_REQUESTS)
    outputs = {name: (workdir / f"{name}.out").read_text() for name in names}
    assert result.returncode == 0, outputs["snakemake"][-5000:] + result.stderr[-2000:]
    return workdir, local, outputs


def test_the_pipeline_runs_through_sbatch_and_matches_a_local_run(cluster_runs):
    workdir, local, outputs = cluster_runs
    submitted, local_rules = submitted_rules(outputs["snakemake"])
    # evaluate_pair_best: the tables read each pair's per-pair best evaluation (evaluation.per_pair_best)
    assert submitted == {
        "prepare_demo",
        "spm_train",
        "spm_encode",
        "binarize",
        "train",
        "evaluate",
        "evaluate_pair_best",
    }, submitted
    assert local_rules == {"tables", "significance"}, local_rules  # light: run by Snakemake itself, not submitted
    assert_same_results(workdir, local)


def test_a_cancelled_training_job_is_resubmitted_and_resumes(cluster_runs):
    """Snakemake submits the cancelled job again (the profile's retries), the runner resumes from
    checkpoint_last.pt, and the results are those of the uninterrupted local run (checked above)."""
    workdir, _, outputs = cluster_runs
    cancelled = (workdir / "cancelled.txt").read_text().splitlines()
    assert len(cancelled) == 2 and all(re.fullmatch(r"cancelling SLURM job \d+", line) for line in cancelled)
    assert "SLURM status is: 'CANCELLED'" in outputs["snakemake"], outputs["snakemake"][-3000:]
    logs = workdir / run_dir("baseline") / "checkpoints/logs"
    first, second = ((logs / f"attempt-{n}.log").read_text() for n in (1, 2))
    assert "end of epoch 3 " in first and f"end of epoch {EPOCHS} " not in first, first[-2000:]
    assert f"resuming in {run_dir('baseline')}/checkpoints (same arguments and data" in second
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @", second)
    assert loaded and int(loaded.group(1)) >= 4, second[-3000:]
    assert "begin training epoch 1\n" not in second and f"end of epoch {EPOCHS} " in second


def test_a_training_past_its_time_limit_is_submitted_again_and_continues(cluster_runs):
    """A training given one minute that needs far more: SLURM ends it at its time limit, Snakemake submits it
    again, and the second attempt continues from checkpoint_last.pt instead of starting over (then it is
    cancelled and its Snakemake stopped: it would never finish)."""
    workdir, _, outputs = cluster_runs
    output, run = outputs["long"], run_dir("long")
    assert (workdir / "long.rc").read_text().strip() == "137", output[-3000:]  # stopped at the end
    assert submitted_rules(output)[0] == {"train"}  # the prepared data are reused
    assert output.count("SLURM status is: 'TIMEOUT'") == 1, output[-5000:]
    logs = workdir / "long" / run / "checkpoints" / "logs"
    first, second = ((logs / f"attempt-{n}.log").read_text() for n in (1, 2))
    epochs = len(re.findall(r"end of epoch \d+ ", first))
    assert epochs >= 2, first[-2000:]
    assert f"resuming in {run}/checkpoints (same arguments and data; {epochs} epochs trained" in second, second[:3000]
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @", second)
    assert loaded and int(loaded.group(1)) >= epochs, second[-3000:]
    assert "begin training epoch 1\n" not in second


def test_a_job_failing_for_a_real_reason_fails_once_per_attempt_with_its_log_shown(cluster_runs):
    """A training that cannot work fails in each of its attempts, and Snakemake shows the job's log each time (the
    profile's show-failed-logs), not silently."""
    workdir, _, outputs = cluster_runs
    output = outputs["broken"]
    assert (workdir / "broken.rc").read_text().strip() != "0", output[-3000:]
    assert submitted_rules(output)[0] == {"train"}  # nothing else is redone for a new method
    assert len(re.findall(r"^Job \d+ has been submitted with SLURM jobid", output, flags=re.MULTILINE)) == 2
    assert output.count("fairseq-train failed with exit code") == 2, output[-5000:]  # each attempt's log, shown
    logs = workdir / "broken" / run_dir("broken") / "checkpoints" / "logs"
    assert sorted(path.name for path in logs.glob("attempt-*.log")) == ["attempt-1.log", "attempt-2.log"]


def test_a_retraining_that_fails_through_sbatch_leaves_the_published_run_in_place(cluster_runs):
    """The kept-outputs hooks (workflow/rules/hooks.smk) run in the controlling Snakemake, the job on its node: a
    finished run retrained with a setting that fails there gets its published outputs back, the same files (inode,
    time stamp, bytes) with their records, so the old setting plans nothing and the new one still plans the
    training."""
    workdir, _, outputs = cluster_runs
    output = outputs["retrain"]
    assert (workdir / "retrain.rc").read_text().strip() != "0", output[-3000:]
    assert submitted_rules(output)[0] == {"train"}, output[-3000:]
    assert "fairseq-train failed with exit code" in output, output[-3000:]
    job = f"train (dataset=demo, direction={DIRECTION}, method={RETRAINED}, seed=1)"
    assert f"lssd: {job} did not finish: its previous outputs are back, unchanged: " in output, output[-3000:]
    before, after = ((workdir / f"published.{when}").read_text().splitlines() for when in ("before", "after"))
    assert len(before) == len(PUBLISHED) and before == after, (before, after)
    assert not list((workdir / run_dir(RETRAINED)).glob(".kept.*"))
    assert not (workdir / ".snakemake" / "lssd-kept.json").exists()
    wanted = [f"{run_dir(RETRAINED)}/{layout.HISTORY}"]
    for config, planned in (("config.yaml", set()), ("retrain.yaml", {"train"})):
        dry = snakemake(*wanted, "-n", "--cores", "1", "--configfile", config, cwd=workdir, timeout=300)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert {job.rule for job in jobs_in(dry.stdout + dry.stderr)} == planned, (config, dry.stdout[-3000:])


@pytest.mark.parametrize("request_kind", list(GPU_REQUESTS))
def test_a_training_job_gets_the_gpus_it_asks_slurm_for(cluster_runs, request_kind):
    """Through sbatch, with the profile's gpu resource and with its --gres alternative: SLURM allocates the job
    two GPUs, the job step that runs the training (srun) sees both in CUDA_VISIBLE_DEVICES, and the job takes them
    as its own, then checks that torch can use them. Here torch is a CPU build (and the GPUs stand-ins), so the job
    stops, saying so, before fairseq starts: it does not hide the GPUs it holds and train on the CPU (the gres
    alternative did, with gpu 0)."""
    workdir, _, outputs = cluster_runs
    output = outputs[request_kind]
    assert (workdir / f"{request_kind}.rc").read_text().strip() != "0", output[-3000:]
    assert submitted_rules(output)[0] == {"train"}, output[-3000:]
    jobs = [line for line in (workdir / "jobs.txt").read_text().splitlines() if f"/{request_kind}/" in line]
    assert len(jobs) == 1, jobs  # one attempt (--retries 0) of the one training
    asked = "TresPerJob=gres:gpu:2" if request_kind == "gpu" else "TresPerNode=gres:gpu:2"  # --gpus / --gres
    assert asked in jobs[0] and f"Partition={GPU_PARTITION} " in jobs[0], jobs[0]
    attempt = (workdir / request_kind / run_dir("baseline") / "checkpoints/logs/attempt-1.log").read_text()
    assert re.search(r"^using GPU\(s\) 0,1$", attempt, re.M), attempt  # SLURM's CUDA_VISIBLE_DEVICES
    error = r"^error: this job has 2 GPU\(s\) \(0,1; run.gpus_per_training\), but torch \S+ in \S+ is a CPU build"
    assert re.search(error, attempt, re.M) and "fairseq_cli.train" not in attempt, attempt
    assert re.search(error, output, re.M), output[-3000:]  # the failed job's log, shown by Snakemake
