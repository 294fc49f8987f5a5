"""Reading the pipeline's configuration after the JSON schema has validated it.

The schema (``workflow/schemas/config.schema.yaml``) checks keys and types and fills defaults; this module
checks what a schema cannot (names that must refer to other blocks, languages that must exist) and derives
what the rules need: the runs, the language pairs of a direction, the training settings of a run.
Every error names the config key.
"""

from __future__ import annotations

import copy
from itertools import product

DIRECTIONS = ("m2o", "o2m")


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def dataset_languages(spec: dict) -> list[str]:
    """A dataset block's languages other than its pivot, in config order."""
    return [lang for lang in spec["languages"] if lang != spec["pivot"]]


def non_pivot_languages(config: dict, dataset: str) -> list[str]:
    return dataset_languages(config["datasets"][dataset])


def pair_language(pair: str, pivot: str) -> str:
    """The non-English side of a pair (``bos-eng`` and ``eng-bos`` are both ``bos``): the teacher key, the column."""
    source, target = pair.split("-")
    return target if source == pivot else source


def pairs(config: dict, dataset: str, direction: str) -> list[str]:
    """The language pairs of a direction, in the dataset's language order: ``bos-eng`` (m2o), ``eng-bos`` (o2m)."""
    pivot = config["datasets"][dataset]["pivot"]
    if direction == "m2o":
        return [f"{lang}-{pivot}" for lang in non_pivot_languages(config, dataset)]
    if direction == "o2m":
        return [f"{pivot}-{lang}" for lang in non_pivot_languages(config, dataset)]
    raise ConfigError(f"unknown direction '{direction}' (expected one of {', '.join(DIRECTIONS)})")


def runs(config: dict) -> list[tuple[str, str, str, int]]:
    """Every (dataset, direction, method, seed) the config asks for."""
    run = config["run"]
    return list(product(run["datasets"], run["directions"], run["methods"], run["seeds"]))


def _merge(base: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def method_overrides(config: dict, method: str, direction: str, dataset: str | None = None) -> list[dict]:
    """A method's overrides for a direction, then for a dataset and direction (later ones win)."""
    spec = config["methods"][method]
    found = [(spec.get("by_direction") or {}).get(direction) or {}]
    if dataset is not None:
        found.append(((spec.get("by_dataset") or {}).get(dataset) or {}).get(direction) or {})
    return found


def training_settings(config: dict, dataset: str, direction: str, method: str | None = None) -> dict:
    """The dataset's training preset with its per-direction overrides, then the method's training overrides."""
    name = config["datasets"][dataset]["training"]
    preset = copy.deepcopy(config["trainings"][name])
    overrides = preset.pop("by_direction", {}) or {}
    _merge(preset, overrides.get(direction) or {})
    if method is not None:
        for override in method_overrides(config, method, direction, dataset):
            _merge(preset, copy.deepcopy(override.get("training") or {}))
    return preset


def method_settings(config: dict, method: str, direction: str, dataset: str | None = None) -> dict:
    """A method's criterion and its criterion/task flags, with the per-direction (and per-dataset) overrides."""
    spec = copy.deepcopy(config["methods"][method])
    spec.pop("by_direction", None)
    spec.pop("by_dataset", None)
    for key in ("criterion_args", "task_args"):
        merged = dict(spec.get(key) or {})
        for override in method_overrides(config, method, direction, dataset):
            merged.update(override.get(key) or {})
        spec[key] = merged
    return spec


# what each preparation stage reads of a dataset block (besides the pivot and the language codes, in order)
STAGE_KEYS = {"data": ("source",), "spm": ("spm",), "binarize": ("spm",)}
STAGE_LANGUAGE_KEYS = {"data": ("reference_size",), "spm": (), "binarize": ()}


def stage_spec(spec: dict, stage: str) -> dict:
    """The part of a dataset block that one stage (``data``, ``spm``, ``binarize``) reads.

    A stage gets nothing else (not the languages' roles, which only the tables and figures use, nor the training
    preset), so changing a setting it does not read does not rebuild its output and everything downstream.
    """
    if stage not in STAGE_KEYS:
        raise ValueError(f"unknown stage '{stage}' (known: {', '.join(STAGE_KEYS)})")
    languages = {
        lang: {key: value for key, value in (info or {}).items() if key in STAGE_LANGUAGE_KEYS[stage]}
        for lang, info in spec["languages"].items()
    }
    return {"pivot": spec["pivot"], "languages": languages, **{key: spec[key] for key in STAGE_KEYS[stage]}}


def dataset_downloads(spec: dict) -> list[str]:
    """The downloads-table names a dataset's source needs (none for the demo)."""
    source = spec["source"]
    if source["kind"] == "ted_talks":
        return [source["download"]]
    if source["kind"] == "wmt":
        names = []
        for corpora in source["corpora"].values():
            for entry in [*corpora["train"], corpora["valid"], corpora["test"]]:
                if entry["download"] not in names:
                    names.append(entry["download"])
        return names
    return []


LSSD_CRITERION_ARGS = {
    "distillation_weight": (int, float),
    "distillation_variant": ("whole", "selective", "adaptive"),
    "distillation_level": ("token", "sentence"),
    "language_aware": (bool,),
}
TASK_ARGS = {
    "lssd_single_teacher": (bool,),
    "lssd_warmup_epochs": (int,),
    "lssd_teacher_precision": ("auto", "fp32", "fp16", "bf16"),
    "lssd_max_teachers": (int,),
}


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
            if method["criterion"] == "lssd_distillation":
                check_method_args(f"{where}.criterion_args", block.get("criterion_args") or {}, LSSD_CRITERION_ARGS)
            check_method_args(f"{where}.task_args", block.get("task_args") or {}, TASK_ARGS)


def check(config: dict) -> None:
    """Cross-reference checks; raises :class:`ConfigError` naming the key."""
    run = config["run"]
    datasets = config.get("datasets") or {}
    for index, name in enumerate(run["datasets"]):
        if name not in datasets:
            known = ", ".join(sorted(datasets)) or "none"
            raise ConfigError(f"run.datasets[{index}]: unknown dataset '{name}' (declared datasets: {known})")
    for index, name in enumerate(run["methods"]):
        if name not in (config.get("methods") or {}):
            known = ", ".join(sorted(config.get("methods") or {})) or "none"
            raise ConfigError(f"run.methods[{index}]: unknown method '{name}' (declared methods: {known})")
    check_methods(config)
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
    for name, preset in (config.get("trainings") or {}).items():
        for direction, overrides in (preset.get("by_direction") or {}).items():
            for key in overrides or {}:
                if key not in preset or key == "by_direction":
                    raise ConfigError(f"trainings.{name}.by_direction.{direction}.{key}: unknown training setting")
    for name, method in (config.get("methods") or {}).items():
        for dataset, by_direction in (method.get("by_dataset") or {}).items():
            preset = (config.get("trainings") or {}).get(datasets[dataset]["training"], {})
            for direction, override in (by_direction or {}).items():
                for key in (override or {}).get("training") or {}:
                    if key not in preset or key == "by_direction":
                        raise ConfigError(
                            f"methods.{name}.by_dataset.{dataset}.{direction}.training.{key}: unknown training setting"
                        )
    for name, spec in datasets.items():
        key = f"datasets.{name}"
        pivot = spec["pivot"]
        langs = dataset_languages(spec)
        if not langs:
            raise ConfigError(f"{key}.languages: needs at least one language besides the pivot '{pivot}'")
        if spec["training"] not in (config.get("trainings") or {}):
            known = ", ".join(sorted(config.get("trainings") or {})) or "none"
            raise ConfigError(f"{key}.training: unknown training preset '{spec['training']}' (declared: {known})")
        source = spec["source"]
        if source["kind"] == "django_catalogs":
            for lang in langs:
                if lang not in source["locales"]:
                    raise ConfigError(
                        f"{key}.languages.{lang}: unknown language: no Django locale for it in {key}.source.locales"
                    )
            for lang in source["locales"]:
                if lang not in spec["languages"]:
                    raise ConfigError(f"{key}.source.locales.{lang}: language '{lang}' is not in {key}.languages")
        if source["kind"] == "ted_talks":
            for lang in langs:
                if lang not in source["columns"]:
                    raise ConfigError(f"{key}.languages.{lang}: no TED column for it in {key}.source.columns")
        if source["kind"] == "wmt":
            for lang in langs:
                if lang not in source["corpora"]:
                    raise ConfigError(f"{key}.languages.{lang}: no corpora for it in {key}.source.corpora")
                if "reference_size" not in spec["languages"][lang]:
                    raise ConfigError(
                        f"{key}.languages.{lang}.reference_size: needed (the number of training pairs to keep)"
                    )
        extra = sorted(set(source.get("columns") or source.get("corpora") or {}) - set(langs))
        if extra:
            field = "columns" if "columns" in source else "corpora"
            raise ConfigError(f"{key}.source.{field}.{extra[0]}: language '{extra[0]}' is not in {key}.languages")
        if source["kind"] == "parallel_files" and source["path"] == "":
            raise ConfigError(f"{key}.source.path: empty")
        if source["kind"] == "django_catalogs":
            if source.get("subsample"):
                for lang in langs:
                    if "reference_size" not in spec["languages"][lang]:
                        raise ConfigError(f"{key}.languages.{lang}.reference_size: needed by {key}.source.subsample")
