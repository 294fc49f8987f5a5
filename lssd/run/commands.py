"""Command lines for fairseq, assembled from the config (pure functions; the rules call them).

The same settings reach training and generation: the task, the language list, the pairs and the language-token
scheme of a direction (``m2o``: ``--encoder-langtok src``; ``o2m``: ``--encoder-langtok tgt``; both
``--decoder-langtok``), so a checkpoint is always decoded the way it was trained.
"""

from __future__ import annotations

from pathlib import Path

TASK = "lssd_multilingual_translation"
# the plugin directory fairseq loads (see its __init__: registration whatever was imported before)
USER_DIR = str(Path(__file__).resolve().parents[1] / "plugin" / "user_dir" / "lssd_fairseq_plugin")
ENCODER_LANGTOK = {"m2o": "src", "o2m": "tgt"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def plugin_arguments() -> list[str]:
    """``--user-dir`` of this checkout's plugin. The runners add it when they start fairseq, so that no rule's
    params hold an absolute path: a moved or cloned checkout then replans nothing."""
    return ["--user-dir", USER_DIR]


def task_arguments(data_bin: str, pairs: list[str], direction: str) -> list[str]:
    return [
        str(data_bin),
        "--task", TASK,
        "--lang-dict", str(Path(data_bin) / "lang_list.txt"),
        "--lang-pairs", ",".join(pairs),
        "--encoder-langtok", ENCODER_LANGTOK[direction],
        "--decoder-langtok",
    ]  # fmt: skip


def model_arguments(model: dict) -> list[str]:
    """Architecture overrides: ``{encoder_layers: 2, share_decoder_input_output_embed: true}`` → flags."""
    args: list[str] = []
    for key, value in model.items():
        if value is True:
            args.append(flag(key))
        elif value is False or value is None:
            continue
        else:
            args += [flag(key), str(value)]
    return args


def train_arguments(
    *,
    data_bin: str,
    save_dir: str,
    pairs: list[str],
    direction: str,
    training: dict,
    method: dict,
    seed: int,
) -> list[str]:
    """The ``fairseq-train`` arguments that define one run's model (and how long it trains: ``--max-epoch``).

    Without the device flags and :func:`runtime_train_arguments` (logging, checkpoint retention), which the
    runner adds: those cannot change the trained model, so they are neither a rerun trigger of the training rule
    nor part of a run's identity (``lssd.run.train_run``). ``method`` is a method's settings for this direction
    (``lssd.config.method_settings``): the criterion, its flags (``criterion_args``) and the task's LSSD flags
    (``task_args``).
    """
    args = task_arguments(data_bin, pairs, direction)
    args += ["--pure-batch"] if training.get("pure_batch", True) else []
    args += [
        "--sampling-method", "temperature",
        "--sampling-temperature", str(training["sampling_temperature"]),
        "--arch", training["arch"],
        *model_arguments(training.get("model", {})),
        "--dropout", str(training["dropout"]),
        "--attention-dropout", str(training["attention_dropout"]),
        "--criterion", method["criterion"],
        "--label-smoothing", str(training["label_smoothing"]),
        *model_arguments(method.get("criterion_args", {})),
        *model_arguments(method.get("task_args", {})),
        "--optimizer", "adam",
        "--adam-betas", str(tuple(training["adam_betas"])),
        "--adam-eps", str(training["adam_eps"]),
        "--weight-decay", str(training["weight_decay"]),
        "--clip-norm", str(training["clip_norm"]),
        "--lr", str(training["lr"]),
        "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(training["warmup_updates"]),
        "--warmup-init-lr", str(training["warmup_init_lr"]),
        "--max-tokens", str(training["max_tokens"]),
        "--update-freq", str(training["update_freq"]),
        "--max-epoch", str(training["max_epoch"]),
        "--max-source-positions", str(training["max_positions"]),
        "--max-target-positions", str(training["max_positions"]),
        "--seed", str(seed),
        "--save-dir", str(save_dir),
        "--validate-interval", "1",
        "--save-interval", "1",
    ]  # fmt: skip
    if training.get("max_update"):
        args += ["--max-update", str(training["max_update"])]
    if training.get("save_interval_updates"):
        args += ["--save-interval-updates", str(training["save_interval_updates"])]
    args += [str(arg) for arg in training.get("extra_args", [])]
    return args


def runtime_train_arguments(
    *,
    log_interval: int,
    keep_epoch_checkpoints: bool,
    tensorboard_dir: str | None = None,
    pair_best_checkpoints: bool = True,
) -> list[str]:
    """``fairseq-train`` settings that cannot change the trained model: logging and which checkpoints stay on disk.

    By default only the newest epoch (and mid-epoch) checkpoint is kept besides ``checkpoint_last.pt`` and
    ``checkpoint_best.pt``: it is the fallback when a kill tears fairseq's non-atomic copy to
    ``checkpoint_last.pt`` (the runner deletes it when training ends). LSSD's teachers live in their own files, as
    do each pair's best checkpoint (the same files), unless ``pair_best_checkpoints`` is False
    (``evaluation.per_pair_best: false``).
    """
    args = [
        *plugin_arguments(),
        "--num-workers", "0",
        "--log-format", "simple",
        "--log-interval", str(log_interval),
    ]  # fmt: skip
    if not keep_epoch_checkpoints:
        args += ["--keep-last-epochs", "1", "--keep-interval-updates", "1"]
    if tensorboard_dir:
        args += ["--tensorboard-logdir", tensorboard_dir]
    if not pair_best_checkpoints:
        args.append("--lssd-no-pair-best-checkpoints")
    return args


# flags (with their value) that do not define a run's model, or that its identity compares on its own (how long
# it trains; --max-tokens and --update-freq as the tokens per update, with the world size: lssd.run.identity)
RUNTIME_OPTIONS = {
    "--user-dir", "--save-dir", "--num-workers", "--log-format", "--log-interval", "--tensorboard-logdir",
    "--keep-last-epochs", "--keep-interval-updates", "--keep-best-checkpoints", "--max-epoch", "--max-update",
    "--max-tokens", "--update-freq",
}  # fmt: skip
RUNTIME_SWITCHES = {"--no-epoch-checkpoints", "--no-progress-bar", "--lssd-no-pair-best-checkpoints"}


def identity_arguments(args: list[str]) -> list[str]:
    """``fairseq-train`` arguments without the :data:`RUNTIME_OPTIONS` / :data:`RUNTIME_SWITCHES` (and how long
    to train, which the runner compares on its own: a raised ``--max-epoch`` continues a run)."""
    kept: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0]
        if name in RUNTIME_OPTIONS:
            skip_value = "=" not in arg
            continue
        if name in RUNTIME_SWITCHES:
            continue
        kept.append(arg)
    return kept


def option_value(args: list[str], name: str) -> str | None:
    """The last value given to ``name`` (``--name V`` or ``--name=V``), else None."""
    value = None
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def generate_arguments(
    *,
    data_bin: str,
    model: str,
    pairs: list[str],
    direction: str,
    beam: int,
    lenpen: float,
    batch_size: int,
    max_len_b: int = 200,
) -> list[str]:
    """``fairseq-generate`` arguments common to every pair of a run (lssd.run.generation adds ``--source-lang``,
    ``--target-lang`` and ``--gen-subset`` per pair), for every sentence translated as SentencePiece pieces."""
    return [
        *task_arguments(data_bin, pairs, direction),
        "--path", str(model),
        "--beam", str(beam),
        "--lenpen", str(lenpen),
        "--max-len-b", str(max_len_b),
        "--batch-size", str(batch_size),
        # generation only: fairseq silently drops the last partial batch when this is > 1 (296 of 300 sentences
        # translated); training keeps fairseq's default (8), as the original did
        "--required-batch-size-multiple", "1",
        "--num-workers", "0",
    ]  # fmt: skip
