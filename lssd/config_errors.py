"""The config's schema check (``lssd.config_checks.validate_config``) and its errors as a reader wants them: one line
per error, the key's dotted path (``trainings.demo_tiny.max_epochs``), where it was given (a config file or
``--config``) and the problem in plain words (``unknown key 'max_epochs'; did you mean 'max_epoch'?``), the most
specific first; no schema dump. Built from jsonschema's error objects (path, validator, the failing subschema)."""

from __future__ import annotations

import copy
import difflib
import reprlib

from lssd.config import ConfigError

MAX_SHOWN = 5  # errors listed; the rest are counted
HINT = "(every key and what it means: docs/configuration.md; what is checked: docs/configuring.md)"


def key_path(path) -> str:
    """``run.seeds[0]`` for jsonschema's path ``['run', 'seeds', 0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def strict_validator(schema: dict, set_defaults: bool = False):
    """A validator of ``schema`` for which an integer is an int: jsonschema accepts 2.0 (and 1e20) as integers,
    which fairseq and SentencePiece then reject, or read as something else, hours later. With ``set_defaults`` it
    also fills in every missing key that has a ``default`` (as Snakemake's validation does), a copy of it each."""
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    keywords = {}
    if set_defaults:
        check_properties = base.VALIDATORS["properties"]

        def properties_with_defaults(validator, properties, instance, schema):
            if validator.is_type(instance, "object"):
                for name, subschema in properties.items():
                    if isinstance(subschema, dict) and "default" in subschema:
                        instance.setdefault(name, copy.deepcopy(subschema["default"]))
            yield from check_properties(validator, properties, instance, schema)

        keywords["properties"] = properties_with_defaults
    return jsonschema.validators.extend(base, keywords, type_checker=checker)(schema)


def without_defaults(schema):
    """The schema with every ``default`` removed (for override blocks: a default there would override)."""
    if isinstance(schema, dict):
        return {key: without_defaults(value) for key, value in schema.items() if key != "default"}
    if isinstance(schema, list):
        return [without_defaults(value) for value in schema]
    return schema


def override_blocks(config: dict):
    """Every block of training overrides, with its key: the presets' by_direction, the methods' training."""
    for name, preset in (config.get("trainings") or {}).items():
        for direction, block in (preset.get("by_direction") or {}).items():
            yield ["trainings", name, "by_direction", direction], block
    for name, method in (config.get("methods") or {}).items():
        for direction, block in (method.get("by_direction") or {}).items():
            if (block or {}).get("training") is not None:
                yield ["methods", name, "by_direction", direction, "training"], block["training"]
        for dataset, by_direction in (method.get("by_dataset") or {}).items():
            for direction, block in (by_direction or {}).items():
                if (block or {}).get("training") is not None:
                    yield ["methods", name, "by_dataset", dataset, direction, "training"], block["training"]


def short(value) -> str:
    """A value as the error shows it: its repr, cut short for a long list or mapping."""
    brief = reprlib.Repr()
    brief.maxstring, brief.maxother, brief.maxlist, brief.maxdict, brief.maxlevel = 60, 60, 4, 4, 2
    return brief.repr(value)


def unknown_keys(error, unknown: str) -> list[tuple[list, str]]:
    """An ``additionalProperties: false`` error: each key it names, with the nearest allowed key at its level
    (difflib), else the allowed keys."""
    allowed = sorted(error.schema.get("properties") or {})
    found = []
    for name in sorted(set(error.instance) - set(allowed), key=str):
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean '{close[0]}'?"
        else:
            hint = f" (allowed here: {', '.join(allowed)})" if allowed else " (no keys are allowed here)"
        found.append(([*error.absolute_path, name], f"{unknown} '{name}'{hint}"))
    return found


def problems(error, unknown: str = "unknown key") -> list[tuple[list, str]]:
    """One jsonschema error as ``(key path, problem in plain words)`` pairs: an unknown key and a missing one are
    named themselves; an anyOf/oneOf names its best-matching branch's error."""
    import jsonschema

    if error.context:
        return problems(jsonschema.exceptions.best_match(error.context), unknown)
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        found = unknown_keys(error, unknown)
        if found:
            return found
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [([*path, name], f"missing; '{name}' is a required key here") for name in missing]
    if "propertyNames" in error.absolute_schema_path:
        return [([*path, error.instance], f"the name {error.message}")]
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [(path, f"{short(error.instance)} is not of type {', '.join(map(repr, expected))}")]
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    return [(path, message)]


def schema_problems(validator, instance, prefix=(), unknown: str = "unknown key") -> list[tuple[list, str]]:
    """Every error of ``instance``, as ``(key path, problem)``, each once."""
    found = []
    for error in validator.iter_errors(instance):
        for path, problem in problems(error, unknown):
            if ([*prefix, *path], problem) not in found:
                found.append(([*prefix, *path], problem))
    return found


def most_specific_first(found: list[tuple[list, str]]) -> list[tuple[list, str]]:
    """The deepest key paths first, then in the order of their dotted paths."""
    return sorted(found, key=lambda item: (-len(item[0]), key_path(item[0])))


def depth_in(data, path) -> int:
    """How many leading parts of ``path`` ``data`` holds."""
    depth = 0
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            break
        depth += 1
    return depth


def source_of(path, sources) -> str | None:
    """Which of ``sources`` (``(label, data)`` in merge order: config files, then ``--config``) gave the key: the
    one holding most of its path, the later of equals (it overrides); None when none holds even its first part."""
    best, best_depth = None, 0
    for label, data in sources or ():
        depth = depth_in(data, path)
        if depth and depth >= best_depth:
            best, best_depth = label, depth
    return best


def error_message(found: list[tuple[list, str]], sources=None) -> str:
    """The message: one line per error (``key.path (from source): problem``), at most MAX_SHOWN, then a hint."""
    lines = []
    for path, problem in found[:MAX_SHOWN]:
        source = source_of(path, sources)
        where = key_path(path) or "the config"
        lines.append(f"{where} (from {source}): {problem}" if source else f"{where}: {problem}")
    if len(found) > MAX_SHOWN:
        lines.append(f"... and {len(found) - MAX_SHOWN} more")
    lines.append(HINT)
    return "\n  ".join(lines)


def check_schema(config: dict, schema: dict, sources=None) -> None:
    """The schema, strictly (integers are ints), filling in the defaults; then the override blocks
    (``trainings.<p>.by_direction.<d>``, ``methods.<m>...training``), which must satisfy the training schema's
    types and bounds key by key (``max_epoch: 0`` would make fairseq train forever). Raises ConfigError listing
    every error of the first that fails; ``sources`` (``(label, data)`` pairs) name where each key was given."""
    found = schema_problems(strict_validator(schema, set_defaults=True), config)
    if not found:
        training = without_defaults(schema["$defs"]["training"])
        override = {
            "$schema": schema.get("$schema"),
            "type": "object",
            "additionalProperties": False,
            "properties": {key: value for key, value in training["properties"].items() if key != "by_direction"},
        }
        validator = strict_validator(override)
        for path, block in override_blocks(config):
            found += schema_problems(validator, block or {}, path, unknown="unknown training setting")
    if found:
        raise ConfigError(error_message(most_specific_first(found), sources))
