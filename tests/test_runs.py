"""One training run through the runner (``lssd.run.train_run``, the train rule's entry) with the real fairseq-train:
what makes a run the same run (arguments and data), what it leaves on disk, a torn ``checkpoint_last.pt``, one
trainer per run, and every attempt's log kept.

The runs use relative paths (``bin``, ``run/checkpoints``) from their own working directory, as the rules do: a
copy of a finished working directory is the same run, so each test starts from a copy of one trained run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lssd.method.history import pair_best_epochs
from lssd.run import attempts, commands, identity, resume, software, train_run
from tests.helpers import LANGS, LSSD, TINY

pytestmark = pytest.mark.slow

PAIRS = [f"eng-{lang}" for lang in LANGS]
SAVE_DIR = Path("run/checkpoints")


def runner_command(max_epoch, *own, method=None, training=None):
    args = commands.train_arguments(
        data_bin="bin",
        save_dir=str(SAVE_DIR),
        pairs=PAIRS,
        direction="o2m",
        training={**TINY, **(training or {}), "max_epoch": max_epoch},
        method=method or {"criterion": "label_smoothed_cross_entropy"},
        seed=3,
    )
    outputs = ["--best", "run/checkpoint_best.pt", "--history", "run/history.json", "--records", "run/records.json"]
    return [
        sys.executable,
        "-m",
        "lssd.run.train_run",
        "--save-dir",
        str(SAVE_DIR),
        *outputs,
        *own,
        "--",
        *args,
        "--cpu",
    ]


def run_training(workdir, max_epoch, *own, expect=0, **settings):
    completed = subprocess.run(
        runner_command(max_epoch, *own, **settings), cwd=workdir, capture_output=True, text=True, timeout=600
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == expect, output[-4000:]
    return output


def trained_run(data_bin, tmp_path_factory, name, *own, **settings):
    """A finished two-epoch run in a working directory of its own (its data-bin copied in); (workdir, output)."""
    root, _ = data_bin
    workdir = tmp_path_factory.mktemp("runs") / name
    workdir.mkdir()
    shutil.copytree(root / "bin", workdir / "bin")
    return workdir, run_training(workdir, 2, *own, **settings)


@pytest.fixture(scope="module")
def trained(data_bin, tmp_path_factory):
    """A finished two-epoch baseline run (the pipeline's defaults: no epoch checkpoints kept)."""
    return trained_run(data_bin, tmp_path_factory, "first", "--log-interval", "5")


def copy_of(trained, tmp_path, name="copy"):
    workdir = tmp_path / name
    shutil.copytree(trained[0], workdir, symlinks=True)
    return workdir


def history_epochs(workdir):
    return len(json.loads((workdir / "run" / "history.json").read_text())["all"])


def test_a_finished_run_keeps_last_best_and_its_records_only(trained):
    workdir, output = trained
    save_dir = workdir / SAVE_DIR
    files = sorted(str(path.relative_to(save_dir)) for path in save_dir.rglob("*") if path.is_file())
    # each pair's best checkpoint, model-only (evaluation.per_pair_best; tests/test_pair_best_checkpoints.py)
    history = json.loads((save_dir / "history.json").read_text())
    pair_best = sorted({f"teachers/teacher_epoch{epoch}.pt" for epoch in pair_best_epochs(history).values()})
    assert pair_best and files == sorted([
        "checkpoint_best.pt", "checkpoint_last.pt", "history.json", "logs/attempt-1.log", "records.json",
        "run_args.json", *pair_best,
    ]), files  # fmt: skip
    assert "Saved checkpoint run/checkpoints/checkpoint2.pt" in output  # kept while training, deleted at the end
    assert history_epochs(workdir) == 2 and (workdir / "run" / "checkpoint_best.pt").stat().st_size > 0
    identity = json.loads((save_dir / "run_args.json").read_text())
    assert "--user-dir" not in identity["args"] and "--log-interval" not in identity["args"]
    assert identity["software"] == software.installed()  # what it trained with, named in its log too
    assert f"software: {software.describe(software.installed())}" in (save_dir / "logs/attempt-1.log").read_text()
    assert "train.bos-eng.bos.bin" in identity["data"] and "dict.bos.txt" in identity["data"]
    assert not any(name.startswith("test.") for name in identity["data"])


def test_a_raised_max_epoch_resumes_and_a_torn_last_checkpoint_falls_back(trained, tmp_path):
    """The state a kill during fairseq's copy leaves: checkpoint2.pt saved (atomically), checkpoint_last.pt torn.
    The rerun, asked for one more epoch, resumes from checkpoint2.pt and trains epoch 3 only."""
    workdir = copy_of(trained, tmp_path)
    save_dir = workdir / SAVE_DIR
    shutil.copyfile(save_dir / "checkpoint_last.pt", save_dir / "checkpoint2.pt")
    last = save_dir / "checkpoint_last.pt"
    with open(last, "r+b") as handle:
        handle.truncate(last.stat().st_size // 2)
    output = run_training(workdir, 3, "--log-interval", "5", "--tensorboard")
    assert "resuming in run/checkpoints (same arguments and data; 2 epochs trained, max_epoch 3)" in output
    assert "checkpoint_last.pt is unreadable (torn by a kill during fairseq's copy): resuming from checkpoint2.pt" in (
        output
    )
    assert "Loaded checkpoint run/checkpoints/checkpoint_last.pt (epoch 3 @" in output, output[-3000:]
    assert "begin training epoch 1\n" not in output and "begin training epoch 3\n" in output
    assert history_epochs(workdir) == 3
    assert not list(save_dir.glob("checkpoint[0-9]*.pt"))
    # both attempts' logs are kept
    first, second = (save_dir / "logs" / f"attempt-{n}.log" for n in (1, 2))
    assert "begin training epoch 1" in first.read_text() and "begin training epoch 3" in second.read_text()
    assert not list(save_dir.parent.glob("checkpoints.stale-*"))
    # run.tensorboard: fairseq's TensorBoard event files, one directory per run
    assert list((save_dir / "tensorboard" / "valid").glob("events.out.tfevents.*"))


def test_settings_that_cannot_change_the_model_resume_the_run(trained, tmp_path):
    """Another log interval, epoch checkpoints kept, a moved working directory: the same run, nothing retrained."""
    workdir = copy_of(trained, tmp_path)
    output = run_training(workdir, 2, "--log-interval", "1", "--keep-epoch-checkpoints")
    assert "resuming in run/checkpoints (same arguments and data" in output
    assert "begin training epoch" not in output and "published run/checkpoint_best.pt" in output
    # finished: published again without starting fairseq (nothing it would load can fail the rerun)
    assert "the run is already trained (2 epochs, " in output and "fairseq_cli.train" not in output


def test_a_resume_with_other_software_says_so(trained, tmp_path):
    """A finished run published again after its environment changed (here: its record says another torch): the
    attempt's log says what changed, and the run is the same run (published, not moved aside nor trained)."""
    workdir = copy_of(trained, tmp_path)
    record_path = workdir / SAVE_DIR / "run_args.json"
    record = json.loads(record_path.read_text())
    record["software"]["torch"] = "2.11.0+cu130"
    record_path.write_text(json.dumps(record))
    output = run_training(workdir, 2)
    assert f"warning: this run started with other software (torch 2.11.0+cu130 → {torch.__version__}): " in output
    assert "the run is already trained (2 epochs" in output and not list(workdir.glob("run/checkpoints.stale-*"))


def test_a_lowered_max_update_starts_a_new_run(trained, tmp_path):
    """fairseq would stop at once ("done training") and the longer run's model be published as the shorter
    setting's result: the run is another run, the old one moved aside."""
    workdir = copy_of(trained, tmp_path)
    updates = resume.trained_updates(workdir / SAVE_DIR)
    assert updates > 3
    output = run_training(workdir, 2, training={"max_update": 3})
    assert f"max_update 3 is below the {updates} updates this run has trained: moving the old run/checkpoints" in (
        output
    )
    assert "begin training epoch 1\n" in output and "done training" in output
    assert resume.trained_updates(workdir / SAVE_DIR) == 3
    assert len(list((workdir / "run").glob("checkpoints.stale-*"))) == 1


def test_a_run_does_not_resume_with_another_batch_per_update_or_precision(trained, tmp_path, monkeypatch):
    """Data-parallel workers multiply the tokens of an update (and fp16 changes its arithmetic): an unfinished run
    resumed on other devices would train its rest as another experiment. The job stops before fairseq, naming both
    and the way out; nothing is moved. The same tokens per update (2 workers × 512 tokens = 1 × 1024) is the same
    run, and a finished run is published whatever it would now run on."""
    workdir = copy_of(trained, tmp_path)
    recorded = json.loads((workdir / SAVE_DIR / "run_args.json").read_text())["devices"]
    assert recorded == {"tokens_per_update": "1024", "fp16": False, "world_size": 1, "max_tokens": 1024,
                        "update_freq": "1"}  # fmt: skip
    halved = runner_command(2, training={"max_tokens": 512})
    assert identity.devices_change(recorded, identity.update_devices(2, halved, False)) is None
    assert identity.devices_change(recorded, identity.update_devices(1, halved, False)) is not None
    output = run_training(workdir, 3, "--cpu-workers", "2", expect=2)
    assert (
        "error: this run trained with 1 worker(s) × 1024 tokens × update_freq 1 = 1024 tokens per update, fp32; "
        "resumed now, it would train with 2 worker(s) × 1024 tokens × update_freq 1 = 2048 tokens per update, fp32. "
        "The rest of the run would be another experiment: restore the setting"
    ) in output and "(mv run/checkpoints run/checkpoints.stale-manual)" in output
    assert "fairseq_cli.train" not in output and not list((workdir / "run").glob("checkpoints.stale-*"))
    assert json.loads((workdir / SAVE_DIR / "run_args.json").read_text())["devices"] == recorded
    output = run_training(workdir, 2, "--cpu-workers", "2")
    assert "the run is already trained (2 epochs" in output and "fairseq_cli.train" not in output


def test_a_config_set_back_brings_the_run_moved_aside_back(trained, tmp_path, monkeypatch):
    """A run moved aside (its arguments changed) returns whole when the config returns to it, and a finished one
    is published again without training: a failed or abandoned rerun under other settings loses nothing."""
    workdir = copy_of(trained, tmp_path)
    monkeypatch.chdir(workdir)
    args = runner_command(2)[runner_command(2).index("--") + 1 :]
    changed = [*args, "--dropout", "0.2"]
    messages = []
    identity.prepare_save_dir(SAVE_DIR, changed, messages.append)
    assert messages[0].startswith("the training arguments changed (--dropout 0.1 → 0.2): moving the old ")
    assert messages[0].endswith(
        "(kept whole: setting the config back to it brings it back, published without training)"
    )
    [stale] = Path("run").glob("checkpoints.stale-*")
    monkeypatch.chdir(tmp_path)
    output = run_training(workdir, 2)
    assert "holds this run (the same arguments and data; moved aside earlier): bringing it back" in output
    assert "the run is already trained (2 epochs" in output and "fairseq_cli.train" not in output
    [abandoned] = (workdir / "run").glob("checkpoints.stale-*")  # the changed run, moved aside in turn
    assert abandoned != stale and not (abandoned / "checkpoint_last.pt").exists()
    assert (workdir / "run" / "checkpoint_best.pt").read_bytes() == (
        trained[0] / "run" / "checkpoint_best.pt"
    ).read_bytes()


@pytest.mark.parametrize("change", ["same_vocabulary", "vocabulary"])
def test_changed_training_data_moves_the_old_run_aside_and_trains_from_scratch(trained, tmp_path, change):
    """The data-bin rebuilt from other text under the same path: never resumed (today's bug: the old model
    decoded with the new dictionary), never failing on a size mismatch; the old run is moved aside, not deleted."""
    workdir = copy_of(trained, tmp_path)
    if change == "same_vocabulary":
        binary = workdir / "bin" / "train.bos-eng.bos.bin"
        data = bytearray(binary.read_bytes())
        data[0] = 4 if data[0] != 4 else 5  # one token of the first sentence is another piece (uint16 ids)
        binary.write_bytes(bytes(data))
        changed = "train.bos-eng.bos.bin"
    else:  # one more piece in the (shared) dictionary
        for dictionary in (workdir / "bin").glob("dict.*.txt"):
            with open(dictionary, "a", encoding="utf-8") as handle:
                handle.write("▁newpiece 1\n")
        changed = ", ".join(f"dict.{lang}.txt" for lang in sorted([*LANGS, "eng"]))
    output = run_training(workdir, 2)
    assert f"the training data changed ({changed}): moving the old run/checkpoints to run/checkpoints.stale-" in (
        output
    )
    assert "begin training epoch 1\n" in output and "Loaded checkpoint" not in output
    [stale] = (workdir / "run").glob("checkpoints.stale-*")
    assert (stale / "checkpoint_last.pt").exists() and (stale / "logs" / "attempt-1.log").exists()
    assert history_epochs(workdir) == 2


def test_changed_arguments_or_a_lowered_max_epoch_start_a_new_run(trained, tmp_path, monkeypatch):
    workdir = copy_of(trained, tmp_path)
    monkeypatch.chdir(workdir)
    save_dir = SAVE_DIR
    wanted = identity.run_identity(runner_command(1)[runner_command(1).index("--") + 1 :])
    recorded = json.loads((save_dir / "run_args.json").read_text())
    assert identity.identity_change(recorded, wanted) is None  # max_epoch is compared on its own
    lowered = []
    identity.prepare_save_dir(save_dir, ["bin", "--max-epoch", "1", *recorded["args"][1:]], lowered.append)
    assert lowered and lowered[0].startswith("max_epoch 1 is below the 2 epochs this run has trained: moving")
    assert len(list(save_dir.parent.glob("checkpoints.stale-*"))) == 1
    other = {**wanted, "args": [*wanted["args"], "--dropout", "0.3", "--fp16-no-flatten-grads"]}
    assert identity.identity_change(recorded, other) == (
        "the training arguments changed (--dropout 0.1 → 0.3, --fp16-no-flatten-grads added)"
    )


HOLDER = """
import os, subprocess, sys
from pathlib import Path
from lssd.run.attempts import training_lock
with training_lock(Path(sys.argv[1])) as fd:
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    child = subprocess.Popen(sleeper, pass_fds=(fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(child.pid, flush=True)
os._exit(0)  # the runner is gone; its trainer (the child) still holds the lock
"""


def test_one_trainer_per_run_the_second_names_the_holder(tmp_path, capsys):
    save_dir = tmp_path / "run" / "checkpoints"
    holder = subprocess.run([sys.executable, "-c", HOLDER, str(save_dir)], capture_output=True, text=True, timeout=60)
    assert holder.returncode == 0, holder.stderr
    trainer = int(holder.stdout.split()[0])
    try:
        own = ["--save-dir", str(save_dir), "--best", "b.pt", "--history", "h.json", "--lock-wait", "0.5"]
        assert train_run.main([*own, "--", str(tmp_path / "bin")]) == 3
        error = capsys.readouterr().err
        assert "another trainer is training this run" in error and f"{trainer} (" in error, error
        assert not save_dir.exists()  # nothing touched
    finally:
        os.kill(trainer, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with attempts.training_lock(save_dir, wait_s=0):
                break
        except attempts.RunLocked:
            time.sleep(0.1)
    else:
        pytest.fail("the lock was not released when its last holder died")


def test_the_disk_arithmetic_matches_a_real_checkpoint(trained):
    """``lssd.run.disk`` (docs/paper.md's disk figures) counts a real fairseq model's parameters exactly, and a full
    checkpoint's size (fp32 weights and Adam's two moments) within the pickled settings' overhead."""
    import torch

    from lssd.run import disk

    workdir, _ = trained
    checkpoint = workdir / SAVE_DIR / "checkpoint_last.pt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    seen, parameters = set(), 0
    for name, tensor in state["model"].items():
        if name.endswith(".version") or "embed_positions" in name:
            continue  # bookkeeping buffers, not parameters
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())  # the tied output projection is the target embedding
            parameters += tensor.numel()
    model = TINY["model"]
    expected = disk.transformer_parameters(
        vocab=state["model"]["encoder.embed_tokens.weight"].shape[0],
        target_vocab=state["model"]["decoder.embed_tokens.weight"].shape[0],
        embed_dim=model["encoder_embed_dim"],
        ffn_dim=model["encoder_ffn_embed_dim"],
        encoder_layers=model["encoder_layers"],
        decoder_layers=model["decoder_layers"],
        share_decoder_input_output_embed=model["share_decoder_input_output_embed"],
    )
    assert parameters == expected
    estimate = disk.run_disk(parameters, pairs=3, fp16=False, mid_epoch_checkpoints=False, distils=False)
    assert estimate.checkpoint_bytes <= checkpoint.stat().st_size <= 1.1 * estimate.checkpoint_bytes


def test_a_run_of_an_earlier_recipe_or_an_unreadable_record_moves_aside(tmp_path, monkeypatch):
    """run_args.json as earlier versions wrote it (the full argument list; or a format-3 record without a recipe):
    trained with epochs of 1.5x the data and each pair's last batch dropped, so not resumed, whatever its
    arguments; moved aside, kept. A record of this recipe with a record that lacks the data resumes and records it.
    A truncated record: moved aside."""
    monkeypatch.chdir(tmp_path)
    Path("bin").mkdir()
    Path("bin/dict.fra.txt").write_text("le 3\n")
    args = ["bin", "--task", "lssd_multilingual_translation", "--seed", "3", "--save-dir", str(SAVE_DIR)]
    earlier = "this run was trained by an earlier version of the pipeline (epochs of up to 1.5x the data, each "
    earlier += "pair's last batch dropped; now: epochs of the data's size, every sampled sentence batched): moving"
    records = [
        [*args, "--user-dir", "/old/checkout/lssd", "--log-interval", "100", "--max-epoch", "5"],
        {"format": 3, "args": commands.identity_arguments(args), "data": identity.data_fingerprint("bin")},
    ]
    for number, record in enumerate(records, start=1):
        SAVE_DIR.mkdir(parents=True)
        (SAVE_DIR / "run_args.json").write_text(json.dumps(record))
        (SAVE_DIR / "checkpoint_last.pt").write_bytes(b"old")
        messages = []
        identity.prepare_save_dir(SAVE_DIR, [*args, "--user-dir", "/new/lssd", "--max-epoch", "9"], messages.append)
        assert messages[0].startswith(earlier), messages
        assert len(list(Path("run").glob("checkpoints.stale-*"))) == number
        assert json.loads((SAVE_DIR / "run_args.json").read_text())["recipe"] == identity.TRAINING_RECIPE
        shutil.rmtree(SAVE_DIR)
    SAVE_DIR.mkdir(parents=True)
    (SAVE_DIR / "run_args.json").write_text(json.dumps({"recipe": 2, "args": commands.identity_arguments(args)}))
    messages = []
    identity.prepare_save_dir(SAVE_DIR, args, messages.append)
    assert messages == [
        "resuming in run/checkpoints (same arguments; its data not recorded, from now on recorded; "
        "no epoch finished yet)"
    ]
    assert json.loads((SAVE_DIR / "run_args.json").read_text())["data"] == identity.data_fingerprint("bin")
    (SAVE_DIR / "run_args.json").write_text('{"format": 2, "ar')
    (SAVE_DIR / "checkpoint_last.pt").write_bytes(b"new")
    messages = []
    identity.prepare_save_dir(SAVE_DIR, args, messages.append)
    assert messages[0].startswith("run/checkpoints/run_args.json is unreadable: moving the old run/checkpoints to")
    newest = max(Path("run").glob("checkpoints.stale-*"), key=lambda path: path.stat().st_mtime_ns)
    assert (newest / "checkpoint_last.pt").read_bytes() == b"new" and not (SAVE_DIR / "checkpoint_last.pt").exists()


def test_a_single_teacher_run_of_recipe_2_moves_aside_and_other_runs_of_recipe_2_resume(tmp_path, monkeypatch):
    """The single teacher's rule changed after recipe 2 (a tie took the newer epoch; now a tie keeps the teacher, as
    in the original): such a run is not resumed, but moved aside and kept; a run without --lssd-single-teacher of
    recipe 2 is still the same run and resumes."""
    monkeypatch.chdir(tmp_path)
    Path("bin").mkdir()
    Path("bin/dict.fra.txt").write_text("le 3\n")
    args = ["bin", "--task", "lssd_multilingual_translation", "--seed", "3", "--save-dir", str(SAVE_DIR)]
    single = [*args, "--lssd-single-teacher"]
    for run_args, resumes in ((single, False), (args, True)):
        SAVE_DIR.mkdir(parents=True)
        record = {"format": identity.IDENTITY_FORMAT, "recipe": 2, "args": commands.identity_arguments(run_args)}
        (SAVE_DIR / "run_args.json").write_text(json.dumps({**record, "data": identity.data_fingerprint("bin")}))
        (SAVE_DIR / "checkpoint_last.pt").write_bytes(b"old")
        messages = []
        identity.prepare_save_dir(SAVE_DIR, run_args, messages.append)
        recorded = json.loads((SAVE_DIR / "run_args.json").read_text())
        if resumes:
            assert messages[0].startswith("resuming in run/checkpoints (same arguments and data"), messages
            assert (SAVE_DIR / "checkpoint_last.pt").read_bytes() == b"old" and recorded["recipe"] == 2
        else:
            assert messages[0].startswith(
                "this run was trained by an earlier version of the pipeline (epochs of the data's size, every sampled "
                "sentence batched; now: epochs of the data's size, every sampled sentence batched, the single "
                "teacher replaced only when the overall dev loss beats every earlier one): moving"
            ), messages
            assert not (SAVE_DIR / "checkpoint_last.pt").exists() and recorded["recipe"] == 3
            assert len(list(Path("run").glob("checkpoints.stale-*"))) == 1
        shutil.rmtree(SAVE_DIR)


@pytest.fixture(scope="module")
def lssd_trained(data_bin, tmp_path_factory):
    """A finished two-epoch LSSD run with its epoch checkpoints kept: the teacher of epoch 1 in its own file."""
    workdir, output = trained_run(data_bin, tmp_path_factory, "lssd", "--keep-epoch-checkpoints", method=LSSD)
    assert (workdir / SAVE_DIR / "teachers" / "teacher_epoch1.pt").exists()
    return workdir, output


def test_a_lost_teacher_is_rebuilt_from_its_epoch_checkpoint(lssd_trained, tmp_path):
    """A deleted teacher file (and, in a second copy, a truncated one): rebuilt from checkpoint1.pt, the weights it
    was copied from; the resumed run then trains exactly as the one whose teacher was never lost."""
    reference = copy_of(lssd_trained, tmp_path, "reference")
    run_training(reference, 3, "--keep-epoch-checkpoints", method=LSSD)
    expected = json.loads((reference / "run" / "history.json").read_text())
    for damage in ("deleted", "truncated"):
        workdir = copy_of(lssd_trained, tmp_path, damage)
        teacher = workdir / SAVE_DIR / "teachers" / "teacher_epoch1.pt"
        if damage == "deleted":
            teacher.unlink()
            state = "missing"
        else:
            with open(teacher, "r+b") as handle:
                handle.truncate(teacher.stat().st_size // 3)
            state = "unreadable (torn or truncated)"
        output = run_training(workdir, 3, "--keep-epoch-checkpoints", method=LSSD)
        assert (
            f"the LSSD teacher of epoch 1 (run/checkpoints/teachers/teacher_epoch1.pt) was {state}: rebuilt from "
            "checkpoint1.pt" in output
        ), output[-3000:]
        assert json.loads((workdir / "run" / "history.json").read_text()) == expected, damage


def test_a_teacher_that_cannot_be_rebuilt_stops_before_fairseq_and_keeps_the_outputs(lssd_trained, tmp_path):
    workdir = copy_of(lssd_trained, tmp_path)
    save_dir = workdir / SAVE_DIR
    teacher = save_dir / "teachers" / "teacher_epoch1.pt"
    with open(teacher, "r+b") as handle:
        handle.truncate(100)
    (save_dir / "checkpoint1.pt").unlink()
    published = {name: (workdir / "run" / name).read_bytes() for name in ("history.json", "checkpoint_best.pt")}
    output = run_training(workdir, 3, method=LSSD, expect=2)
    assert (
        "error: the LSSD teacher of epoch 1 (run/checkpoints/teachers/teacher_epoch1.pt) is unreadable (torn or "
        "truncated), and no readable checkpoint1.pt is left to rebuild it from: this run cannot continue as it "
        "trained. To train it again from scratch, move the run aside (mv run/checkpoints run/checkpoints.broken)"
    ) in output
    assert "fairseq_cli.train" not in output and "Traceback" not in output
    assert {name: (workdir / "run" / name).read_bytes() for name in published} == published
    assert (save_dir / "checkpoint_last.pt").exists() and not list((workdir / "run").glob("checkpoints.stale-*"))


# A training step that fails the way fp16 training diverges ("Minimum loss scale reached"), injected from outside
# the project: a sitecustomize on PYTHONPATH that wraps fairseq's own FairseqTask.train_step.
FAILING_STEP = """
import os

if os.environ.get("LSSD_TEST_FAIL_AT_UPDATE"):
    from fairseq.tasks import fairseq_task

    _original, _at = fairseq_task.FairseqTask.train_step, int(os.environ["LSSD_TEST_FAIL_AT_UPDATE"])

    def _train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if update_num >= _at:
            raise FloatingPointError("Minimum loss scale reached (0.0001). (injected by the test)")
        return _original(self, sample, model, criterion, optimizer, update_num, ignore_grad)

    fairseq_task.FairseqTask.train_step = _train_step
"""


def test_a_failed_training_step_keeps_the_validated_pair_best_and_the_rerun_finishes(data_bin, tmp_path):
    """fairseq writes crash.pt through the task's state when a training step fails: the pair-best file of the last
    (mid-epoch) validation keeps the weights that validation measured, not those of the updates since; the log names
    crash.pt; the rerun resumes from checkpoint_last.pt, finishes, and deletes it."""
    import torch

    workdir = tmp_path / "failing"
    workdir.mkdir()
    shutil.copytree(data_bin[0] / "bin", workdir / "bin")
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(FAILING_STEP)
    paths = [str(tmp_path / "inject"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    training = {"save_interval_updates": 3, "log_interval": 1}  # (22 updates an epoch)
    command = runner_command(2, "--log-interval", "1", training=training)
    failed = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, env={**env, "LSSD_TEST_FAIL_AT_UPDATE": "4"}
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output[-3000:]
    assert "Minimum loss scale reached" in output and "begin training epoch 2" not in output, output[-3000:]
    save_dir = workdir / SAVE_DIR
    crash = save_dir / "crash.pt"
    assert crash.exists() and "fairseq saved the training state at the failure as run/checkpoints/crash.pt" in output
    last = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert last["optimizer_history"][-1]["num_updates"] == 3  # the mid-epoch save of its validation
    pair_best = torch.load(save_dir / "teachers" / "teacher_epoch1.pt", map_location="cpu")["model"]
    crashed = torch.load(crash, map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(pair_best[name], last["model"][name]) for name in last["model"])
    assert not all(torch.equal(pair_best[name], crashed[name]) for name in crashed)  # (update 4 since)

    rerun = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-3000:]
    assert "resuming in run/checkpoints" in output and f"deleted {SAVE_DIR / 'crash.pt'}" in output
    assert not crash.exists() and history_epochs(workdir) == 2
