"""The configuration reference, docs/configuration.md, rendered from the schema's descriptions so that it cannot
drift from what the workflow validates: one table row per dotted key path, with its type, default and description.
Named blocks (``additionalProperties``, ``patternProperties``) appear as ``<name>`` placeholders, the variants of an
``if``/``then`` as rows marked with their condition.

    python -m lssd.config_reference           # (re)write docs/configuration.md
    python -m lssd.config_reference --check   # exit 1 if the committed file differs from the schema's render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from lssd import config as lssd_config
from lssd import config_files, io

REFERENCE = config_files.REPO / "docs" / "configuration.md"
UNDESCRIBED = "*(no description)*"
COMMAND = "python -m lssd.config_reference"


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str


def resolve(node: dict, root: dict) -> dict:
    """``node`` with its local ``$ref`` (``#/$defs/name``) merged in; the node's own keys win."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot follow $ref {ref!r}")
        seen.add(ref)
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
    return node


def placeholder(node: dict) -> str:
    """The ``<name>`` that stands for any key of a mapping of named blocks: the name of the definition its values
    (or else its keys) refer to, else ``<name>``."""
    for ref in ((node.get("additionalProperties") or {}), (node.get("propertyNames") or {})):
        if isinstance(ref, dict) and str(ref.get("$ref", "")).startswith("#/$defs/"):
            return f"<{ref['$ref'].rsplit('/', 1)[-1]}>"
    return "<name>"


def flow(value) -> str:
    """A value as YAML flow style, on one line: ``[m2o, o2m]``, ``{}``, ``null``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def type_of(node: dict, root: dict) -> str:
    node = resolve(node, root)
    if "const" in node:
        return f"`{flow(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{flow(value)}`" for value in node["enum"])
    kinds = node.get("type")
    if kinds is None:
        kinds = "object" if "properties" in node or "additionalProperties" in node else "any"
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if kinds == ["array"] and isinstance(node.get("items"), dict):
        return f"array of {type_of(node['items'], root)}"
    return " or ".join(kinds)


def condition(branch: dict) -> str:
    """An ``if`` of ``properties: {key: {const: value}}`` as ``key: value``."""
    parts = [
        f"{key}: {flow(spec['const'])}"
        for key, spec in (branch.get("properties") or {}).items()
        if isinstance(spec, dict) and "const" in spec
    ]
    return ", ".join(parts) or flow(branch)


def describe(node: dict, root: dict, required: bool, when: str | None) -> tuple[str, str]:
    """The default and description cells of one key; the descriptions of its ``if``/``then`` variants follow
    its own, each marked with its condition."""
    if "default" in node:
        default = f"`{flow(node['default'])}`"
    else:
        default = "*required*" if required else ""
    parts = [f"*When {when}:* " if when else "", str(node.get("description") or UNDESCRIBED)]
    for when_variant, then in variants(node, root):
        if then.get("description"):
            parts.append(f" *When {when_variant}:* {then['description']}")
    return default, " ".join("".join(parts).split())


def variants(node: dict, root: dict) -> Iterator[tuple[str, dict]]:
    """The ``allOf`` branches of ``if``/``then`` form: each one's condition and (resolved) ``then``."""
    for branch in node.get("allOf") or ():
        if isinstance(branch, dict) and "if" in branch and isinstance(branch.get("then"), dict):
            yield condition(branch["if"]), resolve(branch["then"], root)


def rows(node: dict, root: dict, path: str = "", required: bool = False, when: str | None = None) -> Iterator[Row]:
    """The row of ``path`` (none for the root) and those of every key below it, depth first."""
    node = resolve(node, root)
    if path:
        default, description = describe(node, root, required, when)
        yield Row(path, type_of(node, root), default, description)
    yield from children(node, root, path)


def children(node: dict, root: dict, path: str) -> Iterator[Row]:
    """The rows of every key below ``path``: its properties, its variants', its items' (``path[]``), its named
    blocks' (``<name>``)."""
    prefix = f"{path}." if path else ""
    own = node.get("properties") or {}
    needed = set(node.get("required") or ())
    for key, child in own.items():
        yield from rows(child, root, prefix + key, key in needed)
    for when_variant, then in variants(node, root):
        variant_needed = set(then.get("required") or ())
        for key, child in (then.get("properties") or {}).items():
            if key not in own:  # the discriminating key (kind) has its row already
                yield from rows(child, root, prefix + key, key in variant_needed, when_variant)
    items = node.get("items")
    if isinstance(items, dict) and "properties" in resolve(items, root):
        yield from children(resolve(items, root), root, f"{path}[]")
    named = node.get("additionalProperties")
    if isinstance(named, dict):
        yield from rows(named, root, prefix + placeholder(node))
    for pattern, child in (node.get("patternProperties") or {}).items():
        yield from rows(child, root, f"{prefix}<name matching `{pattern}`>")


def render(schema: dict, source: str = "workflow/schemas/config.schema.yaml") -> str:
    """The Markdown reference of ``schema``: an introduction, then one table per top-level key."""
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated by `{COMMAND}` from {source}; do not edit by hand. -->",
        "",
        " ".join(str(schema.get("description") or UNDESCRIBED).split()),
        "",
        f"Generated from `{source}`: run `{COMMAND}` after changing it (the tests check that this file matches).",
        "In a key path, a part in angle brackets (`<dataset>`, `<name>`) stands for any name you choose.",
    ]
    for row in rows(schema, schema):
        if "." not in row.path:
            lines += ["", f"## `{row.path}`", "", "| key | type | default | description |", "|---|---|---|---|"]
        cells = (f"`{row.path}`", row.type, row.default, row.description)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def load_schema(path: Path = config_files.SCHEMA) -> dict:
    return config_files.load_config_file(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed reference is out of date")
    args = parser.parse_args(argv)
    try:
        text = render(load_schema())
    except lssd_config.ConfigError as error:
        print(f"cannot read the schema: {error}", file=sys.stderr)
        return 1
    shown = REFERENCE.relative_to(config_files.REPO)
    if args.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else None
        if current != text:
            state = "is missing" if current is None else "differs from the schema's render"
            print(f"{shown} {state}: run `{COMMAND}` and commit the result", file=sys.stderr)
            return 1
        print(f"{shown} is up to date")
        return 0
    io.write_text(REFERENCE, text)
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
