"""The disk a run needs, from its model size: ``python -m lssd.run.disk --configfile config/paper.yaml``.

A run's save directory holds, with the default retention (``run.keep_epoch_checkpoints: false``):
``checkpoint_last.pt``, fairseq's ``checkpoint_best.pt`` and, while it trains, the newest epoch checkpoint (and the
newest mid-epoch one with ``save_interval_updates``), each a full checkpoint (weights in the training precision
plus Adam's two fp32 moments), one more full checkpoint in flight while fairseq writes the next one, the LSSD
teacher files (weights only, in the teacher precision; at most one per pair) and the published
``checkpoint_best.pt`` next to it. ``keep_epoch_checkpoints: true`` adds one full checkpoint per epoch.

With ``evaluation.per_pair_best`` (the default) every run, the baseline too, keeps each pair's best checkpoint,
weights only (an LSSD run's teachers are these files): at most one per pair once finished, and twice that while
it trains (the files of the previous checkpoint's bests stay until the next save, for a resume from it).

The parameter count is that of fairseq's transformer with sinusoidal positions (``transformer_parameters``; a
test checks it against a real fairseq model).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from lssd import config_files
from lssd.config import ConfigError, training_settings
from lssd.data.binarize import padded_dictionary_size
from lssd.layout import run_dir
from lssd.method.flags import is_lssd_method
from lssd.run.disk_space import existing, free_bytes, gigabytes, run_bytes

# fairseq's architecture defaults for the presets the configs use (fairseq/models/transformer)
ARCHITECTURES = {
    "transformer": {"embed_dim": 512, "ffn_dim": 2048, "layers": 6},
    "transformer_iwslt_de_en": {"embed_dim": 512, "ffn_dim": 1024, "layers": 6},
    "transformer_wmt_en_de": {"embed_dim": 512, "ffn_dim": 2048, "layers": 6},
}
ADAM_BYTES = 8  # exp_avg and exp_avg_sq, fp32, for every parameter


def transformer_parameters(
    *,
    vocab: int,
    embed_dim: int,
    ffn_dim: int,
    encoder_layers: int,
    decoder_layers: int,
    layernorm_embedding: bool = False,
    normalize_before: bool = False,
    share_decoder_input_output_embed: bool = True,
    target_vocab: int | None = None,
) -> int:
    """Parameters of fairseq's encoder-decoder transformer: separate source and target embeddings (``vocab`` and
    ``target_vocab``, default the same), sinusoidal positions."""
    d = embed_dim
    attention = 4 * (d * d + d)  # q, k, v, out projections with biases
    feed_forward = d * ffn_dim + ffn_dim + ffn_dim * d + d
    layer_norm = 2 * d
    encoder_layer = attention + feed_forward + 2 * layer_norm
    decoder_layer = 2 * attention + feed_forward + 3 * layer_norm
    target_vocab = vocab if target_vocab is None else target_vocab
    embeddings = (vocab + target_vocab) * d + (0 if share_decoder_input_output_embed else target_vocab * d)
    extra = 2 * layer_norm * (int(layernorm_embedding) + int(normalize_before))  # per side: embedding / final LN
    return embeddings + encoder_layers * encoder_layer + decoder_layers * decoder_layer + extra


@dataclass
class RunDisk:
    parameters: int
    checkpoint_bytes: int
    teacher_bytes: int
    training_bytes: int  # the most the save directory and the published best take while training
    finished_bytes: int  # what a finished run keeps
    per_epoch_bytes: int  # what keep_epoch_checkpoints adds per epoch


def run_disk(
    parameters: int, *, pairs: int, fp16: bool, mid_epoch_checkpoints: bool, distils: bool, pair_best: bool = False
) -> RunDisk:
    weight_bytes = 2 if fp16 else 4
    checkpoint = parameters * (weight_bytes + ADAM_BYTES)
    teacher = parameters * weight_bytes  # teacher precision "auto": fp16 on a GPU, fp32 on a CPU
    teachers = pairs * teacher if distils or pair_best else 0
    # last + fairseq's best + published best, the newest epoch checkpoint, the one being written; the model-only
    # files of each pair's best checkpoint (with the previous save's while training)
    training = (5 + int(mid_epoch_checkpoints)) * checkpoint + (2 if pair_best else 1) * teachers
    finished = 3 * checkpoint + teachers
    return RunDisk(parameters, checkpoint, teacher, training, finished, checkpoint)


def preset_model(training: dict, vocab: int) -> int:
    model = training.get("model") or {}
    arch = ARCHITECTURES[training["arch"]]
    return transformer_parameters(
        vocab=vocab,
        embed_dim=model.get("encoder_embed_dim", arch["embed_dim"]),
        ffn_dim=model.get("encoder_ffn_embed_dim", arch["ffn_dim"]),
        encoder_layers=model.get("encoder_layers", arch["layers"]),
        decoder_layers=model.get("decoder_layers", arch["layers"]),
        layernorm_embedding=bool(model.get("layernorm_embedding")),
        normalize_before=bool(model.get("encoder_normalize_before")),
        share_decoder_input_output_embed=bool(model.get("share_decoder_input_output_embed", False)),
    )


def dataset_vocabulary(spec: dict) -> int:
    """The size of the data-bin's shared dictionary at most: every SentencePiece model's pieces and fairseq's four
    specials, padded to binarize's multiple, plus the language tokens."""
    languages = [lang for lang in spec["languages"] if lang != spec["pivot"]]
    options = spec["spm"]
    if options["recipe"] == "joint":
        pieces = options["vocab_size"]
    else:
        pieces = len(languages) * options["vocab_size"] + options.get("pivot_vocab_size", options["vocab_size"])
    return padded_dictionary_size(pieces) + len(languages) + 1


def training_disk(config: dict, dataset: str, direction: str, method: str, fp16: bool) -> RunDisk:
    """The disk one training of the config needs (its preset with the direction's and the method's overrides).
    KeyError for an architecture this module has no sizes for."""
    spec = config["datasets"][dataset]
    training = training_settings(config, dataset, direction, method)
    return run_disk(
        preset_model(training, dataset_vocabulary(spec)),
        pairs=len([lang for lang in spec["languages"] if lang != spec["pivot"]]),
        fp16=fp16,
        mid_epoch_checkpoints=bool(training.get("save_interval_updates")),
        distils=is_lssd_method(config["methods"][method]),
        pair_best=bool(config["evaluation"].get("per_pair_best", True)),
    )


def planned_disk(config: dict, trainings: list[tuple[str, str, str, str]], free: int) -> str:
    """What the trainings about to run (dataset, direction, method, seed) need of the disk beyond what their run
    directories hold already, against ``free`` on the file system of the first one; a warning when it is more."""
    run = config["run"]
    fp16 = bool(run.get("fp16")) and int(run.get("gpus_per_training") or 0) > 0
    needed = finished = 0
    unknown = set()
    for dataset, direction, method, seed in trainings:
        try:
            need = training_disk(config, dataset, direction, method, fp16)
        except KeyError:
            unknown.add(training_settings(config, dataset, direction, method)["arch"])
            continue
        needed += max(0, need.training_bytes - run_bytes(Path(run_dir(dataset, direction, method, seed))))
        finished += need.finished_bytes
    message = (
        f"lssd: the {len(trainings)} trainings to run need up to {gigabytes(needed)} more disk while they train, if "
        f"all train at once ({gigabytes(finished)} once finished: python -m lssd.run.disk); {gigabytes(free)} free "
        f"on the file system of {existing(Path(run_dir(*trainings[0])).absolute())}"
    )
    if unknown:
        message += f" (not counted: the trainings of architecture {', '.join(sorted(unknown))}, of unknown size)"
    if needed > free:
        message += (
            "\nlssd: warning: less free than that. A training that finds the disk full stops with 'error: the disk "
            "is full' and resumes once there is space (docs/troubleshooting.md)"
        )
    return message


def on_start(workflow) -> None:
    """Snakemake's start hook: the disk the trainings to run need, before any job (nothing said when none runs)."""
    trainings = sorted(
        tuple(job.wildcards_dict[name] for name in ("dataset", "direction", "method", "seed"))
        for job in workflow.dag.needrun_jobs()
        if job.rule.name == "train"
    )
    if not trainings:
        return
    try:
        message = planned_disk(workflow.config, trainings, free_bytes(Path(run_dir(*trainings[0]))))
    except OSError as error:  # an unreadable run directory, say: a figure to show, not a reason to stop the workflow
        message = f"lssd: the disk the trainings to run need was not estimated ({error})"
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="disk per run and per config, from the model sizes")
    parser.add_argument(
        "--configfile", required=True, nargs="+", type=Path, help="merged over config/config.yaml, as Snakemake does"
    )
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True, help="GPU training in fp16")
    args = parser.parse_args(argv)
    try:
        config = config_files.load_config([config_files.DEMO, *args.configfile])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run = config["run"]
    print("| dataset | parameters (max) | checkpoint | per run, training | per run, finished | + per kept epoch |")
    print("|---|---|---|---|---|---|")
    total_training = total_finished = 0
    for name in run["datasets"]:
        spec = config["datasets"][name]
        training = config["trainings"][spec["training"]]
        parameters = preset_model(training, dataset_vocabulary(spec))
        pairs = len([lang for lang in spec["languages"] if lang != spec["pivot"]])
        common = {
            "pairs": pairs,
            "fp16": args.fp16,
            "mid_epoch_checkpoints": bool(training.get("save_interval_updates")),
            "pair_best": bool(config["evaluation"].get("per_pair_best", True)),
        }
        seeds = len(run.get("seeds", [1]))
        for direction in run.get("directions", ["m2o", "o2m"]):
            for method in run["methods"]:
                disk = training_disk(config, name, direction, method, args.fp16)
                total_training += seeds * disk.training_bytes
                total_finished += seeds * disk.finished_bytes
        disk = run_disk(parameters, **common, distils=True)  # the row: an LSSD run (its teachers included)
        print(
            f"| {name} | {parameters / 1e6:.1f}M | {gigabytes(disk.checkpoint_bytes)} "
            f"| {gigabytes(disk.training_bytes)} | {gigabytes(disk.finished_bytes)} "
            f"| {gigabytes(disk.per_epoch_bytes)} |"
        )
    print(
        f"\nall {len(run['datasets'])} datasets x {len(run['methods'])} methods: at most "
        f"{gigabytes(total_training)} if every run trained at once, {gigabytes(total_finished)} when finished"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
