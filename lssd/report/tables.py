"""Paper-style result tables with pandas: one per dataset, direction and metric, in CSV, Markdown and LaTeX.

Rows are the methods; columns the pairs (named by their non-English language) from high- to low-resource
(training size), then the average over pairs and the low- and high-resource averages (by the languages' roles).
A cell is the mean over seeds, with the standard deviation when several seeds ran (averages are computed per seed
first). ``†`` marks a significant gain over the baseline (paired bootstrap on the first seed,
``lssd.report.significance``). For a paper setting, the published rows follow, marked as published, then the
differences of our numbers to them; the CSV's ``kind`` column says which row is which
(``computed | pair_best | published | difference``): a published number is never in a computed row.

With ``--pair-best`` (the per-pair best evaluation JSONs, ``lssd.report.pair_best``), each method that has them
gets a row right after its one-model row, "<method>, per-pair best (k models)" (kind ``pair_best``): each pair
translated with its own best checkpoint, seed means and averages as the computed rows; never bold, never in a Δ row.

Rows are shown by the paper's method names (``table_render.method_title``; the CSV's ``method`` column keeps the
config key, ``title`` the name shown); the best computed mean per column is bold (``<column>_best`` in the CSV);
under each table, the metric's sacrebleu signature(s) from the evaluation files, with their pairs when they differ.
Rendering: ``lssd.report.table_render``.

Four tables (lssd.metrics.TABLES): ``bleu`` (sacreBLEU against the raw references, the standard number;
it carries the significance marks), ``spm_ref_bleu`` (against the references rebuilt from the binarized test set,
as the original scored: the published and Δ rows are in this table only), ``chrf`` and ``chrfpp`` (chrF++).

Usage::

    python -m lssd.report.tables --manifest M.json --methods baseline,lssd_whole --out-prefix results/tables/demo/m2o \
        [--direction m2o --paper-setting ted8_diverse] [--significance S.json ...] RESULT.json ... \
        [--pair-best PAIR_BEST_RESULT.json ...]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from lssd.config import pair_language
from lssd.io import read_json, run_cli
from lssd.metrics import PUBLISHED_METRIC, SIGNIFICANCE_METRIC, TABLES, signature_key
from lssd.report.pair_best import PAIR_BEST, load_pair_best, method_models, pair_best_title
from lssd.report.published import compared_with, published_rows

# the rendering lives in table_render (this module's size); its names stay importable from here
from lssd.report.table_render import (  # noqa: F401
    display_frame,
    format_cell,
    latex_symbols,
    method_title,
    render_csv,
    render_latex,
    render_markdown,
    write_tables,
)

AVERAGE, LOW_AVERAGE, HIGH_AVERAGE = "avg", "low_avg", "high_avg"


def load_results(paths: list[Path]) -> pd.DataFrame:
    rows = []
    keys = ("method", "seed", "pair", "split", *TABLES)
    for path in paths:
        # a run's evaluation files are one job's output (its directory): that job is redone as a whole
        advice = f"delete the run's evaluation directory {path.parent} and run snakemake again (it is evaluated again)"
        result = read_json(path, required=keys, advice=advice)
        # signatures are optional: evaluation files written before they were kept still make a table
        signatures = {signature_key(metric): result.get(signature_key(metric)) for metric in TABLES}
        rows.append({**{key: result[key] for key in keys}, **signatures})
    return pd.DataFrame(rows)


def table_signatures(results: pd.DataFrame, metric: str, languages: list[str], pivot: str) -> dict[str, list[str]]:
    """``{signature: [pair, ...]}`` of a metric over the table's runs, pairs in column order; pairs whose files
    carry no signature are left out (no signature at all: ``{}``)."""
    column = signature_key(metric)
    if column not in results:
        return {}
    order = {lang: index for index, lang in enumerate(languages)}
    signed = results.dropna(subset=[column])
    pairs = sorted(set(zip(signed["pair"], signed[column], strict=True)))
    pairs.sort(key=lambda item: (order.get(pair_language(item[0], pivot), len(order)), item[0]))
    signatures: dict[str, list[str]] = {}
    for pair, signature in pairs:
        signatures.setdefault(signature, []).append(pair)
    return signatures


def languages_by_training_size(manifest: dict) -> list[str]:
    sizes = {lang: info["sizes"]["train"] for lang, info in manifest["languages"].items()}
    return sorted(sizes, key=lambda lang: (-sizes[lang], lang))


def language_roles(manifest: dict) -> dict[str, str | None]:
    return {lang: info.get("role") for lang, info in manifest["languages"].items()}


def with_roles(manifest: dict, roles: str | None) -> dict:
    """The manifest with the languages' roles from ``--roles bos=low,fra=high`` (the config's ``role`` keys).

    Roles come from the config through the report rules, not from the data manifest: changing a role then
    rebuilds the tables and figures only, not the data and everything trained on it.
    """
    if roles is None:
        return manifest
    languages = {lang: dict(info) for lang, info in manifest["languages"].items()}
    for info in languages.values():
        info.pop("role", None)
    for item in filter(None, roles.split(",")):
        lang, _, role = item.partition("=")
        if lang not in languages or not role:
            raise ValueError(f"--roles: '{item}' is not LANG=ROLE for a language of the manifest")
        languages[lang]["role"] = role
    return {**manifest, "languages": languages}


def average_columns(languages: list[str], roles: dict[str, str | None]) -> dict[str, list[str]]:
    columns = {AVERAGE: languages}
    for name, role in ((LOW_AVERAGE, "low"), (HIGH_AVERAGE, "high")):
        members = [lang for lang in languages if roles.get(lang) == role]
        if members:
            columns[name] = members
    return columns


def per_seed_table(results: pd.DataFrame, metric: str, languages: list[str], roles: dict, pivot: str):
    """(method, seed) × columns: every language's score and the averages, for each seed separately."""
    frame = results.assign(language=[pair_language(pair, pivot) for pair in results["pair"]])
    table = frame.pivot_table(index=["method", "seed"], columns="language", values=metric, aggfunc="mean")
    missing = [lang for lang in languages if lang not in table.columns]
    if missing:
        raise ValueError(f"no {metric} result for language(s) {', '.join(missing)}")
    incomplete = table[languages].isna().any(axis=1)
    if incomplete.any():
        raise ValueError(f"runs without a {metric} score for every pair: {list(table.index[incomplete])}")
    table = table[languages].copy()
    for name, members in average_columns(languages, roles).items():
        table[name] = table[members].mean(axis=1)
    return table


def results_table(results, metric, methods, languages, pivot, roles=None):
    """Methods × columns of the seed-mean of ``metric`` (rounded to 2 decimals)."""
    mean, _, _ = seed_statistics(results, metric, methods, languages, pivot, roles or {})
    return mean.round(2)


def seed_statistics(results, metric, methods, languages, pivot, roles):
    """Mean and standard deviation over seeds, and the number of seeds, per method and column."""
    per_seed = per_seed_table(results, metric, languages, roles, pivot)
    grouped = per_seed.groupby(level="method")
    order = [m for m in methods if m in grouped.groups]
    mean = grouped.mean().reindex(order)
    std = grouped.std(ddof=1).reindex(order)
    seeds = grouped.size().reindex(order)
    mean.index.name = std.index.name = "method"
    return mean, std, seeds


def significance_marks(paths: list[Path], pivot: str) -> dict[tuple[str, str], bool]:
    marks = {}
    for path in paths:
        data = read_json(path, required=("method", "pairs"))
        for pair, test in data["pairs"].items():
            marks[(data["method"], pair_language(pair, pivot))] = bool(test["significant_gain"])
    return marks


def measured_row(kind, method, title, statistics, marks, sampled) -> dict:
    """A row of our numbers (``statistics``: ``seed_statistics``' mean, std and seeds): the seed means, with the
    standard deviation when several seeds ran."""
    mean, std, seeds = statistics
    cells = {}
    for column in mean.columns:
        deviation = std.loc[method, column] if seeds[method] > 1 else None
        cells[column] = (mean.loc[method, column], deviation, marks.get((method, column), False))
    source = f"{seeds[method]} seed(s){sampled}"
    return {"kind": kind, "label": method, "title": title, "source": source, "cells": cells}


def build_rows(
    mean, std, seeds, marks, published, methods_run, temperature=None, lssd_methods=(), pair_best=None
) -> list[dict]:
    """The table as rows: computed (each followed by its method's per-pair best row when ``pair_best``, a
    ``(mean, std, seeds, {method: [models, ...]})`` of the per-pair best results, has it), then published, then
    differences (ours − published; a published baseline only against ours at its sampling ``temperature``)."""
    columns = list(mean.columns)
    rows = []
    sampled = f", τ={temperature:g}" if temperature is not None else ""
    for method in mean.index:
        rows.append(measured_row("computed", method, method_title(method), (mean, std, seeds), marks, sampled))
        if pair_best is not None and method in pair_best[0].index:
            title = pair_best_title(method, pair_best[3][method])
            rows.append(measured_row(PAIR_BEST, method, title, pair_best[:3], {}, sampled))
    for row in published:
        cells = {c: (row["values"][c], None, False) for c in columns if c in row["values"]}
        label = f"published: {row['name']}"
        rows.append({"kind": "published", "label": label, "title": label, "source": row["source"], "cells": cells})
    for row in published:
        compare = compared_with(row, temperature)
        targets = [compare] if compare in mean.index else []
        if compare == "lssd":
            targets = [m for m in mean.index if m in lssd_methods]
        for method in targets:
            cells = {
                c: (mean.loc[method, c] - row["values"][c], None, False)
                for c in columns
                if c in row["values"] and not math.isnan(mean.loc[method, c])
            }
            label, title = (f"Δ {name} − published {row['name']}" for name in (method, method_title(method)))
            rows.append({"kind": "difference", "label": label, "title": title, "source": row["source"], "cells": cells})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="per-pair result tables for one dataset and direction")
    parser.add_argument("--manifest", required=True, type=Path, help="the dataset's data manifest (sizes, roles)")
    parser.add_argument("--roles", help="LANG=ROLE,... (low/high, for the averages); default: the manifest's")
    parser.add_argument("--methods", required=True, help="comma-separated methods, in row order")
    parser.add_argument("--out-prefix", required=True, type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--direction", choices=["m2o", "o2m"], help="for the published rows")
    parser.add_argument("--paper-setting", default=None, help="ted8_diverse | ted8_related | wmt6 (published rows)")
    parser.add_argument(
        "--lssd-methods",
        type=lambda value: [name for name in value.split(",") if name],
        default=[],
        help="comma-separated methods that distil (the rows compared with a published LSSD row)",
    )
    parser.add_argument(
        "--temperature", type=float, help="the sampling temperature our runs trained at (which published baseline)"
    )
    parser.add_argument(
        "--significance", action="append", default=[], type=Path, help="an lssd.report.significance output"
    )
    parser.add_argument(
        "--pair-best",
        nargs="+",
        action="extend",
        default=[],
        type=Path,
        help="per-pair best evaluation JSON files (after the results, or the option repeated)",
    )
    parser.add_argument("results", nargs="+", type=Path, help="per-pair evaluation JSON files")
    args = parser.parse_args(argv)
    manifest = with_roles(read_json(args.manifest, required=("languages", "pivot")), args.roles)
    results = load_results(args.results)
    languages = languages_by_training_size(manifest)
    roles = language_roles(manifest)
    methods = args.methods.split(",")
    marks = significance_marks(args.significance, manifest["pivot"])
    best_results = load_pair_best(args.pair_best) if args.pair_best else None
    for metric in TABLES:
        mean, std, seeds = seed_statistics(results, metric, methods, languages, manifest["pivot"], roles)
        published = published_rows(args.paper_setting, args.direction) if metric == PUBLISHED_METRIC else []
        marked = marks if metric == SIGNIFICANCE_METRIC else {}
        pair_best = None
        if best_results is not None:
            statistics = seed_statistics(best_results, metric, methods, languages, manifest["pivot"], roles)
            pair_best = (*statistics, method_models(best_results))
        rows = build_rows(mean, std, seeds, marked, published, methods, args.temperature, args.lssd_methods, pair_best)
        title = f"{args.title} {TABLES[metric].title}".strip()
        signatures = table_signatures(results[results["method"].isin(methods)], metric, languages, manifest["pivot"])
        print(write_tables(rows, list(mean.columns), args.out_prefix, metric, title, signatures))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
