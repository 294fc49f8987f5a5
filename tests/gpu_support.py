"""What tests/test_gpu.py needs beside its tests: LSSD's criterion set up as the teacher-overhead benchmark sets it
up (fairseq's Trainer), its objective recorded, and a reduced demo DAG on the GPUs that a SIGKILL can interrupt.
Only test_gpu.py imports it (tests/test_faults.py keeps its own kill helpers)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import types
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path

import yaml

from lssd import layout
from tests.helpers import reduced_config, snakemake

DIRECTION = "o2m"  # eng→X: LSSD-Whole and LSSD-Adaptive distil language-aware there (the teacher masked)
METHOD = "baseline"
TIMEOUT = 300
CORES = "2"


# ------------------------------------------------------------------------------------------------ the criterion
def distilling_setup(data_bin: Path, method: str, teacher_precision: str, device: str, save_dir: Path):
    """One LSSD method as benchmarks/overhead_measure.py's Setup builds it (the demo model and preset, its fairseq
    arguments, the same seeds: the same initial model and batches for every method and precision), the student in
    fp32 and the teachers in ``teacher_precision``. A higher learning rate and a short warm-up make one epoch move
    the model far enough from a teacher frozen at its start for the KD term and the gates to mean something."""
    import numpy as np
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    from benchmarks.overhead_measure import fairseq_arguments

    settings = types.SimpleNamespace(
        data_bin=str(data_bin), direction=DIRECTION, size="demo", max_tokens=1024, device=device,
        precision="fp32", teacher_precision=teacher_precision,
    )  # fmt: skip
    # (fairseq_arguments has --num-workers 0: the batches loaded in this process, as the pipeline's trainings do)
    argv = [*fairseq_arguments(settings, method, str(save_dir)), "--lr", "0.002", "--warmup-updates", "10"]
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), argv))
    utils.import_user_module(cfg.common)
    np.random.seed(cfg.common.seed)
    utils.set_torch_seed(cfg.common.seed)
    task = tasks.setup_task(cfg.task)
    trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
    epoch = trainer.get_train_iterator(epoch=1, load_dataset=True)
    trainer.begin_epoch(epoch.epoch)
    batches = [[sample] for sample in epoch.next_epoch_itr(shuffle=True)]  # update_freq 1: one batch per update
    return task, trainer, batches


def trained_weights(trainer, batches) -> tuple[dict, dict]:
    """A teacher's and a student's weights: the model after one epoch, and after a second one over the same
    batches (no teacher yet: plain label-smoothed CE)."""
    for samples in batches:
        trainer.train_step(samples)
    teacher = deepcopy(trainer.model.state_dict())
    for samples in batches:
        trainer.train_step(samples)
    return teacher, deepcopy(trainer.model.state_dict())


# the per-pair switch the tests set: every pair got its teacher at epoch 1; at epoch 2 only eng-mkd improved, so
# in epoch 3 eng-bos and eng-fra are distilled (from the epoch-1 teacher) and eng-mkd is not
EPOCH_2_LOSSES = {"bos": 2.0, "mkd": 0.5, "fra": 2.0}


def switch_on_for_epoch_3(task, model, teacher_weights: dict, student_weights: dict) -> dict:
    """The teacher pool filled through the lifecycle (teachers frozen in the run's --lssd-teacher-precision and
    written to their files), epoch 3 started, the student's weights loaded; the per-pair switch."""
    lifecycle = task.lifecycle
    model.load_state_dict(teacher_weights)
    keys = [task.teacher_key(pair) for pair in task.lang_pairs]
    lifecycle.pool.update(1, dict.fromkeys(keys, 1.0), lambda: lifecycle.teachers.copy(model, 1))
    lifecycle.pool.update(2, EPOCH_2_LOSSES, lambda: lifecycle.teachers.copy(model, 2))
    lifecycle.start_epoch(3)
    model.load_state_dict(student_weights)
    return dict(lifecycle.kd_on)


@contextmanager
def one_torch_thread():
    """torch on one CPU thread for the block. Beside another test process on the same cores, its spinning worker
    threads made the set-ups' small CPU operations up to 50x slower (measured on 2 cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def recorded_objectives(monkeypatch):
    """Every call of LSSD's objective by the criterion: its inputs and the per-token gate, on the CPU in float32."""
    import lssd.plugin.criterion as criterion_module

    calls, objective = [], criterion_module.distillation_objective

    def recording(student_logits, teacher_logits, target, **settings):
        out = objective(student_logits, teacher_logits, target, **settings)
        calls.append(
            {
                "student": student_logits.detach().float().cpu(),
                "teacher": teacher_logits.float().cpu(),
                "target": target.cpu(),
                "pad": settings["pad_idx"],
                "mask": None if settings["vocab_mask"] is None else settings["vocab_mask"].cpu(),
                "gate": out["gate"].detach().float().cpu(),
            }
        )
        return out

    monkeypatch.setattr(criterion_module, "distillation_objective", recording)
    yield calls


def distillation_steps(task, trainer, batches, seed: int = 7) -> list[dict]:
    """The criterion on each batch through the task's training step (the pair's teacher and language mask handed
    over as in training), the student in training mode with the same dropout masks for every run; the logged
    values (gradients computed, then dropped)."""
    from fairseq import utils

    model, criterion = trainer.model, trainer.criterion
    model.train()
    criterion.train()
    logs = []
    for samples in batches:
        sample, _ = trainer._prepare_sample(samples[0])
        utils.set_torch_seed(seed)
        _, _, logged = task.train_step(sample, model, criterion, trainer.optimizer, update_num=100)
        model.zero_grad()
        logs.append({key: float(logged[key]) for key in ("lssd_loss", "kd_sum", "gate_sum", "kd_ntokens")})
    return logs


@contextmanager
def variable_kept(name: str):
    """The environment variable ``name`` as it was before the block, whatever the block set it to."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# ------------------------------------------------------------------------------------------------ the DAG
def dag_config(gpus: int, **training) -> dict:
    """The reduced demo config: one direction, the baseline, the GPUs per training and evaluation, fp16, and no
    dropout (CUDA and the CPU draw different dropout masks from the same seed; without them a GPU run and a CPU
    run differ only by their arithmetic, which the dev-loss tolerance is about)."""
    config = reduced_config()
    config["run"].update(directions=[DIRECTION], methods=[METHOD], fp16=True)
    config["run"].update(gpus_per_training=gpus, gpus_per_evaluation=gpus)
    config["trainings"]["tiny"].update({"dropout": 0.0, **training})
    return config


def prepared_workdir(tmp_path_factory, name: str, config: dict, prepare) -> Path:
    workdir = tmp_path_factory.mktemp(name)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return prepare(workdir)


def run_path(workdir: Path, *parts: str) -> Path:
    return workdir / layout.run_dir("demo", DIRECTION, METHOD, 1, *parts)


def history_target() -> str:
    return layout.run_dir("demo", DIRECTION, METHOD, 1, layout.HISTORY)


def eval_target() -> str:
    return layout.path("eval", dataset="demo", direction=DIRECTION, method=METHOD, seed=1)


def job_log(workdir: Path, rule: str) -> Path:
    return workdir / layout.log(rule, dataset="demo", direction=DIRECTION, method=METHOD, seed=1)


def history(path: Path) -> dict:
    return json.loads(path.read_text())


def fairseq_command(attempt_log: Path) -> list[str]:
    """The fairseq-train command line an attempt ran (the runner logs it as ``$ <command>``)."""
    lines = [line for line in attempt_log.read_text().splitlines() if line.startswith("$ ") and "fairseq_cli" in line]
    assert len(lines) == 1, f"{attempt_log}: {len(lines)} fairseq-train commands"
    return lines[0][2:].split()


# ------------------------------------------------------------------------------------------------ kill and rerun
def wait_for(pattern: str, path: Path, process: subprocess.Popen, timeout: float = TIMEOUT) -> None:
    """Until ``pattern`` is in the file at ``path``; fails when Snakemake ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text()):
            return
        if process.poll() is not None:
            output = Path(process.output.name).read_text()[-3000:]
            raise AssertionError(f"Snakemake exited ({process.returncode}) before /{pattern}/ in {path}:\n{output}")
        time.sleep(0.02)  # an epoch of the tiny model on a GPU takes about a second
    raise AssertionError(f"timed out waiting for /{pattern}/ in {path}")


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every process it started (its job, the runner, fairseq-train: one process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # everything had ended
    process.wait()
    process.output.close()


def rerun(workdir: Path, *args: str) -> str:
    """docs/running.md's recovery after a killed Snakemake: --unlock when the directory is locked, the same
    command again, with --rerun-incomplete when Snakemake asks for it. The last attempt's output."""
    result = snakemake(*args, cwd=workdir, timeout=TIMEOUT)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "Directory cannot be locked" in output:
        unlocked = snakemake("--unlock", "--configfile", "config.yaml", cwd=workdir, timeout=TIMEOUT)
        assert unlocked.returncode == 0, unlocked.stderr[-3000:]
        result = snakemake(*args, cwd=workdir, timeout=TIMEOUT)
        output = result.stdout + result.stderr
    if result.returncode != 0 and "--rerun-incomplete" in output:
        result = snakemake(*args, "--rerun-incomplete", cwd=workdir, timeout=TIMEOUT)
        output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+)\.pt")


def saved_epochs(checkpoints: Path) -> list[int]:
    """The epochs whose checkpoint is on disk (the runner keeps the newest one while training)."""
    names = (path.name for path in checkpoints.glob("checkpoint*.pt"))
    return sorted(int(match.group(1)) for name in names if (match := EPOCH_CHECKPOINT.fullmatch(name)))
