"""A config as the workflow sees it, for every command outside Snakemake (the status command, the disk estimate,
the benchmarks): the files merged in order as Snakemake merges ``configfile`` and ``--configfile`` (later ones
override, mappings merged key by key), the schema's defaults filled in and the workflow's checks passed
(``lssd.config_checks``). Snakemake itself loads the files for the rules; the checks are the same.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lssd import config as lssd_config
from lssd import config_checks

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = REPO / "config" / "config.yaml"  # the Snakefile's configfile: every config starts from it
PAPER = REPO / "config" / "paper.yaml"


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's complaint and where: 'expected ',' or ']', but got '<stream end>', line 2 column 1'."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem}, line {mark.line + 1} column {mark.column + 1}" if mark else problem


def load_config_file(path: Path) -> dict:
    """One config file as a mapping; a missing, unparsable or non-mapping file is a ConfigError naming it."""
    try:
        config_checks.check_config_files([path])  # also refuses a key given twice
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise lssd_config.ConfigError(f"{path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise lssd_config.ConfigError(f"{path}: not valid YAML ({yaml_problem(error)})") from None
    if data is not None and not isinstance(data, dict):
        raise lssd_config.ConfigError(f"{path}: not a mapping of settings (a YAML {type(data).__name__})")
    return data or {}


def load_config(configfiles: list[Path]) -> dict:
    """The config as the workflow sees it: the files merged in order (later ones override, mappings merged key
    by key, as Snakemake merges them), the schema's defaults filled in, the workflow's checks passed (an unknown
    method or dataset in ``run`` is a ConfigError naming the key)."""
    from snakemake.utils import update_config

    config: dict = {}
    for path in configfiles:
        update_config(config, load_config_file(path))
    config_checks.validate_config(config, SCHEMA)
    return config
