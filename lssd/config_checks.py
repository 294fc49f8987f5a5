"""Config checks run before any job (``workflow/rules/common.smk``): the JSON schema, strictly (integers are
integers, override blocks validated as the blocks they override; ``lssd.config_errors``), a YAML key given twice,
``--config`` values typed as YAML, and the cross-references between blocks; every error names the key."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from lssd.config import DIRECTIONS, ConfigError, dataset_languages, method_settings
from lssd.config_errors import check_schema, key_path, override_blocks
from lssd.data.kinds import kind_of
from lssd.method.flags import CRITERION_ARGS, TASK_ARGS, is_lssd_method


def check_method_args(where: str, args: dict, allowed: dict) -> None:
    """Names and values of criterion/task flags: an unknown one or a bad value names its key."""
    for name, value in args.items():
        if name not in allowed:
            raise ConfigError(f"{where}.{name}: unknown setting (known: {', '.join(allowed)})")
        kinds = allowed[name]
        if all(isinstance(kind, str) for kind in kinds):
            if value not in kinds:
                raise ConfigError(f"{where}.{name}: '{value}' is not one of {', '.join(kinds)}")
        elif isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = " or ".join(kind.__name__ for kind in kinds)
            raise ConfigError(f"{where}.{name}: {value!r} is not a {expected}")
        elif not isinstance(value, bool) and isinstance(value, (int, float)) and value < 0:
            raise ConfigError(f"{where}.{name}: {value} must not be negative")


def check_methods(config: dict) -> None:
    for name, method in (config.get("methods") or {}).items():
        blocks = [(f"methods.{name}", method)]
        blocks += [(f"methods.{name}.by_direction.{d}", o or {}) for d, o in (method.get("by_direction") or {}).items()]
        for dataset, by_direction in (method.get("by_dataset") or {}).items():
            blocks += [(f"methods.{name}.by_dataset.{dataset}.{d}", o or {}) for d, o in (by_direction or {}).items()]
        for where, block in blocks:
            if is_lssd_method(method):
                check_method_args(f"{where}.criterion_args", block.get("criterion_args") or {}, CRITERION_ARGS)
            check_method_args(f"{where}.task_args", block.get("task_args") or {}, TASK_ARGS)


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"{Path(node.start_mark.name)}, line {key_node.start_mark.line + 1}: '{key}' is given twice "
                    f"(also on line {seen[key] + 1}); YAML would keep only the last one"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def check_config_files(paths) -> None:
    """Each config file parses without a key given twice in a mapping (a language listed twice, say)."""
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            yaml.load(handle, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)


def typed_overrides(overrides: dict) -> dict:
    """``--config`` values with YAML's types: Snakemake parses a nested ``--config 'run={seeds: [1, 2]}'`` with
    YAML's base loader, which keeps every scalar a string ('1'), so the schema would reject it."""

    def typed(value):
        if isinstance(value, dict):
            return {key: typed(item) for key, item in value.items()}
        if isinstance(value, list):
            return [typed(item) for item in value]
        if isinstance(value, str):
            parsed = yaml.safe_load(value) if value.strip() else value
            return parsed if isinstance(parsed, (bool, int, float)) or parsed is None else value
        return value

    return {key: typed(value) for key, value in overrides.items()}


def config_sources(configfiles, overrides: dict | None = None) -> list[tuple[str, dict]]:
    """Where the config's keys come from, in Snakemake's merge order, for the error messages: each config file
    (``(path, its mapping)``), then the command line (``('--config', overrides)``)."""
    sources = []
    for path in configfiles:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        sources.append((str(path), data if isinstance(data, dict) else {}))
    if overrides:
        sources.append(("--config", overrides))
    return sources


def validate_config(config: dict, schema_path: str | Path, sources=None) -> None:
    """Every check that runs before any job, in order: the schema, strictly, filling in its defaults
    (``lssd.config_errors.check_schema``), then the cross-references. Raises ConfigError naming the key; for a
    schema violation, each one's key path, where it was given (``sources``: :func:`config_sources`) and the
    problem, one line each."""
    check_schema(config, yaml.safe_load(Path(schema_path).read_text(encoding="utf-8")), sources)
    check(config)


def check(config: dict) -> None:
    """Cross-reference checks; raises :class:`ConfigError` naming the key."""
    check_finite(config)
    check_extra_args(config)
    check_run_names(config)
    check_methods(config)
    check_method_blocks(config)
    check_training_overrides(config)
    for name, spec in (config.get("datasets") or {}).items():
        check_dataset(config, f"datasets.{name}", spec)


def check_finite(value, path=()) -> None:
    """No NaN or infinity anywhere (YAML's ``.nan``/``.inf``): every bound of the schema lets NaN through."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, (*path, index))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key_path(path)}: {value} is not a finite number")


# fairseq-train flags the pipeline sets itself, from its own keys or at run time: in ``extra_args`` they would
# override (the last value wins) what the run's layout, identity, resume and seeds rely on
OWNED_FLAGS = {
    "--save-dir": "the run's directory (results/train/...)",
    "--restore-file": "resuming from the run's checkpoint_last.pt",
    "--user-dir": "the plugin of this checkout",
    "--task": "the LSSD task",
    "--lang-dict": "the dataset's language list",
    "--lang-pairs": "the dataset's languages and the direction",
    "--encoder-langtok": "the direction",
    "--max-epoch": "max_epoch",
    "--max-update": "max_update",
    "--seed": "run.seeds",
    "--cpu": "the runner (CPU without a GPU)",
    "--fp16": "run.fp16",
    "--distributed-world-size": "the GPUs a job is given, or run.cpu_workers_per_training",
    "--log-interval": "log_interval",
    "--tensorboard-logdir": "run.tensorboard",
    "--keep-last-epochs": "run.keep_epoch_checkpoints",
    "--keep-interval-updates": "run.keep_epoch_checkpoints",
    "--no-epoch-checkpoints": "run.keep_epoch_checkpoints",
    "--lssd-no-pair-best-checkpoints": "evaluation.per_pair_best",
}


def extra_args_blocks(config: dict):
    """Every ``extra_args`` list, with its key: the presets, their per-direction blocks, the methods' trainings."""
    for name, preset in (config.get("trainings") or {}).items():
        yield ["trainings", name, "extra_args"], preset.get("extra_args")
    for path, block in override_blocks(config):
        yield [*path, "extra_args"], (block or {}).get("extra_args")


def check_extra_args(config: dict) -> None:
    for path, args in extra_args_blocks(config):
        for index, arg in enumerate(args or []):
            name = str(arg).split("=", 1)[0]
            if name in OWNED_FLAGS:
                raise ConfigError(
                    f"{key_path([*path, index])}: {name} is set by the pipeline (from {OWNED_FLAGS[name]}); "
                    "remove it from extra_args"
                )


def check_run_names(config: dict) -> None:
    """Every dataset and method ``run`` names is declared."""
    for kind in ("datasets", "methods"):
        declared = config.get(kind) or {}
        for index, name in enumerate(config["run"][kind]):
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ConfigError(f"run.{kind}[{index}]: unknown {kind[:-1]} '{name}' (declared {kind}: {known})")


def check_method_blocks(config: dict) -> None:
    """A method's per-dataset blocks name declared datasets; language-aware distillation is eng→X only."""
    datasets = config.get("datasets") or {}
    for name, method in (config.get("methods") or {}).items():
        for dataset in method.get("by_dataset") or {}:
            if dataset not in datasets:
                raise ConfigError(f"methods.{name}.by_dataset.{dataset}: unknown dataset '{dataset}'")
        for direction in DIRECTIONS:
            for dataset in [None, *(method.get("by_dataset") or {})]:
                args = method_settings(config, name, direction, dataset)["criterion_args"]
                if args.get("language_aware") and direction == "m2o" and direction in config["run"]["directions"]:
                    raise ConfigError(
                        f"methods.{name}.criterion_args.language_aware: language-aware distillation is for eng→X "
                        f"(o2m) only; set it under methods.{name}.by_direction.o2m"
                    )


def check_training_overrides(config: dict) -> None:
    """Per-direction and per-method training overrides only name settings of their preset."""
    trainings = config.get("trainings") or {}
    for name, preset in trainings.items():
        for direction, overrides in (preset.get("by_direction") or {}).items():
            for key in overrides or {}:
                if key not in preset or key == "by_direction":
                    raise ConfigError(f"trainings.{name}.by_direction.{direction}.{key}: unknown training setting")
    for name, method in (config.get("methods") or {}).items():
        for dataset, by_direction in (method.get("by_dataset") or {}).items():
            preset = trainings.get(config["datasets"][dataset]["training"], {})
            for direction, override in (by_direction or {}).items():
                for key in (override or {}).get("training") or {}:
                    if key not in preset or key == "by_direction":
                        raise ConfigError(
                            f"methods.{name}.by_dataset.{dataset}.{direction}.training.{key}: unknown training setting"
                        )


def check_dataset(config: dict, key: str, spec: dict) -> None:
    """A dataset block: its pivot, languages and training preset, then its source."""
    pivot = spec["pivot"]
    if pivot in spec["languages"]:
        raise ConfigError(f"{key}.languages.{pivot}: the pivot '{pivot}' is not one of the languages; remove it")
    langs = dataset_languages(spec)
    if not langs:
        raise ConfigError(f"{key}.languages: needs at least one language besides the pivot '{pivot}'")
    if spec["training"] not in (config.get("trainings") or {}):
        known = ", ".join(sorted(config.get("trainings") or {})) or "none"
        raise ConfigError(f"{key}.training: unknown training preset '{spec['training']}' (declared: {known})")
    check_source(key, spec, langs)


def check_source(key: str, spec: dict, langs: list[str]) -> None:
    """The source names every language (and no other) and has what its kind needs (lssd.data.kinds)."""
    kind_of(spec).check(key, spec, langs)
