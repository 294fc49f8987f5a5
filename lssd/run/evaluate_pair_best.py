"""Translate every pair of one run with that pair's own best checkpoint, scored as lssd.run.evaluate scores.

A multilingual model's ``checkpoint_best.pt`` is the epoch of the lowest *overall* dev loss; a pair that over-fits
early (a low-resource one) was better several epochs before. Evaluating each pair with the epoch of its own lowest
dev loss (history.json, lssd.method.history.pair_best_epochs; the earliest on ties) gives the "k models" upper
bound the LSSD paper compares with: how much of that gap LSSD's single model closes (lssd.report.gap).

The training keeps each pair's best checkpoint as a model-only file, ``<save-dir>/teachers/teacher_epoch<N>.pt``
(lssd.method.teacher_files.TeacherFiles' format, shared by the pairs of that epoch). The model of ``--path`` (the run's
``checkpoint_best.pt``) is loaded once; per epoch its weights are replaced by the file's and that epoch's pairs
translated exactly as lssd.run.evaluate does. A file holding exactly ``checkpoint_best.pt``'s weights (same keys,
dtypes and values) would give the same translation: those pairs' files are copied from the run's one-model
evaluation (``--one-model``) instead.

Writes into the output directory, for every planned (pair, split), lssd.run.evaluate's three files, the JSON with
``"pair_best": {"epoch", "checkpoint", "models" (k, distinct best epochs over the run's pairs), "reused_one_model"}``;
``pair_best.json`` ({"epochs": {pair: N}, "models": k}); and ``checksums.sha256`` last.

Usage::

    python -m lssd.run.evaluate_pair_best --output-dir DIR --history RUN/history.json --checkpoints RUN/checkpoints
        --one-model EVAL_DIR --plan JSON --meta JSON --gpus N -- <lssd.run.evaluate's fairseq-generate arguments>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lssd import layout
from lssd.io import copy_file, write_json
from lssd.method.history import pair_best_epochs
from lssd.method.teachers import teacher_path
from lssd.run import evaluated
from lssd.run.cli import split_passthrough
from lssd.run.evaluate import evaluate_item, evaluation_parser, planned_files, run_on_job_gpus


class PairBestError(Exception):
    """What makes a per-pair best evaluation impossible, said with the file concerned."""


def model_path(generate_args: list[str]) -> Path:
    """The ``--path`` of the fairseq-generate arguments: the run's ``checkpoint_best.pt`` (one model)."""
    values = [arg.split("=", 1)[1] for arg in generate_args if arg.startswith("--path=")]
    values += [generate_args[i + 1] for i, arg in enumerate(generate_args[:-1]) if arg == "--path"]
    if len(values) != 1 or ":" in values[0]:
        raise PairBestError(f"the fairseq-generate arguments need one --path of one checkpoint, not {values}")
    return Path(values[0])


def best_epochs(history_path: Path, plan: list[dict]) -> dict[str, int]:
    """Every pair's best epoch in the run's history; each planned pair must have one."""
    try:
        epochs = pair_best_epochs(json.loads(history_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise PairBestError(f"{history_path}: not a readable per-pair history ({error})") from error
    missing = sorted({item["pair"] for item in plan} - set(epochs))
    if missing:
        raise PairBestError(f"{history_path} has no dev loss of {', '.join(missing)}: no best epoch to evaluate")
    return epochs


def epoch_files(checkpoints: Path, epochs: set[int]) -> dict[int, Path]:
    """The model-only file of each epoch; all of them there before anything is translated."""
    files = {epoch: teacher_path(checkpoints, epoch) for epoch in sorted(epochs)}
    missing = [path for path in files.values() if not path.is_file()]
    if missing:
        raise PairBestError(
            f"run {checkpoints.parent}: {', '.join(map(str, missing))} missing (the best checkpoint of a pair). "
            "The run was trained before per-pair best checkpoints were kept, or with evaluation.per_pair_best "
            "off: retrain it, or set evaluation.per_pair_best: false"
        )
    return files


def model_weights(path: Path, full_checkpoint: bool) -> dict:
    """The ``model`` state dict of a fairseq checkpoint (``full_checkpoint``) or of a model-only file."""
    import torch

    try:
        if full_checkpoint:
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        return dict(state["model"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise PairBestError(f"{path}: not a readable checkpoint with model weights ({error})") from error


def same_weights(first: dict, second: dict) -> bool:
    """The same tensors exactly: same names, dtypes, shapes and values."""
    import torch

    return first.keys() == second.keys() and all(
        first[name].dtype == second[name].dtype and torch.equal(first[name], second[name]) for name in first
    )


def reuse_one_model(one_model: Path, output_dir: Path, item: dict, meta: dict, pair_best: dict) -> dict:
    """The one-model evaluation's files of a pair whose best checkpoint is checkpoint_best.pt's weights."""
    names = evaluated.files_of(item["pair"], item["split"])
    damage = evaluated.damage(one_model, names)
    if damage:
        raise PairBestError(f"cannot reuse the one-model evaluation of {item['pair']} {item['split']}: {damage}")
    stem = output_dir / f"{item['pair']}.{item['split']}"
    for extension in ("hyp", "spm_ref"):
        copy_file(one_model / f"{item['pair']}.{item['split']}.{extension}", f"{stem}.{extension}")
    result = json.loads((one_model / f"{item['pair']}.{item['split']}.json").read_text(encoding="utf-8"))
    result.update(meta)
    result.update({"spm_reference": f"{stem}.spm_ref", "hypotheses": f"{stem}.hyp", "pair_best": pair_best})
    write_json(f"{stem}.json", result)
    print(f"{item['pair']} {item['split']}: the one-model evaluation's (the same weights)", flush=True)
    return result


def evaluate_pair_best(options, plan: list[dict], meta: dict, generate_args: list[str]) -> list[dict]:
    """Every planned item translated (or reused) with its pair's best checkpoint; the manifest and checksums."""
    from lssd.run.generation import Generator

    epochs = best_epochs(options.history, plan)
    models = len(set(epochs.values()))
    files = epoch_files(options.checkpoints, {epochs[item["pair"]] for item in plan})
    best_weights = model_weights(model_path(generate_args), full_checkpoint=True)
    generator = Generator(generate_args)
    results = {}
    for epoch, path in files.items():
        weights = model_weights(path, full_checkpoint=False)
        reused = same_weights(weights, best_weights)
        if not reused:
            generator.use_weights(weights)
        print(f"epoch {epoch} ({path}): {'the weights of checkpoint_best.pt' if reused else 'translating'}", flush=True)
        pair_best = {"epoch": epoch, "checkpoint": str(path), "models": models, "reused_one_model": reused}
        for index, item in enumerate(plan):
            if epochs[item["pair"]] != epoch:
                continue
            if reused:
                results[index] = reuse_one_model(options.one_model, options.output_dir, item, meta, pair_best)
            else:
                results[index] = evaluate_item(generator, item, meta, options.output_dir, {"pair_best": pair_best})
    write_json(options.output_dir / layout.PAIR_BEST_MANIFEST, {"epochs": epochs, "models": models})
    # last: what the workflow checks the directory against
    evaluated.write_checksums(options.output_dir, [*planned_files(plan), layout.PAIR_BEST_MANIFEST])
    return [results[index] for index in range(len(plan))]


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.run.evaluate_pair_best", "fairseq-generate")
    if parts is None:
        return 2
    own_args, generate_args = parts
    parser = evaluation_parser("translate and score every pair of one run with that pair's own best checkpoint")
    parser.add_argument("--history", required=True, type=Path, help="the run's history.json (per-pair dev losses)")
    parser.add_argument("--checkpoints", required=True, type=Path, help="the run's checkpoint directory")
    parser.add_argument("--one-model", required=True, type=Path, help="the run's evaluation (checkpoint_best.pt)")
    options = parser.parse_args(own_args)
    plan, meta = json.loads(options.plan), json.loads(options.meta)
    try:
        return run_on_job_gpus(options, lambda: evaluate_pair_best(options, plan, meta, generate_args))
    except PairBestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
