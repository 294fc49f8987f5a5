"""Per-pair best results in the report: each pair translated with its own best checkpoint (the epoch of its lowest
dev loss; ``lssd.run.evaluate_pair_best``), read from the evaluation JSONs that carry a ``pair_best`` object
(``{"epoch", "checkpoint", "models", "reused_one_model"}``; ``models``: how many distinct checkpoints the run's pairs
used).

The tables (``lssd.report.tables --pair-best``) show them as a row right after each method's one-model row,
"<method>, per-pair best (k models)", computed over seeds exactly as that row; the gap table (``lssd.report.gap``)
and the figure (``lssd.report.figures pair_best``) compare them with the baseline and the LSSD variants.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lssd.io import read_json
from lssd.report.table_render import method_title

PAIR_BEST = "pair_best"  # the key of an evaluation JSON's per-pair best object, and its table rows' kind
MODELS = "models"


def pair_best_info(path: Path) -> dict:
    """The ``pair_best`` object of a per-pair best evaluation JSON (an error naming the file where it has none)."""
    advice = f"delete the run's per-pair best evaluation directory {path.parent} and run snakemake again"
    data = read_json(path, required=(PAIR_BEST,), advice=advice)
    info = data[PAIR_BEST]
    if not isinstance(info, dict) or not isinstance(info.get(MODELS), int):
        raise ValueError(f"{path}: its '{PAIR_BEST}' object has no integer '{MODELS}'; {advice}")
    return info


def load_pair_best(paths: list[Path]) -> pd.DataFrame:
    """The per-pair best results as ``lssd.report.tables.load_results`` reads one-model ones, plus a ``models``
    column (the run's number of distinct checkpoints)."""
    from lssd.report.tables import load_results

    results = load_results(paths)
    return results.assign(**{MODELS: [pair_best_info(path)[MODELS] for path in paths]})


def models_label(counts) -> str:
    """``3 models``; several seeds that used different numbers: ``2–3 models``; one: ``1 model``."""
    distinct = sorted(set(int(count) for count in counts))
    if not distinct:
        raise ValueError("no per-pair best result to count the models of")
    low, high = distinct[0], distinct[-1]
    span = f"{low}" if low == high else f"{low}–{high}"
    return f"{span} model" + ("" if span == "1" else "s")


def pair_best_title(method: str, counts) -> str:
    """The title of a method's per-pair best row: "<method title>, per-pair best (k models)"."""
    return f"{method_title(method)}, per-pair best ({models_label(counts)})"


def method_models(results: pd.DataFrame) -> dict[str, list[int]]:
    """``{method: [models of each of its results]}`` of per-pair best results (``load_pair_best``)."""
    return {method: group[MODELS].tolist() for method, group in results.groupby("method")}
