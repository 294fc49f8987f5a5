"""The dataset-kind registry (lssd/data/kinds.py) agrees with what else a kind needs: the schema's enum, a rule
in workflow/rules/data.smk that builds only datasets of that kind with the registry's module, a cluster cost, a
builder that runs; and each kind's downloads and source checks."""

import importlib
import re

import pytest
import yaml

from lssd import config as lssd_config
from lssd.config import ConfigError
from lssd.data.kinds import KINDS, kind_of
from lssd.data.resources import COSTS
from tests.helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DATA_RULES = (REPO / "workflow/rules/data.smk").read_text()


def rule_block(name):
    match = re.search(rf"^rule {name}:\n(.*?)(?=^rule |\Z)", DATA_RULES, re.S | re.M)
    assert match, f"workflow/rules/data.smk has no rule {name}"
    return match.group(1)


def source_kinds(node):
    """The enum of the dataset source's ``kind``, wherever the schema defines it."""
    if isinstance(node, dict):
        kind = (node.get("properties") or {}).get("kind") or {}
        if "enum" in kind:
            return kind["enum"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    return next((found for child in children if (found := source_kinds(child))), None)


def test_the_schema_allows_exactly_the_registered_kinds():
    assert sorted(source_kinds(SCHEMA)) == sorted(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_has_its_rule_its_cost_and_its_builder(kind):
    entry = KINDS[kind]
    block = rule_block(entry.rule)
    assert f'dataset=datasets_of_kind("{kind}")' in block
    assert f"python -m {entry.module} " in block
    assert entry.rule in COSTS
    assert callable(importlib.import_module(entry.module).main)


def test_no_rule_prepares_a_kind_the_registry_does_not_know():
    named = re.findall(r'datasets_of_kind\("(\w+)"\)', DATA_RULES)
    assert sorted(named) == sorted(KINDS)


def test_downloads_by_kind():
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    ted = next(spec for spec in paper["datasets"].values() if spec["source"]["kind"] == "ted_talks")
    assert lssd_config.dataset_downloads(ted) == [ted["source"].get("download", "ted_talks.tar.gz")]
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())["datasets"]["demo"]
    assert kind_of(demo).name == "django_catalogs" and lssd_config.dataset_downloads(demo) == []


def test_the_source_checks_name_the_key():
    spec = {"pivot": "eng", "languages": {"eng": {}, "bos": {}}, "source": {"kind": "wmt", "corpora": {"bos": {}}}}
    with pytest.raises(ConfigError, match=r"^wmt6\.languages\.bos\.reference_size: needed"):
        KINDS["wmt"].check("wmt6", spec, ["bos"])
    spec["source"] = {"kind": "ted_talks", "columns": {"bos": "bs", "fra": "fr"}}
    with pytest.raises(ConfigError, match=r"^ted\.source\.columns\.fra: language 'fra' is not in ted\.languages"):
        KINDS["ted_talks"].check("ted", spec, ["bos"])
