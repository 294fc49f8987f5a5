"""Result tables with pandas: one per dataset, direction and metric; methods as rows, pairs as columns ordered by
training size (largest first, as the paper's tables), then the unweighted average over pairs.

A cell is the mean over the seeds that were run. Writes ``<prefix>.<metric>.csv`` and ``<prefix>.<metric>.md``.

Usage::

    python -m lssd.tables --manifest results/data/demo/manifest.json --methods baseline \
        --out-prefix results/tables/demo/m2o  results/eval/demo/m2o/*/seed*/*.test.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from lssd.io import atomic_path

METRICS = ("bleu", "chrf")
AVERAGE = "avg"


def load_results(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
        rows.append({key: result[key] for key in ("method", "seed", "pair", "split", *METRICS)})
    return pd.DataFrame(rows)


def pair_language(pair: str, pivot: str) -> str:
    """The non-English side of a pair: the column name (``bos-eng`` and ``eng-bos`` are both ``bos``)."""
    source, target = pair.split("-")
    return target if source == pivot else source


def results_table(results: pd.DataFrame, metric: str, methods: list[str], languages: list[str], pivot: str):
    """Methods × languages (+ ``avg``) of the seed-mean of ``metric``; the average is over the listed languages."""
    frame = results.assign(language=[pair_language(pair, pivot) for pair in results["pair"]])
    table = frame.groupby(["method", "language"])[metric].mean().unstack("language")
    missing = [lang for lang in languages if lang not in table.columns]
    if missing:
        raise ValueError(f"no {metric} result for language(s) {', '.join(missing)}")
    table = table.reindex(index=[m for m in methods if m in table.index], columns=languages)
    table[AVERAGE] = table[languages].mean(axis=1)
    table.index.name = "method"
    return table.round(2)


def languages_by_training_size(manifest: dict) -> list[str]:
    sizes = {lang: info["sizes"]["train"] for lang, info in manifest["languages"].items()}
    return sorted(sizes, key=lambda lang: (-sizes[lang], lang))


def write_table(table: pd.DataFrame, prefix: Path, metric: str, title: str) -> None:
    with atomic_path(f"{prefix}.{metric}.csv") as tmp:
        table.to_csv(tmp, float_format="%.2f")
    with atomic_path(f"{prefix}.{metric}.md") as tmp:
        tmp.write_text(f"### {title}\n\n{table.to_markdown(floatfmt='.2f')}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="per-pair result tables for one dataset and direction")
    parser.add_argument("--manifest", required=True, type=Path, help="the dataset's data manifest (training sizes)")
    parser.add_argument("--methods", required=True, help="comma-separated methods, in row order")
    parser.add_argument("--out-prefix", required=True, type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("results", nargs="+", type=Path, help="per-pair evaluation JSON files")
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    results = load_results(args.results)
    languages = languages_by_training_size(manifest)
    for metric in METRICS:
        table = results_table(results, metric, args.methods.split(","), languages, manifest["pivot"])
        write_table(table, args.out_prefix, metric, f"{args.title} {metric.upper()}".strip())
        print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
