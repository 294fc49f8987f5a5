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


def training_settings(config: dict, dataset: str, direction: str) -> dict:
    """The dataset's training preset with its per-direction overrides applied."""
    name = config["datasets"][dataset]["training"]
    preset = copy.deepcopy(config["trainings"][name])
    overrides = preset.pop("by_direction", {}) or {}
    for key, value in (overrides.get(direction) or {}).items():
        if isinstance(value, dict) and isinstance(preset.get(key), dict):
            preset[key].update(value)
        else:
            preset[key] = value
    return preset


def method_settings(config: dict, method: str, direction: str) -> dict:
    """A method's criterion and its criterion/task flags, with the per-direction overrides applied."""
    spec = copy.deepcopy(config["methods"][method])
    overrides = (spec.pop("by_direction", {}) or {}).get(direction) or {}
    for key in ("criterion_args", "task_args"):
        spec[key] = {**(spec.get(key) or {}), **(overrides.get(key) or {})}
    return spec


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
    for name in config.get("methods") or {}:
        for direction in DIRECTIONS:
            args = method_settings(config, name, direction)["criterion_args"]
            if args.get("language_aware") and direction == "m2o" and direction in config["run"]["directions"]:
                raise ConfigError(
                    f"methods.{name}.criterion_args.language_aware: language-aware distillation is for eng→X (o2m) "
                    f"only; set it under methods.{name}.by_direction.o2m"
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
            if source.get("subsample"):
                for lang in langs:
                    if "reference_size" not in spec["languages"][lang]:
                        raise ConfigError(f"{key}.languages.{lang}.reference_size: needed by {key}.source.subsample")
