"""Each pair translated with its own best checkpoint (lssd.run.evaluate_pair_best) on a tiny trained run: a pair's
files equal a direct evaluation of that checkpoint, a pair whose best checkpoint is checkpoint_best.pt reuses the
one-model files, and a missing best checkpoint is an error that says what to do."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import lssd.plugin.task  # noqa: F401  (registers the task in this process, allows loading fairseq checkpoints)
from lssd import layout
from lssd.method.history import best_epoch, pair_best_epochs
from lssd.method.teachers import TEACHERS_DIRECTORY, teacher_file_name
from lssd.run import commands, evaluate, evaluate_pair_best, evaluated
from lssd.run.generation import Generator
from tests.helpers import train

pytestmark = pytest.mark.slow

META = {"dataset": "tiny", "direction": "o2m", "method": "baseline", "seed": 3}
# where the files of one pair and split point to their own directory
OWN_PATHS = ("spm_reference", "hypotheses")


@dataclass
class PairBestRun:
    root: Path
    save_dir: Path
    plan: list
    epochs: dict  # pair: its best epoch
    best: int  # the epoch of checkpoint_best.pt (lowest overall dev loss)
    one_model: Path
    pair_best: Path
    translated: list  # the pairs the pair-best evaluation translated


def generate_args(root, model, pairs):
    args = commands.generate_arguments(
        data_bin=str(root / "bin"), model=str(model), pairs=pairs, direction="o2m", beam=2, lenpen=1.0,
        batch_size=16, max_len_b=16,
    )  # fmt: skip
    # max_len_b: a barely trained model seldom ends a sentence early; 16 pieces tell its epochs apart
    return [*args, "--cpu"]


def plan_of(root, pairs):
    return [
        {
            "pair": pair,
            "split": "test",
            "reference": str(root / "data" / f"test.{pair.split('-')[1]}-eng.{pair.split('-')[1]}"),
            "spm_model": str(root / "models" / f"spm.{pair.split('-')[1]}.model"),
        }
        for pair in pairs
    ]


def run_evaluate(output_dir, plan, args):
    own = ["--output-dir", str(output_dir), "--plan", json.dumps(plan), "--meta", json.dumps(META), "--gpus", "0"]
    assert evaluate.main([*own, "--", *args]) == 0


def run_pair_best(run, output_dir, checkpoints, history=None):
    own = [
        *("--output-dir", str(output_dir), "--history", str(history or run.save_dir / "history.json")),
        *("--checkpoints", str(checkpoints), "--one-model", str(run.one_model), "--plan", json.dumps(run.plan)),
        *("--meta", json.dumps(META), "--gpus", "0"),
    ]
    pairs = [item["pair"] for item in run.plan]
    return evaluate_pair_best.main([*own, "--", *generate_args(run.root, run.save_dir / "checkpoint_best.pt", pairs)])


@pytest.fixture(scope="module")
def run(data_bin, tmp_path_factory):
    """A run whose pairs have different best epochs (lr 0.01, 6 epochs: mkd at 4, bos at 5, fra and the overall loss
    at 6), evaluated with checkpoint_best.pt and with each pair's best checkpoint (model-only files made from fairseq's
    epoch checkpoints, as the training keeps them)."""
    root, _ = data_bin
    save_dir = root / "o2m-pair-best"
    pairs, _ = train(root, "o2m", 6, save_dir, training={"lr": 0.01})
    history = json.loads((save_dir / "history.json").read_text())
    epochs, best = pair_best_epochs(history), best_epoch(history["all"])
    assert len(set(epochs.values())) >= 2 and best in epochs.values() and set(epochs) == set(pairs), history
    for epoch in set(epochs.values()):
        state = torch.load(save_dir / f"checkpoint{epoch}.pt", map_location="cpu", weights_only=False)
        (save_dir / TEACHERS_DIRECTORY).mkdir(exist_ok=True)
        torch.save({"model": state["model"], "epoch": epoch}, save_dir / TEACHERS_DIRECTORY / teacher_file_name(epoch))
    output = tmp_path_factory.mktemp("pair-best")
    run = PairBestRun(root, save_dir, plan_of(root, pairs), epochs, best, output / "one", output / "best", [])
    run_evaluate(run.one_model, run.plan, generate_args(root, save_dir / "checkpoint_best.pt", pairs))
    translate = Generator.translate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            Generator, "translate", lambda self, request: run.translated.append(request) or translate(self, request)
        )
        assert run_pair_best(run, run.pair_best, save_dir) == 0
    run.translated = [f"{request.source}-{request.target}" for request in run.translated]
    return run


def files(directory, item):
    stem = directory / f"{item['pair']}.{item['split']}"
    result = json.loads(Path(f"{stem}.json").read_text())
    return result, Path(f"{stem}.hyp").read_bytes(), Path(f"{stem}.spm_ref").read_bytes()


def without_own_paths(result):
    return {key: value for key, value in result.items() if key not in (*OWN_PATHS, "pair_best")}


def test_a_pair_translated_with_its_best_checkpoint_scores_as_that_checkpoint_evaluated_directly(run, tmp_path):
    others = [item for item in run.plan if run.epochs[item["pair"]] != run.best]
    assert others and sorted(run.translated) == sorted(item["pair"] for item in others)
    for item in others:
        epoch = run.epochs[item["pair"]]
        teacher = run.save_dir / TEACHERS_DIRECTORY / teacher_file_name(epoch)
        # a full checkpoint: checkpoint_best.pt's config and state, the best checkpoint's weights
        full = torch.load(run.save_dir / "checkpoint_best.pt", map_location="cpu", weights_only=False)
        full["model"] = torch.load(teacher, map_location="cpu", weights_only=True)["model"]
        torch.save(full, tmp_path / f"epoch{epoch}.pt")
        direct = tmp_path / f"direct{epoch}"
        run_evaluate(direct, [item], generate_args(run.root, tmp_path / f"epoch{epoch}.pt", [item["pair"]]))
        result, hypotheses, references = files(run.pair_best, item)
        direct_result, direct_hypotheses, direct_references = files(direct, item)
        assert (hypotheses, references) == (direct_hypotheses, direct_references)
        assert without_own_paths(result) == without_own_paths(direct_result)
        assert result["hypotheses"] == str(run.pair_best / f"{item['pair']}.test.hyp")
        models = len(set(run.epochs.values()))
        assert result["pair_best"] == {"epoch": epoch, "checkpoint": str(teacher), "models": models,
                                       "reused_one_model": False}  # fmt: skip
        # another model than checkpoint_best.pt's: the comparison means something
        assert hypotheses != files(run.one_model, item)[1]


def test_a_pair_whose_best_checkpoint_is_checkpoint_best_reuses_the_one_model_files(run):
    reused = [item for item in run.plan if run.epochs[item["pair"]] == run.best]
    assert reused and not {item["pair"] for item in reused} & set(run.translated)
    for item in reused:
        result, hypotheses, references = files(run.pair_best, item)
        one_result, one_hypotheses, one_references = files(run.one_model, item)
        assert (hypotheses, references) == (one_hypotheses, one_references)
        assert without_own_paths(result) == without_own_paths(one_result)
        assert result["spm_reference"] == str(run.pair_best / f"{item['pair']}.test.spm_ref")
        assert result["pair_best"]["reused_one_model"] and result["pair_best"]["epoch"] == run.best


def test_the_manifest_and_checksums_cover_every_pair(run):
    manifest = json.loads((run.pair_best / layout.PAIR_BEST_MANIFEST).read_text())
    assert manifest == {"epochs": run.epochs, "models": len(set(run.epochs.values()))}
    names = [*evaluate.planned_files(run.plan), layout.PAIR_BEST_MANIFEST]
    assert sorted(evaluated.read_checksums(run.pair_best / evaluated.CHECKSUMS)) == sorted(names)
    assert evaluated.damage(run.pair_best, names) is None


def test_a_missing_best_checkpoint_names_the_run_the_file_and_the_remedy(run, tmp_path, capsys):
    checkpoints = tmp_path / "seed1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert run_pair_best(run, tmp_path / "out", checkpoints) == 2
    error = capsys.readouterr().err
    missing = checkpoints / TEACHERS_DIRECTORY / teacher_file_name(min(run.epochs.values()))
    assert f"run {checkpoints.parent}" in error and str(missing) in error
    assert "retrain it, or set evaluation.per_pair_best: false" in error
    assert not (tmp_path / "out" / evaluated.CHECKSUMS).exists()


def test_a_pair_without_a_dev_loss_is_an_error(run, tmp_path, capsys):
    history = json.loads((run.save_dir / "history.json").read_text())
    history[run.plan[0]["pair"]] = [None] * len(history["all"])
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert run_pair_best(run, tmp_path / "out", run.save_dir, history=tmp_path / "history.json") == 2
    assert f"has no dev loss of {run.plan[0]['pair']}" in capsys.readouterr().err
