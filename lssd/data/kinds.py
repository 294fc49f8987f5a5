"""The dataset kinds (``datasets.<name>.source.kind``), in one registry: for each, the rule and the module that
build it, the downloads its source needs and what its source block must hold beyond the schema.

Adding a kind: its builder (``python -m lssd.data.<module> --spec ... --name ... --outdir ...``, see
``lssd.data.parallel.dataset_parser``), an entry here, its source block in ``workflow/schemas/config.schema.yaml``
(the ``kind`` enum and an if/then block), its rule in ``workflow/rules/data.smk`` (named as ``rule`` below,
``wildcard_constraints: dataset=datasets_of_kind(...)``) and its cost in ``lssd.data.resources.COSTS``;
tests/test_kinds.py checks that these agree. The kinds keep a rule each, not one shared rule: their inputs and
commands differ, and merging them would change the recorded command of every prepared dataset, so that Snakemake
would rebuild every user's data and everything downstream of it, evaluations included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _config_error(message: str) -> Exception:
    from lssd.config import ConfigError  # lssd.config reads this registry

    return ConfigError(message)


def no_downloads(source: dict) -> list[str]:
    return []


def ted_downloads(source: dict) -> list[str]:
    return [source["download"]]


def wmt_downloads(source: dict) -> list[str]:
    """Every archive the corpora name, once, in the order first named."""
    names = []
    for corpora in source["corpora"].values():
        for entry in [*corpora["train"], corpora["valid"], corpora["test"]]:
            if entry["download"] not in names:
                names.append(entry["download"])
    return names


def needs_reference_size(key: str, spec: dict, lang: str, why: str) -> None:
    if "reference_size" not in spec["languages"][lang]:
        raise _config_error(f"{key}.languages.{lang}.reference_size: needed {why}")


def no_other_languages(key: str, spec: dict, field: str, langs: list[str]) -> None:
    extra = sorted(set(spec["source"][field]) - set(langs))
    if extra:
        raise _config_error(f"{key}.source.{field}.{extra[0]}: language '{extra[0]}' is not in {key}.languages")


def check_django_catalogs(key: str, spec: dict, langs: list[str]) -> None:
    locales = spec["source"]["locales"]
    for lang in langs:
        if lang not in locales:
            raise _config_error(
                f"{key}.languages.{lang}: unknown language: no Django locale for it in {key}.source.locales"
            )
    for lang in locales:  # the pivot's locale may be listed
        if lang not in spec["languages"]:
            raise _config_error(f"{key}.source.locales.{lang}: language '{lang}' is not in {key}.languages")
    if spec["source"].get("subsample"):
        for lang in langs:
            needs_reference_size(key, spec, lang, f"by {key}.source.subsample")


def check_ted_talks(key: str, spec: dict, langs: list[str]) -> None:
    for lang in langs:
        if lang not in spec["source"]["columns"]:
            raise _config_error(f"{key}.languages.{lang}: no TED column for it in {key}.source.columns")
    no_other_languages(key, spec, "columns", langs)


def check_wmt(key: str, spec: dict, langs: list[str]) -> None:
    for lang in langs:
        if lang not in spec["source"]["corpora"]:
            raise _config_error(f"{key}.languages.{lang}: no corpora for it in {key}.source.corpora")
        needs_reference_size(key, spec, lang, "(the number of training pairs to keep)")
    no_other_languages(key, spec, "corpora", langs)


def check_parallel_files(key: str, spec: dict, langs: list[str]) -> None:
    if spec["source"]["path"] == "":
        raise _config_error(f"{key}.source.path: empty")


@dataclass(frozen=True)
class DatasetKind:
    name: str  # the schema's source.kind
    rule: str  # the rule in workflow/rules/data.smk that builds it (also its key in lssd.data.resources.COSTS)
    module: str  # its builder, run as python -m
    downloads: Callable[[dict], list[str]]  # the downloads-table names the source block needs
    check: Callable[[str, dict, list[str]], None]  # what the source block must hold beyond the schema


KINDS: dict[str, DatasetKind] = {
    kind.name: kind
    for kind in (
        DatasetKind("django_catalogs", "prepare_demo", "lssd.data.demo", no_downloads, check_django_catalogs),
        DatasetKind("ted_talks", "prepare_ted", "lssd.data.ted", ted_downloads, check_ted_talks),
        DatasetKind("wmt", "prepare_wmt", "lssd.data.wmt", wmt_downloads, check_wmt),
        DatasetKind("parallel_files", "prepare_parallel_files", "lssd.data.user", no_downloads, check_parallel_files),
    )
}


def kind_of(spec: dict) -> DatasetKind:
    """The kind of a dataset block (the schema has checked that it is one of KINDS)."""
    return KINDS[spec["source"]["kind"]]
