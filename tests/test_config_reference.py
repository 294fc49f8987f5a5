"""docs/configuration.md is the schema's render (lssd.config_reference): each key path's row, and no drift."""

import subprocess
import sys

from lssd import config_reference
from tests.helpers import REPO

TINY_SCHEMA = {
    "description": "A tiny config.",
    "type": "object",
    "required": ["run"],
    "properties": {
        "run": {
            "description": "What to run.",
            "type": "object",
            "required": ["seeds"],
            "properties": {
                "seeds": {"description": "Seeds | each once.", "type": "array", "items": {"type": "integer"}},
                "mode": {"enum": ["fast", "slow"], "default": "fast"},
            },
        },
        "blocks": {
            "description": "Named blocks.",
            "type": "object",
            "default": {},
            "additionalProperties": {"$ref": "#/$defs/block"},
        },
        "extras": {"type": "object", "patternProperties": {"^x_": {"type": ["string", "null"], "default": None}}},
    },
    "$defs": {
        "block": {
            "type": "object",
            "properties": {
                "kind": {"description": "Which kind.", "enum": ["a", "b"]},
                "size": {"description": "Its size.", "type": "number", "default": 1.5},
            },
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "a"}}},
                    "then": {
                        "description": "An a-block.",
                        "required": ["kind", "path"],
                        "properties": {"kind": {"const": "a"}, "path": {"description": "Where.", "type": "string"}},
                    },
                }
            ],
        }
    },
}


def table_rows(text):
    """Every table row of a render but the header and rule, as {key path: (type, default, description)}."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = tuple(cells[1:])
    return rows


def test_a_tiny_schema_renders_one_row_per_key_path():
    text = config_reference.render(TINY_SCHEMA, source="tiny.yaml")
    assert text.startswith("# Configuration reference\n") and "A tiny config." in text and "tiny.yaml" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## `run`", "## `blocks`", "## `extras`"]
    assert table_rows(text) == {
        "run": ("object", "*required*", "What to run."),
        "run.seeds": ("array of integer", "*required*", "Seeds \\| each once."),
        "run.mode": ("one of `fast`, `slow`", "`fast`", "*(no description)*"),
        "blocks": ("object", "`{}`", "Named blocks."),
        "blocks.<block>": ("object", "", "*(no description)* *When kind: a:* An a-block."),
        "blocks.<block>.kind": ("one of `a`, `b`", "", "Which kind."),
        "blocks.<block>.size": ("number", "`1.5`", "Its size."),
        "blocks.<block>.path": ("string", "*required*", "*When kind: a:* Where."),
        "extras": ("object", "", "*(no description)*"),
        "extras.<name matching `^x_`>": ("string or null", "`null`", "*(no description)*"),
    }


def test_the_committed_reference_is_the_schema_render():
    committed = config_reference.REFERENCE.read_text(encoding="utf-8")
    assert committed == config_reference.render(config_reference.load_schema()), (
        "docs/configuration.md is out of date: run `python -m lssd.config_reference`"
    )


def test_check_fails_and_says_so_when_the_reference_differs(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text("# an old reference\n")
    monkeypatch.setattr(config_reference, "REFERENCE", stale)
    monkeypatch.setattr(config_reference.config_files, "REPO", tmp_path)
    assert config_reference.main(["--check"]) == 1
    said = capsys.readouterr().err
    assert "configuration.md differs from the schema's render: run `python -m lssd.config_reference`" in said
    assert config_reference.main([]) == 0 and config_reference.main(["--check"]) == 0
    assert stale.read_text() == config_reference.render(config_reference.load_schema())


def test_the_command_checks_the_committed_reference():
    result = subprocess.run(
        [sys.executable, "-m", "lssd.config_reference", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "docs/configuration.md is up to date" in result.stdout
