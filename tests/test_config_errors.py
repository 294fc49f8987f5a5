"""A config that fails the schema says so in a few lines: the key's dotted path, where it was given and the problem
first, each error on its own line (the deepest key first), no schema dump; and every key of the schema is described."""

import copy

import pytest
import yaml

from tests.helpers import REPO, snakemake

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
MISSPELT = "trainings.demo_tiny.max_epochs (from --config): unknown key 'max_epochs'; did you mean 'max_epoch'?"


def declared(schema, containers=("properties",), skip=("if",), path=()):
    """(dotted path, schema) of every key declared under one of ``containers`` at any depth ($defs and if/then
    branches alike); ``skip``: keywords not walked (an ``if`` is a condition on a key declared elsewhere)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in containers and isinstance(value, dict):
                for name, subschema in value.items():
                    yield ".".join(map(str, (*path, name))), subschema
                    yield from declared(subschema, containers, skip, (*path, name))
            elif key not in skip:
                yield from declared(value, containers, skip, (*path, key))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from declared(item, containers, skip, (*path, index))


def undescribed(schema) -> list[str]:
    """Every property of ``schema`` without a description."""
    return [
        path
        for path, subschema in declared(schema)
        if not (isinstance(subschema, dict) and str(subschema.get("description") or "").strip())
    ]


def test_every_schema_property_has_a_description():
    assert undescribed(yaml.safe_load(SCHEMA.read_text())) == []


def test_the_description_walk_finds_an_undescribed_property():
    schema = {"properties": {"a": {"description": "A."}, "b": {"type": "object", "properties": {"c": {}}}}}
    schema["$defs"] = {"d": {"allOf": [{"then": {"properties": {"e": {"description": " "}}}}]}}
    assert undescribed(schema) == ["b", "b.c", "$defs.d.allOf.0.then.e"]


def stray_keys(schema) -> list[str]:
    """Keys of a property's schema that are not JSON-schema keywords: what an unquoted comma in a flow mapping
    leaves (`{description: A, b., type: integer}` cuts the description at the comma and adds a key `b.`)."""
    from jsonschema import Draft202012Validator

    keywords = set(Draft202012Validator.META_SCHEMA["properties"]) | set(Draft202012Validator.VALIDATORS)
    keywords |= {"$defs", "definitions", "description", "default", "title", "examples"}
    blocks = declared(schema, containers=("properties", "$defs", "patternProperties"), skip=())
    return [
        f"{path}.{key}" for path, block in blocks if isinstance(block, dict) for key in block if key not in keywords
    ]


def test_no_schema_description_is_cut_by_an_unquoted_comma():
    assert stray_keys(yaml.safe_load(SCHEMA.read_text())) == []
    assert stray_keys(yaml.safe_load("properties: {a: {description: One, two., type: integer}}")) == ["a.two."]


def rejected(config, overrides=None, tmp_path=None) -> list[str]:
    """The lines of the error the workflow's start-up check (validate_config, as common.smk calls it) raises, the
    config given as a file (in ``tmp_path``) and ``--config`` overrides merged over it, as Snakemake merges them."""
    from snakemake.utils import update_config

    from lssd.config import ConfigError
    from lssd.config_checks import config_sources, typed_overrides, validate_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    merged = copy.deepcopy(config)
    overrides = typed_overrides(overrides or {})
    update_config(merged, overrides)
    with pytest.raises(ConfigError) as error:
        validate_config(merged, SCHEMA, sources=config_sources([path], overrides))
    return str(error.value).splitlines()


def edited(change):
    config = copy.deepcopy(DEMO)
    change(config)
    return config


def test_a_misspelt_key_is_named_with_its_path_source_and_the_nearest_key(tmp_path):
    lines = rejected(DEMO, {"trainings": {"demo_tiny": {"max_epochs": "3"}}}, tmp_path)
    assert lines[0] == MISSPELT
    assert len(lines) < 10, lines
    assert not any("Failed validating" in line or "On instance" in line for line in lines), lines


def test_an_unknown_key_without_a_near_one_lists_the_allowed_keys(tmp_path):
    lines = rejected(edited(lambda c: c["evaluation"].update(zzz=1)), tmp_path=tmp_path)
    assert lines[0] == (
        f"evaluation.zzz (from {tmp_path / 'config.yaml'}): unknown key 'zzz' "
        "(allowed here: batch_size, beam, lenpen, max_len_b, per_pair_best, splits, threads)"
    )


def test_a_wrong_type_names_the_key_the_file_and_the_value(tmp_path):
    lines = rejected(edited(lambda c: c["trainings"]["demo_tiny"].update(max_epoch="ten")), tmp_path=tmp_path)
    assert (
        lines[0] == f"trainings.demo_tiny.max_epoch (from {tmp_path / 'config.yaml'}): 'ten' is not of type 'integer'"
    )
    assert len(lines) < 10, lines


def test_a_value_out_of_range_names_the_key_and_the_bound(tmp_path):
    lines = rejected(DEMO, {"evaluation": {"beam": "0"}}, tmp_path)
    assert lines[0] == "evaluation.beam (from --config): 0 is less than the minimum of 1"


def test_a_missing_key_and_a_bad_name_are_named_themselves(tmp_path):
    config = edited(lambda c: c["datasets"]["demo"]["spm"].pop("vocab_size"))
    assert rejected(config, tmp_path=tmp_path)[0].startswith(
        "datasets.demo.spm.vocab_size (from " + str(tmp_path / "config.yaml") + "): missing; 'vocab_size' is a required"
    )
    lines = rejected(DEMO, {"methods": {"lssd-x": {"criterion": "lssd_distillation"}}}, tmp_path)
    assert lines[0].startswith("methods.lssd-x (from --config): the name 'lssd-x' does not match"), lines


def test_several_errors_are_listed_one_a_line_the_deepest_first(tmp_path):
    config = edited(lambda c: c["evaluation"].update(beam=0))
    lines = rejected(config, {"trainings": {"demo_tiny": {"max_epochs": "3"}}}, tmp_path)
    assert lines[0] == MISSPELT
    assert lines[1].strip() == f"evaluation.beam (from {tmp_path / 'config.yaml'}): 0 is less than the minimum of 1"
    assert len(lines) == 3 and "docs/configuration.md" in lines[2], lines


def test_snakemake_names_a_misspelt_command_line_key_in_a_few_lines(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(DEMO))
    result = snakemake(
        "-n", "--configfile", str(path), "--config", "trainings={demo_tiny: {max_epochs: 3}}", cwd=tmp_path
    )
    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert f"Invalid config: {MISSPELT}" in output.splitlines(), output[-2000:]
    assert len(output.splitlines()) < 10, output
    assert not (tmp_path / "results").exists()
