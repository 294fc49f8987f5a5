"""The CUDA paths: fp16 teachers against fp32 ones, the GPUs a job claims, a reduced demo DAG trained in fp16 and
evaluated on the GPU, a killed GPU training resumed.

Skipped without CUDA. ``LSSD_GPU_REHEARSAL=1`` runs the same tests on the CPU (scripts/gpu_check.sh --rehearse,
in CI), so that they cannot rot between GPU runs; where an expectation only holds on a GPU (``--fp16`` in the
fairseq command, the model on cuda) the rehearsal asserts the CPU form instead, and where a GPU run is compared with
the same run on the CPU, the rehearsal's run is its own reference (it is that CPU run); nothing else differs.
"""

import json
import os
import re
import subprocess
import sys
from itertools import product

import pytest
import torch

from lssd import layout
from lssd.method.objective import SELECTIVE_FLOOR, teacher_probabilities
from lssd.run import gpus
from tests.gpu_support import (
    CORES,
    DIRECTION,
    METHOD,
    dag_config,
    distillation_steps,
    distilling_setup,
    eval_target,
    fairseq_command,
    history,
    history_target,
    job_log,
    kill_group,
    one_torch_thread,
    prepared_workdir,
    recorded_objectives,
    rerun,
    run_path,
    saved_epochs,
    switch_on_for_epoch_3,
    trained_weights,
    variable_kept,
    wait_for,
)
from tests.helpers import snakemake, snakemake_in_background

pytestmark = [pytest.mark.gpu, pytest.mark.slow]

REHEARSAL = "LSSD_GPU_REHEARSAL"
REQUIRED = "LSSD_GPU_REQUIRED"


@pytest.fixture(scope="session")  # (session: decided before the session's data fixtures are built for nothing)
def device():
    """cuda where there is one; the CPU in a rehearsal; else every test of the module is skipped."""
    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get(REHEARSAL) == "1":
        return "cpu"
    if os.environ.get(REQUIRED) == "1":  # scripts/gpu_check.sh on the GPU machine: a skip would pass for a check
        pytest.fail(f"{REQUIRED}=1, but torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")
    pytest.skip(f"no CUDA device ({REHEARSAL}=1 rehearses these tests on the CPU)")


# ------------------------------------------------------------------------------------------------ fp16 teachers
VARIANTS = ("lssd_whole", "lssd_selective", "lssd_adaptive")
PRECISIONS = ("fp32", "fp16")
COMPARED_BATCHES = 12  # of the epoch's 22: each of the three pairs, distilled (eng-bos, eng-fra) or not (eng-mkd)

# A teacher in fp16 rounds its weights and every activation to fp16 (unit roundoff u = 2^-11 ≈ 4.9e-4, relative).
# Along the demo model's path (2 encoder + 2 decoder layers, ~6 roundings each, then the projection onto the
# vocabulary) these add up to at most ~25u ≈ 1.2e-2 of relative error in the logits, and the log-softmax over the
# vocabulary moves a log-probability by at most twice the largest logit error. So each teacher log-probability
# may move by ~2e-2 (measured on the CPU: at most 7.3e-3).
LOGPROB_TOL = 2e-2
# A gate is a ratio of gold-token probabilities, the teacher's masked to its language's pieces and renormalised
# (which can double its log error): an adaptive gate min(1, Σq_T/Σq_S) moves by at most 2·LOGPROB_TOL, and a
# selective gate (q_T > q_S) can flip only where |log q_T - log q_S| is within 2·LOGPROB_TOL.
GATE_TOL = 2 * LOGPROB_TOL
# The KD loss of a batch, -Σ p_T·log p_S over hundreds of tokens and the whole vocabulary: the per-probability
# rounding errors come from the teacher's arithmetic, uncorrelated with the student's log-probabilities, and mostly
# cancel in the sums (measured on the CPU: at most 3e-5 relative). 1e-3 ≈ 2u leaves 30x that, and still fails a
# teacher that does not compute what the fp32 one does: with its dropout on, the KD loss moves by 5e-3 to 7e-3
# (measured on these batches).
KD_REL_TOL = 1e-3


def distilled_runs(data_bin, device, tmp_path, monkeypatch) -> dict:
    """For every variant and teacher precision, on the same student, teachers and batches: the per-pair switch,
    the teachers' dtype, the criterion's logged values and its objective's inputs and gates."""
    runs, weights = {}, None
    with one_torch_thread(), recorded_objectives(monkeypatch) as calls:
        for method, precision in product(VARIANTS, PRECISIONS):
            task, trainer, batches = distilling_setup(
                data_bin, method, precision, device, tmp_path / method / precision
            )
            weights = weights or trained_weights(trainer, batches)
            switch = switch_on_for_epoch_3(task, trainer.model, *weights)
            calls.clear()
            logs = distillation_steps(task, trainer, batches[:COMPARED_BATCHES])
            dtype = next(task.lifecycle.pool.teacher("bos").parameters()).dtype
            runs[method, precision] = {"switch": switch, "dtype": dtype, "logs": logs, "calls": list(calls)}
    return runs


def gold_log_probabilities(call, teacher=True) -> torch.Tensor:
    """log q of the gold tokens: the teacher's as the objective sees it (masked, renormalised), or the student's."""
    gold = call["target"].masked_fill(call["target"].eq(call["pad"]), 0).unsqueeze(-1)
    if teacher:
        return teacher_probabilities(call["teacher"], call["mask"]).gather(-1, gold).squeeze(-1).log()
    return torch.log_softmax(call["student"], dim=-1).gather(-1, gold).squeeze(-1)


def assert_same_gates(method, full, half) -> None:
    """fp16's gates are fp32's, within the tolerance the variant allows (see GATE_TOL)."""
    real = full["target"].ne(full["pad"])
    if method == "lssd_whole":
        assert torch.equal(full["gate"], half["gate"]) and bool((full["gate"][real] == 1).all())
    elif method == "lssd_selective":
        margin = (gold_log_probabilities(full) - gold_log_probabilities(full, teacher=False)).abs()
        flipped = full["gate"].ne(half["gate"]) & real
        assert bool((margin[flipped] <= GATE_TOL).all()), f"gates flipped at margins {margin[flipped].tolist()}"
    else:
        assert float((full["gate"] - half["gate"]).abs().max()) <= GATE_TOL


def test_fp16_teachers_distil_as_fp32_teachers_do(device, data_bin, tmp_path, monkeypatch):
    """The same student, teacher weights and batches; teachers frozen in fp16 (``--lssd-teacher-precision fp16``,
    the default on a GPU) and in fp32: the same switch per pair, and the same KD loss and gates within the
    tolerances above, for each variant."""
    runs = distilled_runs(data_bin[0] / "bin", device, tmp_path, monkeypatch)
    gates = {}
    for method in VARIANTS:
        full, half = runs[method, "fp32"], runs[method, "fp16"]
        assert (full["dtype"], half["dtype"]) == (torch.float32, torch.float16)
        assert full["switch"] == half["switch"] == {"eng-bos": True, "eng-mkd": False, "eng-fra": True}
        distilled = [log["kd_ntokens"] > 0 for log in full["logs"]]
        assert distilled == [log["kd_ntokens"] > 0 for log in half["logs"]]
        assert any(distilled) and not all(distilled), "the compared batches must hold distilled and plain pairs"
        assert len(full["calls"]) == len(half["calls"]) == sum(distilled)
        for a, b in zip(full["calls"], half["calls"], strict=True):
            assert torch.allclose(a["student"], b["student"], rtol=1e-5, atol=1e-6)  # same student, batch, dropout
            real = a["target"].ne(a["pad"])
            teacher_error = (torch.log_softmax(a["teacher"], -1) - torch.log_softmax(b["teacher"], -1))[real]
            assert float(teacher_error.abs().max()) <= LOGPROB_TOL
            assert_same_gates(method, a, b)
        gates[method] = torch.cat([call["gate"][call["target"].ne(call["pad"])] for call in full["calls"]])
        for a, b, on in zip(full["logs"], half["logs"], distilled, strict=True):
            if on:
                assert abs(a["kd_sum"] - b["kd_sum"]) <= KD_REL_TOL * a["kd_sum"], method
        if method != "lssd_selective":  # (a flipped gate moves the loss by more than the rounding does)
            for a, b in zip(full["logs"], half["logs"], strict=True):
                assert abs(a["lssd_loss"] - b["lssd_loss"]) <= KD_REL_TOL * a["lssd_loss"], method
    # the teachers are not the student: the gates are not trivially 1
    assert {1.0, SELECTIVE_FLOOR} <= {round(float(g), 6) for g in gates["lssd_selective"]}
    assert float(gates["lssd_adaptive"].min()) < 0.9


# ------------------------------------------------------------------------------------------------ the GPU claim
def cuda_device_count() -> int:
    """``torch.cuda.device_count()`` of a fresh Python (CUDA reads CUDA_VISIBLE_DEVICES when it starts)."""
    code = "import torch; print(torch.cuda.device_count())"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return int(completed.stdout.strip().splitlines()[-1])


def test_a_job_sees_the_gpus_it_claims(device, monkeypatch, tmp_path):
    """fairseq's world size (visible_gpu_count) is what CUDA counts, and a job's claim is what its children see."""
    on_gpu = device == "cuda"
    assert gpus.visible_gpu_count() == cuda_device_count() == (torch.cuda.device_count() if on_gpu else 0)
    monkeypatch.setenv("LSSD_GPU_LOCK_DIR", str(tmp_path))
    claimed, said = (1 if on_gpu else 0), []
    with variable_kept("CUDA_VISIBLE_DEVICES"):  # job_gpus sets it for this process and its children
        with gpus.job_gpus(claimed, setting="run.gpus_per_training", say=said.append) as mine:
            assert len(mine) == claimed == gpus.visible_gpu_count() == cuda_device_count()
    # and checks that torch can use it (gpus.cuda_report, in a child process), naming the card
    if on_gpu:
        card = torch.cuda.get_device_name(0)  # (the machine lent has one GPU)
        named = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees 1 GPU(s): {card}"
        assert said == [f"using GPU(s) {mine[0]}", named]
    else:
        assert said == []


# ------------------------------------------------------------------------------------------------ the DAG
# The dev losses of a run trained in fp16 on the GPU against the same run in fp32 on the CPU, in bits per token (no
# dropout in either: dag_config). The two epochs are ~23 updates that take the dev loss from ~10.1 bits (uniform
# over the vocabulary) to ~9.5. fairseq's fp16 keeps fp32 master weights and rounds activations and gradients
# (relative u ≈ 4.9e-4), and the GPU sums in another order: each update differs by O(u) relative, ≪ 0.01 bits over
# 23 updates. fairseq's dynamic loss scaling may also skip an update or two where the first scaled gradients
# overflow (initial scale 128), shifting the warm-up: up to ~5% of the 0.6 bits learnt, 0.03 bits. 0.05 bits holds
# both, and fails a GPU run that learnt nothing (every update skipped) or trained another model.
DEV_LOSS_TOL_BITS = 0.05
DAG_FLAGS = ("--cores", CORES, "--resources", "gpu=1", "--configfile", "config.yaml")


def assert_device_flags(command: list[str], on_gpu: bool) -> None:
    """fairseq-train trains in fp16 on the GPU (rehearsal: on the CPU, where the runner drops --fp16)."""
    if on_gpu:
        assert "--fp16" in command and "--cpu" not in command, command
    else:
        assert "--cpu" in command and "--fp16" not in command, command


def test_a_dag_trains_in_fp16_and_evaluates_on_the_gpu(device, tmp_path_factory, prepared_data):
    """The reduced demo DAG with one GPU per training and evaluation and run.fp16: fairseq trains in fp16 on CUDA,
    the evaluation's model is on CUDA, and the dev losses are those of the same training on the CPU."""
    on_gpu = device == "cuda"
    workdir = prepared_workdir(tmp_path_factory, "gpu-dag", dag_config(1 if on_gpu else 0), prepared_data)
    result = snakemake(eval_target(), *DAG_FLAGS, cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    attempt = run_path(workdir, layout.CHECKPOINTS, "logs", "attempt-1.log")
    assert_device_flags(fairseq_command(attempt), on_gpu)
    # fairseq's Trainer lists the CUDA devices it trains on, and only then
    assert ("CUDA enviroments for all 1 workers" in attempt.read_text()) == on_gpu
    # torch was checked before any job (the start hook) and by the job, which named the card
    assert ("lssd: the GPU jobs to run will use this machine's GPUs: torch " in output) == on_gpu, output[-3000:]
    assert (re.search(r"^torch \S+ \(CUDA \S+\) sees 1 GPU\(s\): ", attempt.read_text(), re.M) is not None) == on_gpu
    evaluation_log = job_log(workdir, "eval").read_text()
    assert ("using GPU(s) " in evaluation_log) == on_gpu, evaluation_log[-3000:]
    # lssd.run.generation says where the model it translates with is
    where = r"model on cuda:\d+ \(float(16|32)\)" if on_gpu else r"model on cpu \(float32\)"
    assert re.search(where, evaluation_log), evaluation_log[-3000:]
    for pair in ("eng-bos", "eng-fra"):
        scores = json.loads((workdir / eval_target() / f"{pair}.test.json").read_text())
        assert scores["n_sentences"] > 0 and 0 <= scores["bleu"] <= 100

    cpu = workdir  # a rehearsal's run is already the CPU run, its config the same: it is its own reference
    if on_gpu:
        cpu = prepared_workdir(tmp_path_factory, "cpu-dag", dag_config(0), prepared_data)
        result = snakemake(history_target(), *DAG_FLAGS, cwd=cpu)
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        assert_device_flags(fairseq_command(run_path(cpu, layout.CHECKPOINTS, "logs", "attempt-1.log")), False)
    on_device, on_cpu = history(workdir / history_target()), history(cpu / history_target())
    assert list(on_device) == list(on_cpu) == ["eng-bos", "eng-fra", "all"]
    skipped = attempt.read_text().count("gradient overflow detected")  # (fp16's skipped updates, for the message)
    for pair, values in on_cpu.items():
        assert len(on_device[pair]) == len(values) == 2 and values[1] < values[0]  # two epochs, and it learnt
        for epoch, (got, expected) in enumerate(zip(on_device[pair], values, strict=True), start=1):
            message = f"{pair} epoch {epoch}: {got} on {device}, {expected} on the CPU ({skipped} updates skipped)"
            assert abs(got - expected) <= DEV_LOSS_TOL_BITS, message


# ------------------------------------------------------------------------------------------------ kill, resume
# ~33 updates an epoch (small batches, each logged): a kill right after the first epoch's checkpoint lands inside
# the second epoch even on a GPU, where an epoch of the one-layer model takes about a second
KILLED_EPOCHS = 3
KILLED_TRAINING = {"max_epoch": KILLED_EPOCHS, "max_tokens": 512, "log_interval": 1}


def test_a_killed_training_on_the_gpu_resumes(device, tmp_path_factory, prepared_data):
    """SIGKILL of Snakemake's process group (the job, the runner, fairseq-train) once the first epoch's checkpoint
    is saved, then the documented rerun: the training resumes from its last checkpoint on the same device, and its
    history has every epoch, those before the kill unchanged."""
    on_gpu = device == "cuda"
    config = dag_config(1 if on_gpu else 0, **KILLED_TRAINING)
    workdir = prepared_workdir(tmp_path_factory, "gpu-kill", config, prepared_data)
    checkpoints = run_path(workdir, layout.CHECKPOINTS)
    process = snakemake_in_background(workdir, history_target(), *DAG_FLAGS)
    try:
        wait_for(r"Saved checkpoint \S*checkpoint1\.pt", job_log(workdir, "train"), process)
    finally:
        kill_group(process)
    saved = max(saved_epochs(checkpoints), default=KILLED_EPOCHS)  # (none left: the run had ended, published)
    assert saved < KILLED_EPOCHS, "the kill came after the training's end"
    before = history(checkpoints / layout.HISTORY)
    assert all(len(values) >= saved for values in before.values())

    rerun(workdir, history_target(), *DAG_FLAGS)
    resumed = job_log(workdir, "train").read_text()  # (Snakemake started the job's log anew)
    assert f"resuming in {layout.save_dir('demo', DIRECTION, METHOD, 1)} (same arguments and data" in resumed
    loaded = re.search(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch (\d+) @ \d+ updates\)", resumed)
    assert loaded and int(loaded.group(1)) == saved + 1, resumed[-3000:]
    assert f"per-pair history restored from {checkpoints.relative_to(workdir)}/checkpoint_last.pt" in resumed
    assert_device_flags(fairseq_command(checkpoints / "logs" / "attempt-2.log"), on_gpu)
    after = history(run_path(workdir, layout.HISTORY))
    assert list(after) == list(before) == ["eng-bos", "eng-fra", "all"]
    for pair, values in after.items():
        assert len(values) == KILLED_EPOCHS
        assert values[:saved] == before[pair][:saved], pair  # the epochs before the kill, exactly
