"""``python -m lssd.run.status`` as a user sees it (its main() and output), on run directories written by hand the
way the runner writes them (histories, attempt logs, the lock, the job's logs): no training."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lssd.run import gpus, status
from lssd.run.attempts import training_lock
from tests.helpers import reduced_config

RUN = "demo/o2m/baseline/seed1"
OTHER = "demo/o2m/lssd_adaptive/seed1"


def make_workdir(tmp_path: Path, methods=("baseline",), **training) -> Path:
    """A working directory with config.yaml: the reduced demo, eng→X only, ``training`` over its preset."""
    config = reduced_config()
    config["run"]["directions"] = ["o2m"]
    config["run"]["methods"] = list(methods)
    config["trainings"]["tiny"].update(training)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def run_dir(workdir: Path, run: str = RUN) -> Path:
    return workdir / "results" / "train" / run


def history(epochs: int) -> dict:
    losses = [round(5.0 - 0.1 * epoch, 3) for epoch in range(epochs)]
    return {"eng-bos": losses, "eng-fra": [loss - 1 for loss in losses], "all": [loss - 0.5 for loss in losses]}


def train(workdir: Path, epochs: int, run: str = RUN) -> Path:
    """A run stopped after ``epochs`` validations (the task's history in the save dir); its save dir."""
    save_dir = run_dir(workdir, run) / "checkpoints"
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / "history.json").write_text(json.dumps(history(epochs)))
    return save_dir


def publish(workdir: Path, data, run: str = RUN) -> Path:
    """A finished run: its published outputs (the best checkpoint, the history ``data``); the history's path."""
    run_path = run_dir(workdir, run)
    run_path.mkdir(parents=True, exist_ok=True)
    (run_path / "checkpoint_best.pt").write_bytes(b"weights")
    (run_path / "history.json").write_text(json.dumps(data))
    return run_path / "history.json"


def attempt_log(workdir: Path, *lines: str, max_epoch: int | str = 2, max_update: int | None = None) -> Path:
    """``attempt-1.log`` as lssd.run.train_run writes it: the header, the fairseq-train command, then ``lines``."""
    log = run_dir(workdir) / "checkpoints" / "logs" / "attempt-1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = (
        "$ /venv/bin/python -m fairseq_cli.train results/bin/demo --task lssd_multilingual_translation "
        f"--adam-betas (0.9, 0.98) --max-epoch {max_epoch} --seed 1"
        + (f" --max-update {max_update}" if max_update else "")
        + " --cpu"
    )
    header = f"# attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on node1, pid 4242"
    log.write_text("\n".join([header, "resuming in x (same arguments and data; 1 epochs trained)", command, *lines]))
    return log


def run_main(workdir: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = status.main(["--directory", str(workdir), *(args or ["--configfile", str(workdir / "config.yaml")])])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def show(workdir: Path, capsys, *args: str) -> dict[str, list[str]]:
    """The status command's lines, by run (a run's head line, then its indented lines); its last line, the disk's,
    is left out."""
    code, out, err = run_main(workdir, capsys, *args)
    assert code == 0, err
    runs: dict[str, list[str]] = {}
    lines = out.splitlines()
    assert lines[-1].startswith("disk: "), out
    for line in lines[:-1]:
        if not line.startswith(" "):
            runs[line.split(": ")[0]] = []
        runs[list(runs)[-1]].append(line)
    return runs


# --- the config ---------------------------------------------------------------------------------------------


def changed(change) -> dict:
    config = reduced_config()
    config["run"]["methods"] = ["baseline"]
    change(config)
    return config


def unknown_method(config):
    config["run"]["methods"].append("nosuch")


def unknown_dataset(config):
    config["run"]["datasets"].append("ted")


@pytest.mark.parametrize(
    "write, message",
    [
        (
            lambda path: path.write_text(yaml.safe_dump(changed(unknown_method))),
            "run.methods[1]: unknown method 'nosuch'",
        ),
        (
            lambda path: path.write_text(yaml.safe_dump(changed(unknown_dataset))),
            "run.datasets[1]: unknown dataset 'ted'",
        ),
        (
            lambda path: path.write_text("run: [demo\n"),
            "config.yaml: not valid YAML (expected ',' or ']', but got '<stream end>', line 2 column 1)",
        ),
        (lambda path: path.write_text("- demo\n"), "config.yaml: not a mapping of settings (a YAML list)"),
        (lambda path: None, "config.yaml: No such file or directory"),
    ],
    ids=["unknown-method", "unknown-dataset", "bad-yaml", "not-a-mapping", "missing-file"],
)
def test_a_bad_config_is_one_clear_error_naming_the_file(tmp_path, capsys, write, message):
    config = tmp_path / "config.yaml"
    write(config)
    code, out, err = run_main(tmp_path, capsys, "--configfile", str(config))
    assert code == 2 and out == ""
    assert err.startswith(f"error: invalid config ({config}): ") and message in err, err
    assert "Traceback" not in err


def test_several_configfiles_are_merged_in_order_as_snakemake_merges_them(tmp_path, capsys):
    """``--configfile a b c`` (snakemake's form) and a repeated option: later files override, mappings are merged
    key by key (the preset keeps its other settings), the schema's defaults fill in what none sets."""
    workdir = make_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    del config["run"]["seeds"]  # the schema's default: [1]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    (workdir / "methods.yaml").write_text(yaml.safe_dump({"run": {"methods": ["lssd_adaptive"]}}))
    (workdir / "longer.yaml").write_text(yaml.safe_dump({"trainings": {"tiny": {"max_epoch": 7}}}))
    (workdir / "shorter.yaml").write_text(yaml.safe_dump({"trainings": {"tiny": {"max_epoch": 5}}}))
    train(workdir, 1, OTHER)
    files = [str(workdir / name) for name in ("config.yaml", "methods.yaml", "longer.yaml")]
    runs = show(workdir, capsys, "--configfile", *files)
    assert list(runs) == [OTHER] and runs[OTHER][0] == f"{OTHER}: stopped, epoch 1/7", runs
    repeated = show(workdir, capsys, "--configfile", *files, "--configfile", str(workdir / "shorter.yaml"))
    assert repeated[OTHER][0] == f"{OTHER}: stopped, epoch 1/5"


def test_runs_on_disk_that_the_config_does_not_ask_for_are_named(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    train(workdir, 1, "demo/o2m/removed_method/seed1")
    code, out, _ = run_main(workdir, capsys)
    assert code == 0
    assert f"{run_dir(workdir, 'demo/o2m/removed_method/seed1')}: not a run of this config" in out, out


def test_the_disk_the_runs_hold_and_the_runs_moved_aside_in_them(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    save_dir = train(workdir, 1)
    (save_dir / "checkpoint_last.pt").write_bytes(b"x" * 3_000_000)
    moved = save_dir.with_name("checkpoints.stale-20261201-101010")
    moved.mkdir()
    (moved / "checkpoint_last.pt").write_bytes(b"x" * 2_000_000)
    _, out, _ = run_main(workdir, capsys)
    held, free = out.splitlines()[-1].split("; delete those you no longer want); ")
    assert held == (
        "disk: 3 MB in the runs of this config, 2 MB in 1 run moved aside in them (checkpoints.stale-*: no training "
        "reads them"
    )
    # the space free: as the command read it (other processes may write meanwhile)
    where = re.escape(str(run_dir(workdir).resolve()))  # the runs' common directory
    assert re.fullmatch(rf"(\d+\.\d GB|\d+ MB|\d+ kB) free on the file system of {where}", free), free


# --- the history ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        (
            '{"eng-bos": [4.1, 3.9], "all": [4.0, 3',
            "not valid JSON (Expecting ',' delimiter, line 1 column 39): it was cut short or overwritten",
        ),
        ("[4.0, 3.9]", "a JSON list, not an object of per-pair lists"),
        ('{"eng-bos": [4.1]}', "no 'all' list"),
        ('{"all": 5}', "'all' is not a list of losses"),
        ('{"all": [4.0], "eng-bos": ["4.1"]}', "'eng-bos' is not a list of losses"),
        (b"\xff\xfe{}", "not UTF-8 JSON (invalid start byte)"),
    ],
    ids=["truncated", "list", "no-all", "all-not-a-list", "a-loss-not-a-number", "not-utf8"],
)
def test_an_unreadable_history_is_reported_for_its_run_only(tmp_path, capsys, content, reason):
    workdir = make_workdir(tmp_path, methods=("baseline", "lssd_adaptive"))
    path = train(workdir, 0) / "history.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    publish(workdir, history(2), OTHER)
    runs = show(workdir, capsys)
    assert runs[RUN][0] == f"{RUN}: stopped, epoch unknown (history unreadable)"
    assert f"    ! history unreadable: {path}: {reason}" in runs[RUN], runs[RUN]
    assert runs[OTHER][0] == f"{OTHER}: finished, epoch 2/2"


def test_an_epoch_without_validation_shows_the_losses_that_exist(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    path = train(workdir, 0) / "history.json"
    path.write_text(json.dumps({"eng-bos": [4.0, None], "eng-fra": [3.0, 2.5], "all": [3.5, 3.2]}))
    runs = show(workdir, capsys)
    assert runs[RUN][:1] == [f"{RUN}: stopped, epoch 2/2"]
    assert "    dev loss (bits/token) after epoch 2: eng-fra 2.500" in runs[RUN], runs[RUN]


def test_a_finished_run_shows_the_epochs_of_its_published_history(tmp_path, capsys):
    """Its save dir's history gone (moved aside, or deleted to save space): the published one counts."""
    workdir = make_workdir(tmp_path)
    publish(workdir, history(2))
    runs = show(workdir, capsys)
    assert runs[RUN][0] == f"{RUN}: finished, epoch 2/2"
    assert runs[RUN][1] == "    dev loss (bits/token) after epoch 2: eng-bos 4.900  eng-fra 3.900"


def test_a_finished_run_with_an_empty_history_says_so(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    path = publish(workdir, history(0))
    runs = show(workdir, capsys)
    assert runs[RUN] == [
        f"{RUN}: finished, no epoch in its history",
        f"    ! history empty: {path}: no epoch was validated",
    ]


def epoch_ends(*moments: str) -> list[str]:
    return [f"{moment} | INFO | fairseq_cli.train | end of epoch {n} (average epoch stats below)"
            for n, moment in enumerate(moments, start=1)]  # fmt: skip


@pytest.mark.parametrize(
    ("on_gpus", "trained_on"),
    [(True, "on 2 × NVIDIA H100 80GB HBM3"), (False, "on the CPU")],
)
def test_the_time_per_epoch_says_what_the_run_trained_on(tmp_path, capsys, on_gpus, trained_on):
    """The cards its job named (lssd.run.gpus.describe_cuda's line in the attempt log), or the CPU: a time per
    epoch means little without them."""
    workdir = make_workdir(tmp_path)
    train(workdir, 2)
    log = attempt_log(workdir, *epoch_ends("2026-01-01 10:00:00", "2026-01-01 10:01:30"))
    if on_gpus:
        named = gpus.describe_cuda(
            {"torch": "2.11.0+cu130", "cuda": "13.0", "count": 2, "names": ["NVIDIA H100 80GB HBM3"] * 2}
        )
        header, resuming, command, *rest = log.read_text().splitlines()
        command = command.removesuffix(" --cpu") + " --fp16 --distributed-world-size 2"
        log.write_text("\n".join([header, "using GPU(s) 0,1", named, resuming, command, *rest]))
    runs = show(workdir, capsys)
    assert runs[RUN][0] == f"{RUN}: stopped, epoch 2/2, 90 s per epoch {trained_on}", runs[RUN]


# --- max_epoch: the one the run trains with --------------------------------------------------------------------


def test_max_epoch_is_the_last_one_of_the_logged_arguments(tmp_path, capsys):
    """A run whose command gave --max-epoch twice (an earlier version let extra_args repeat it; the config check
    refuses that now): fairseq trains to the last value, and so does the status count."""
    workdir = make_workdir(tmp_path, max_epoch=2)
    train(workdir, 3)
    attempt_log(workdir, "Loaded checkpoint", max_epoch="2 --dropout 0.1 --max-epoch 4")
    assert show(workdir, capsys)[RUN][0] == f"{RUN}: stopped, epoch 3/4"


def test_max_epoch_is_the_one_the_run_was_trained_with_and_a_changed_config_is_named(tmp_path, capsys):
    workdir = make_workdir(tmp_path, max_epoch=2)
    train(workdir, 5)
    attempt_log(workdir, "fairseq-train failed with exit code 1", max_epoch=6)
    lines = show(workdir, capsys)[RUN]
    assert lines[0] == f"{RUN}: stopped, epoch 5/6"
    assert "    ! the config now sets max_epoch 2 (this run trained with 6)" in lines, lines
    assert (
        "    ! max_epoch 2 of the config is below the 5 epochs trained: the next snakemake run moves this run aside "
        "and trains it again from scratch" in lines
    ), lines


def test_a_finished_run_with_more_epochs_than_the_config_says_so(tmp_path, capsys):
    workdir = make_workdir(tmp_path, max_epoch=2)
    publish(workdir, history(97))
    lines = show(workdir, capsys)[RUN]
    assert lines[0] == f"{RUN}: finished, epoch 97, more than its max_epoch 2"
    assert any(line.startswith("    ! max_epoch 2 of the config is below the 97 epochs trained") for line in lines)


def test_a_finished_run_ended_by_max_update_says_so(tmp_path, capsys):
    workdir = make_workdir(tmp_path, max_epoch=10, max_update=500)
    publish(workdir, history(3))
    attempt_log(workdir, "published x", max_epoch=10, max_update=500)
    assert show(workdir, capsys)[RUN][0] == f"{RUN}: finished, epoch 3/10 (ended by its max_update 500)"


# --- why a run stopped -------------------------------------------------------------------------------------------

TRAINING_LINE = "2024-05-01 10:00:09 | INFO | train_inner | epoch 002:      3 / 40 loss=5.1, nll_loss=4.9, ppl=29.8"
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/venv/lib/python3.11/site-packages/fairseq/trainer.py", line 859, in train_step',
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "fairseq-train failed with exit code 1",
]
TIME_LIMIT = "slurmstepd: error: *** JOB 41 ON node1 CANCELLED AT 2024-05-01T11:00:00 DUE TO TIME LIMIT ***"
DISK_FULL = (
    "error: the disk is full (0 kB free now on the file system of run/checkpoints): fairseq could not write its "
    "output. Free space there and run again: the run resumes from checkpoint_last.pt (2 epochs complete, 45 updates), "
    "and what it trained since that checkpoint is trained again"
)
RULE_LOG = "logs/train/demo/o2m/baseline/seed1.log"
SLURM_LOG = ".snakemake/slurm_logs/rule_train/demo_o2m_baseline_1/41.log"


@pytest.mark.parametrize(
    "lines, job_logs, expected",
    [
        (TRACEBACK, {}, "failed: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
         "(exit code 1; {log})"),
        ([TRAINING_LINE] * 2000 + TRACEBACK, {}, "failed: torch.OutOfMemoryError: CUDA out of memory. Tried to "
         "allocate 2.00 GiB (exit code 1; {log})"),
        (["fairseq-train failed with exit code 2"], {}, "failed with exit code 2, no error line in {log}"),
        ([*TRACEBACK[:2], "OSError: [Errno 28] No space left on device", "RuntimeError: [enforce fail at "
          "inline_container.cc:672] . unexpected pos 64 vs 0", "removed run/checkpoints/checkpoint3.pt.tmp (496 kB): "
          "a save that did not complete, which nothing reads", "fairseq-train failed with exit code 1", DISK_FULL],
         {}, f"failed: {DISK_FULL} (exit code 1; {{log}})"),
        (["ValueError: an hour ago", *[TRAINING_LINE] * 300, "fairseq-train failed with exit code 2"], {},
         "failed with exit code 2, no error line in {log}"),
        (["error: run.gpus_per_training: 2 GPUs asked for, 1 free"], {}, "failed: error: run.gpus_per_training: "
         "2 GPUs asked for, 1 free ({log})"),
        ([TRAINING_LINE, "fairseq-train failed with exit code -9"], {}, "killed by SIGKILL (out of memory, or kill "
         "-9?): fairseq-train exit code -9 ({log})"),
        ([TRAINING_LINE], {}, "cancelled or killed: {log} ends without a final status line (and the run's lock is "
         "free)"),
        ([TRAINING_LINE], {RULE_LOG: f"Select jobs to execute...\n{TIME_LIMIT}\n"}, f"time limit: {TIME_LIMIT} "
         f"({{workdir}}/{RULE_LOG})"),
        ([TRAINING_LINE, "fairseq-train failed with exit code -15"], {SLURM_LOG: f"host: node1\n{TIME_LIMIT}\n"},
         f"time limit: {TIME_LIMIT} ({{workdir}}/{SLURM_LOG})"),
        ([TRAINING_LINE], {SLURM_LOG: TIME_LIMIT.replace("TIME LIMIT", "PREEMPTION")}, "cancelled by SLURM "
         "(preemption): " + TIME_LIMIT.replace("TIME LIMIT", "PREEMPTION") + f" ({{workdir}}/{SLURM_LOG})"),
    ],
    ids=["failed", "failed-long-log", "failed-no-error-line", "disk-full", "old-error-line", "runner-error", "signal",
         "killed", "time-limit", "time-limit-slurm-log", "preempted"],
)  # fmt: skip
def test_why_a_stopped_run_stopped(tmp_path, capsys, lines, job_logs, expected):
    workdir = make_workdir(tmp_path)
    train(workdir, 1)
    log = attempt_log(workdir, *lines)
    for name, text in job_logs.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text)
    run = show(workdir, capsys)[RUN]
    assert run[:2] == [
        f"{RUN}: stopped, epoch 1/2",
        "    why it stopped: " + expected.format(log=log, workdir=workdir),
    ], run


def test_a_time_limit_of_an_earlier_job_is_not_why_the_last_attempt_stopped(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    train(workdir, 1)
    slurm_log = workdir / SLURM_LOG
    slurm_log.parent.mkdir(parents=True)
    slurm_log.write_text(TIME_LIMIT + "\n")
    an_hour_ago = time.time() - 3600
    os.utime(slurm_log, (an_hour_ago, an_hour_ago))
    log = attempt_log(workdir, *TRACEBACK)
    why = show(workdir, capsys)[RUN][1]
    assert why.startswith("    why it stopped: failed: torch.OutOfMemoryError:") and str(log) in why, why


def test_a_run_whose_lock_is_held_is_training_not_stopped(tmp_path, capsys):
    workdir = make_workdir(tmp_path)
    save_dir = train(workdir, 1)
    attempt_log(workdir, TRAINING_LINE)
    with training_lock(save_dir):
        run = show(workdir, capsys)[RUN]
    assert run[0].startswith(f"{RUN}: training (pid {os.getpid()} on ") and run[0].endswith("), epoch 1/2"), run
    assert not any("why it stopped" in line for line in run)


def test_a_reader_that_stops_reading_ends_it_quietly(tmp_path):
    """``python -m lssd.run.status | head``: more lines than a pipe holds, the reader gone after the first."""
    workdir = make_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["run"]["seeds"] = list(range(1, 5001))  # 5000 lines of about 40 bytes: three times a pipe's buffer
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "lssd.run.status", "--configfile", str(workdir / "config.yaml")]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "demo/o2m/baseline/seed1: not started\n"
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0 and stderr == "", stderr
