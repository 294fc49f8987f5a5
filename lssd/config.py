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
    from lssd.data.kinds import kind_of  # the registry raises this module's ConfigError

    return kind_of(spec).downloads(spec["source"])
