"""Data-parallel training: the world size the runner chooses, and LSSD trained by 2 CPU worker processes (gloo).

The fast tests check the device flags as pure functions (N visible GPUs → world size N; ``--cpu-workers N`` →
one gloo rank per process, loopback only). The slow tests train the same LSSD run twice through the runner:
1 process with ``--update-freq 2`` and 2 worker processes with ``--update-freq 1``. fairseq shards the
(shuffled) batches round-robin over the ranks and groups consecutive batches into an update, so both runs
make the same updates from the same batches, and without dropout they differ only by float rounding: their
histories agree closely and their LSSD decisions (teacher table, KD switch) must be the same. The 2-worker
run must also record dev losses of the whole dev set (summed across workers), decide the KD switch by the
rule from its own history, and choose the same teachers on every rank: an instrumented fairseq-train
(``DRIVER``) writes each rank's decisions at the start of every epoch.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest
import torch

import lssd.plugin.task  # noqa: F401  (registers the task in this process, allows loading fairseq checkpoints)
from lssd.method.history import ALL
from lssd.run import cli, processes, train_run
from tests.helpers import LSSD, REPO, expected_switch, train_command

INIT = "file:///tmp/rendezvous/store"


# ----------------------------------------------------------------------------------------------- device flags
def option(flags: list[str], name: str) -> str | None:
    return flags[flags.index(name) + 1] if name in flags else None


def test_no_gpu_is_one_cpu_process_and_one_gpu_is_no_distributed_training():
    assert cli.device_arguments(gpu_count=0) == ["--cpu"]
    assert cli.device_arguments(fp16=True, gpu_count=0) == ["--cpu"]
    assert cli.device_arguments(gpu_count=1) == []
    assert cli.device_arguments(fp16=True, gpu_count=1) == ["--fp16"]


@pytest.mark.parametrize("gpus", [2, 3, 8])
def test_n_visible_gpus_set_the_world_size_to_n(gpus):
    flags = cli.device_arguments(fp16=True, gpu_count=gpus)
    assert option(flags, "--distributed-world-size") == str(gpus)
    assert "--fp16" in flags and "--cpu" not in flags
    # fairseq infers the init method and spawns one process per GPU itself: a port or init method given here
    # would make it skip that inference (outside SLURM) and train on one GPU
    assert not {"--distributed-port", "--distributed-init-method", "--distributed-no-spawn"} & set(flags)
    # the runner starts a single fairseq-train; CPU workers do not apply on GPUs
    commands = processes.training_commands(["data"], gpu_count=gpus, cpu_workers=4, init_method=INIT)
    assert len(commands) == 1 and option(commands[0], "--distributed-world-size") == str(gpus)


def test_cpu_workers_are_gloo_ranks_of_one_world():
    assert cli.process_arguments(gpu_count=0, cpu_workers=1) == [["--cpu"]]
    per_rank = cli.process_arguments(gpu_count=0, cpu_workers=3, init_method=INIT)
    assert len(per_rank) == 3
    for rank, flags in enumerate(per_rank):
        assert "--cpu" in flags and "--distributed-no-spawn" in flags
        assert option(flags, "--distributed-world-size") == "3"
        assert option(flags, "--distributed-rank") == str(rank)
        assert option(flags, "--distributed-backend") == "gloo"
        assert option(flags, "--distributed-init-method") == INIT
        assert option(flags, "--ddp-backend") == "legacy_ddp"  # torch's DDP refuses device_ids for CPU modules
    with pytest.raises(ValueError, match="init method"):
        cli.process_arguments(gpu_count=0, cpu_workers=2)


def test_fairseq_cpu_flag_means_cpu_workers_even_with_gpus():
    commands = processes.training_commands(
        ["data", "--cpu"], gpu_count=2, cpu_workers=2, init_method=INIT, program=("fairseq-train",)
    )
    assert [command[:3] for command in commands] == [["fairseq-train", "data", "--cpu"]] * 2
    assert [option(command, "--distributed-rank") for command in commands] == ["0", "1"]
    assert processes.training_commands(["data"], gpu_count=0)[0][:3] == [sys.executable, "-m", "fairseq_cli.train"]


def test_the_workers_rendezvous_through_a_file_and_talk_over_loopback():
    assert cli.file_init_method("/tmp/x/store") == "file:///tmp/x/store"
    env = cli.cpu_worker_environment({"OMP_NUM_THREADS": "4"}, 2, ["lo", "eth0"], cpu_count=16)
    assert env["GLOO_SOCKET_IFNAME"] == "lo" and env["OMP_NUM_THREADS"] == "2"
    env = cli.cpu_worker_environment({}, 2, ["lo"], cpu_count=3)
    assert env["OMP_NUM_THREADS"] == "1"
    env = cli.cpu_worker_environment({"GLOO_SOCKET_IFNAME": "lo0"}, 4, ["lo0"], cpu_count=2)
    assert env["GLOO_SOCKET_IFNAME"] == "lo0" and env["OMP_NUM_THREADS"] == "1"
    assert "GLOO_SOCKET_IFNAME" not in cli.cpu_worker_environment({}, 2, ["eth0"], cpu_count=2)


def test_runner_option_reaches_the_training(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(train_run, "train", lambda args, **kwargs: calls.append((args, kwargs)) or 7)
    data = tmp_path / "data"
    data.mkdir()
    (data / "dict.fra.txt").write_text("le 3\n")
    common = ["--save-dir", str(tmp_path / "c"), "--best", "b.pt", "--history", "h.json"]
    assert train_run.main([*common, "--cpu-workers", "2", "--", str(data), "--seed", "1"]) == 7
    [(args, options)] = calls
    assert args[:3] == [str(data), "--seed", "1"] and "--user-dir" in args  # the runner adds the plugin
    assert (options["fp16"], options["cpu_workers"]) == (False, 2)
    with pytest.raises(SystemExit):
        train_run.main([*common, "--cpu-workers", "0", "--", str(data)])


def test_a_failing_worker_stops_the_others():
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    start = time.monotonic()
    assert processes.run_processes([sleeper, failing]) == 3
    assert time.monotonic() - start < 60
    assert processes.run_processes([[sys.executable, "-c", "pass"]] * 2) == 0


# ----------------------------------------------------------------------------------------------- LSSD, 2 workers
EPOCHS = 4
# a high learning rate makes some pairs stop improving early (KD on for them) while others still improve;
# no dropout, so that 1 process with update-freq 2 and 2 processes make the same updates
# batches of any size (not fairseq's default multiple of 8, which drops each pair's remainder): with every
# sentence in every epoch, these settings make one epoch distil some pairs but not others (the case that broke
# distributed training), and the 1- and 2-worker runs see the same sentences
SETTINGS = {"lr": 0.02, "dropout": 0.0, "attention_dropout": 0.0, "extra_args": ["--required-batch-size-multiple", "1"]}
DRIVER = """
import json, os, sys
sys.path.insert(0, {repo!r})
import torch
from lssd.method.lifecycle import TeacherLifecycle

start_epoch = TeacherLifecycle.start_epoch


def recording_start_epoch(self, epoch):
    start_epoch(self, epoch)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    pool = self.pool
    checksums = {{}}
    for pair in self.pairs:
        teacher = pool.teacher(self.teacher_key(pair))
        if teacher is not None:
            checksums[pair] = float(sum(p.double().sum() for p in teacher.parameters()))
    entry = {{
        "epoch": epoch,
        "world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        "kd_on": self.kd_on,
        "best_during": self.best_during,
        "pool": pool.state_dict(),
        "teacher_checksums": checksums,
    }}
    with open(os.path.join(self.files.save_dir, f"decisions.rank{{rank}}.jsonl"), "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\\n")


TeacherLifecycle.start_epoch = recording_start_epoch
from fairseq_cli.train import cli_main

sys.argv = ["fairseq-train", *sys.argv[1:]]
cli_main()
"""


def runner_arguments(root, out, workers):
    """The pairs, and the runner's arguments (its own, then fairseq-train's) of the LSSD run of these tests."""
    training = {**SETTINGS, "update_freq": 2 // workers}  # the same 2 batches per update either way
    pairs, command = train_command(root, "o2m", EPOCHS, out / "checkpoints", method=LSSD, training=training)
    fairseq_args = command[command.index("fairseq_cli.train") + 1 :]
    outputs = ["--best", str(out / "best.pt"), "--history", str(out / "history.json")]
    outputs += ["--records", str(out / "records.json")]
    own = ["--save-dir", str(out / "checkpoints"), *outputs, "--cpu-workers", str(workers)]
    own += ["--keep-epoch-checkpoints"]  # each epoch's model is rescored below
    return pairs, [*own, "--", *fairseq_args]


def run_through_runner(root, out, workers, driver):
    """One LSSD run through ``lssd.run.train_run.main`` (the Snakemake rule's entry) with ``--cpu-workers``."""
    pairs, arguments = runner_arguments(root, out, workers)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(processes, "FAIRSEQ_TRAIN", (sys.executable, str(driver)))
        assert train_run.main(arguments) == 0
    return pairs


@pytest.fixture(scope="module")
def runs(data_bin, tmp_path_factory):
    root, _ = data_bin
    base = tmp_path_factory.mktemp("distributed")
    driver = base / "recording_train.py"
    driver.write_text(DRIVER.format(repo=str(REPO)))
    out = {workers: base / f"workers{workers}" for workers in (1, 2)}
    for workers, directory in out.items():
        pairs = run_through_runner(root, directory, workers, driver)
    return root, pairs, out


def load(out, name):
    return json.loads((out / name).read_text())


def decisions(out, rank):
    lines = (out / "checkpoints" / f"decisions.rank{rank}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_two_workers_give_the_history_and_decisions_of_one(runs):
    _, pairs, out = runs
    one, two = (load(out[w], "history.json") for w in (1, 2))
    assert list(two) == list(one) == [*pairs, ALL]
    for name in one:
        assert len(two[name]) == len(one[name]) == EPOCHS
        assert all(math.isfinite(value) for value in two[name])
        # float rounding (summation order) only: ~1e-8 in the first epochs, growing with training
        assert two[name] == pytest.approx(one[name], rel=1e-3), name
    records = [load(out[w], "records.json") for w in (1, 2)]
    for pair in pairs:
        assert records[1][pair]["kd_on"] == records[0][pair]["kd_on"], pair
        assert records[1][pair]["best_epoch"] == records[0][pair]["best_epoch"], pair
    for first, second in zip(decisions(out[1], 0), decisions(out[2], 0), strict=True):
        assert (first["world_size"], second["world_size"]) == (1, 2)
        assert second["kd_on"] == first["kd_on"] and second["best_during"] == first["best_during"]


@pytest.mark.slow
def test_two_worker_switch_follows_the_rule_and_some_epoch_distils_only_some_pairs(runs):
    _, pairs, out = runs
    history, records = load(out[2], "history.json"), load(out[2], "records.json")
    for pair in pairs:
        kd_on = records[pair]["kd_on"]
        assert kd_on == [expected_switch(history[pair], e) for e in range(1, EPOCHS + 1)], pair
        for epoch, on in enumerate(kd_on, start=1):
            best = records[pair]["best_epoch"][epoch - 1]
            if epoch > 1:
                assert best == min(range(1, epoch), key=lambda e: (history[pair][e - 1], e)), (pair, epoch)
            gate, kd = records[pair]["mean_gate"][epoch - 1], records[pair]["kd_loss"][epoch - 1]
            assert (0 < gate <= 1 and kd > 0) if on else (gate is None and kd is None), (pair, epoch)
    # the case that broke distributed training: in one step a rank distils and another does not
    mixed = [e for e in range(EPOCHS) if len({records[pair]["kd_on"][e] for pair in pairs}) == 2]
    assert mixed, "no epoch distilled some pairs but not others: the settings no longer test the mixed case"
    # the published outputs are rank 0's files
    for name in ("history.json", "records.json"):
        assert load(out[2], name) == load(out[2] / "checkpoints", name)


@pytest.mark.slow
def test_every_rank_chose_the_same_teachers(runs):
    _, pairs, out = runs
    ranks = [decisions(out[2], rank) for rank in (0, 1)]
    assert [entry["epoch"] for entry in ranks[0]] == list(range(1, EPOCHS + 1))
    assert ranks[1] == ranks[0]  # switch, teacher table, and the teachers' weights (checksums), per epoch
    assert any(entry["teacher_checksums"] for entry in ranks[0])
    records = load(out[2], "records.json")
    for entry in ranks[0]:
        epoch = entry["epoch"]
        assert entry["kd_on"] == {pair: records[pair]["kd_on"][epoch - 1] for pair in pairs}
        assert set(entry["teacher_checksums"]) == {pair for pair, best in entry["best_during"].items() if best > 0}
    # the teacher table rank 0 saved is the one every rank used in the last epoch; its teachers' files exist
    state = torch.load(out[2] / "checkpoints" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    saved = state["task_state"]["lssd_pool"]
    assert json.loads(json.dumps(saved)) == ranks[0][-1]["pool"]
    for entry in saved["entries"].values():
        assert (out[2] / "checkpoints" / "teachers" / f"teacher_epoch{entry['best_epoch']}.pt").exists()


def dev_sums(task, model, criterion, num_shards=1, shard_id=0):
    """Per-pair (loss nats, target tokens) over one shard of the dev set, with the task's own valid_step."""
    iterator = task.get_batch_iterator(
        task.dataset("valid"),
        max_tokens=1024,
        max_positions=(256, 256),
        required_batch_size_multiple=1,
        seed=1,
        num_shards=num_shards,
        shard_id=shard_id,
    ).next_epoch_itr(shuffle=False)
    loss, ntokens = defaultdict(float), defaultdict(float)
    for sample in iterator:
        if not sample:
            continue
        _, _, log = task.valid_step(sample, model, criterion)
        for pair in task.lang_pairs:
            loss[pair] += float(log[lssd.plugin.task.PAIR_LOSS + pair])
            ntokens[pair] += float(log[lssd.plugin.task.PAIR_NTOKENS + pair])
    return loss, ntokens


@pytest.mark.slow
def test_two_worker_dev_losses_are_sums_over_the_whole_dev_set(runs):
    """Each epoch's model, saved by the 2-worker run, rescored on the whole dev set in this one process."""
    from fairseq import checkpoint_utils

    _, pairs, out = runs
    history = load(out[2], "history.json")
    bits = 1 / math.log(2)
    for epoch in range(1, EPOCHS + 1):
        checkpoint = out[2] / "checkpoints" / f"checkpoint{epoch}.pt"
        models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(checkpoint)])
        model = models[0].eval()
        criterion = task.build_criterion(cfg.criterion)
        task.load_dataset("valid")
        loss, ntokens = dev_sums(task, model, criterion)
        for pair in pairs:
            assert history[pair][epoch - 1] == pytest.approx(loss[pair] / ntokens[pair] * bits, rel=1e-5)
        total = sum(loss.values()) / sum(ntokens.values()) * bits
        assert history[ALL][epoch - 1] == pytest.approx(total, rel=1e-5)
        # the check can fail: each worker's shard alone (what a rank would record without the sum across
        # workers) has other token counts and, for some pair, another loss
        shards = [dev_sums(task, model, criterion, num_shards=2, shard_id=rank) for rank in (0, 1)]
        for pair in pairs:
            assert sum(shard[1][pair] for shard in shards) == ntokens[pair]
        assert any(
            shards[0][1][pair] != ntokens[pair]
            and shards[0][0][pair] / shards[0][1][pair] * bits != pytest.approx(history[pair][epoch - 1], rel=1e-5)
            for pair in pairs
            if shards[0][1][pair] > 0
        )


def trained_epochs(history_file) -> int:
    try:
        return len(json.loads(history_file.read_text())[ALL])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
def test_a_killed_two_worker_run_resumes_and_ends_as_the_uninterrupted_one(runs, tmp_path):
    """What a SLURM time limit or a pre-emption does to a multi-GPU run, with 2 CPU workers: the runner and
    its workers are killed (SIGKILL, no clean-up) after epoch 2, the rerun resumes from the checkpoint with 2
    workers (rank 1 receives rank 0's state by fairseq's broadcast: the case that crashed) and its history and
    LSSD decisions end as those of the run that was never interrupted."""
    root, pairs, out = runs
    _, arguments = runner_arguments(root, tmp_path, workers=2)
    command = [sys.executable, "-m", "lssd.run.train_run", *arguments]
    saved_history = tmp_path / "checkpoints" / "history.json"
    with open(tmp_path / "first.log", "wb") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600
        while trained_epochs(saved_history) < 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)  # the runner and both workers
        first.wait()
    assert 2 <= trained_epochs(saved_history) < EPOCHS, (tmp_path / "first.log").read_text()[-3000:]
    assert not (tmp_path / "history.json").exists()  # nothing published by the killed attempt
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "resuming in" in output and "Weights only load failed" not in output
    second_attempt = (tmp_path / "checkpoints" / "logs" / "attempt-2.log").read_text()
    assert "--distributed-world-size 2" in second_attempt and "Loaded checkpoint" in second_attempt
    resumed, uninterrupted = load(tmp_path, "history.json"), load(out[2], "history.json")
    assert list(resumed) == list(uninterrupted)
    for name, values in uninterrupted.items():
        assert resumed[name] == pytest.approx(values, rel=1e-6), name
    records, expected = load(tmp_path, "records.json"), load(out[2], "records.json")
    for pair in pairs:
        for field in ("kd_on", "best_epoch", "train_tokens", "kd_tokens"):
            assert records[pair][field] == expected[pair][field], (pair, field)
