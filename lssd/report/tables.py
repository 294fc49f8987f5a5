"""Paper-style result tables with pandas: one per dataset, direction and metric, in CSV, Markdown and LaTeX.

Rows are the methods; columns the pairs (named by their non-English language) from high- to low-resource
(training size), then the average over pairs and the low- and high-resource averages (by the languages' roles).
A cell is the mean over seeds, with the standard deviation when several seeds ran (averages are computed per seed
first). ``†`` marks a significant gain over the baseline (paired bootstrap on the first seed,
``lssd.report.significance``). For a paper setting, the published rows follow, marked as published, then the
differences of our numbers to them; the CSV's ``kind`` column says which row is which
(``computed | published | difference``): a published number is never in a computed row.

Four tables (lssd.metrics.TABLES): ``bleu`` (sacreBLEU against the raw references, the standard number;
it carries the significance marks), ``spm_ref_bleu`` (against the references rebuilt from the binarized test set,
as the original scored: the published and Δ rows are in this table only), ``chrf`` and ``chrfpp`` (chrF++).

Usage::

    python -m lssd.report.tables --manifest M.json --methods baseline,lssd_whole --out-prefix results/tables/demo/m2o \
        [--direction m2o --paper-setting ted8_diverse] [--significance S.json ...] RESULT.json ...
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from lssd.config import pair_language
from lssd.io import atomic_path, read_json, run_cli
from lssd.metrics import PUBLISHED_METRIC, SIGNIFICANCE_METRIC, SIGNIFICANT, TABLES, table_note
from lssd.report.published import compared_with, published_rows

AVERAGE, LOW_AVERAGE, HIGH_AVERAGE = "avg", "low_avg", "high_avg"


def load_results(paths: list[Path]) -> pd.DataFrame:
    rows = []
    keys = ("method", "seed", "pair", "split", *TABLES)
    for path in paths:
        # a run's evaluation files are one job's output (its directory): that job is redone as a whole
        advice = f"delete the run's evaluation directory {path.parent} and run snakemake again (it is evaluated again)"
        result = read_json(path, required=keys, advice=advice)
        rows.append({key: result[key] for key in keys})
    return pd.DataFrame(rows)


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


def build_rows(mean, std, seeds, marks, published, methods_run, temperature=None, lssd_methods=()) -> list[dict]:
    """The table as rows: computed, then published, then differences (ours − published; a published baseline
    only against ours at its sampling ``temperature``)."""
    columns = list(mean.columns)
    rows = []
    sampled = f", τ={temperature:g}" if temperature is not None else ""
    for method in mean.index:
        cells = {}
        for column in columns:
            deviation = std.loc[method, column] if seeds[method] > 1 else None
            cells[column] = (mean.loc[method, column], deviation, marks.get((method, column), False))
        source = f"{seeds[method]} seed(s){sampled}"
        rows.append({"kind": "computed", "label": method, "source": source, "cells": cells})
    for row in published:
        cells = {c: (row["values"][c], None, False) for c in columns if c in row["values"]}
        rows.append(
            {"kind": "published", "label": f"published: {row['name']}", "source": row["source"], "cells": cells}
        )
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
            label = f"Δ {method} − published {row['name']}"
            rows.append({"kind": "difference", "label": label, "source": row["source"], "cells": cells})
    return rows


def format_cell(cell, plus=False) -> str:
    if cell is None:
        return ""
    value, deviation, significant = cell
    text = f"{value:+.2f}" if plus else f"{value:.2f}"
    if deviation is not None and not math.isnan(deviation):
        text += f" ± {deviation:.2f}"
    return text + (SIGNIFICANT if significant else "")


def render_csv(rows, columns) -> pd.DataFrame:
    records = []
    for row in rows:
        record = {"method": row["label"], "kind": row["kind"], "source": row["source"]}
        for column in columns:
            cell = row["cells"].get(column)
            record[column] = None if cell is None else round(float(cell[0]), 4)
            if row["kind"] == "computed":
                record[f"{column}_std"] = None if cell is None or cell[1] is None else round(float(cell[1]), 4)
                record[f"{column}_significant"] = bool(cell[2]) if cell is not None else False
        records.append(record)
    return pd.DataFrame(records)


def display_frame(rows, columns) -> pd.DataFrame:
    """The table as it is shown: one row per table row, the cells formatted (Δ rows signed)."""
    records = []
    for row in rows:
        plus = row["kind"] == "difference"
        records.append([row["label"], *(format_cell(row["cells"].get(c), plus) for c in columns)])
    return pd.DataFrame(records, columns=["method", *columns])


def render_markdown(rows, columns, title, note) -> str:
    frame = display_frame(rows, columns)
    italic = [row["kind"] != "computed" for row in rows]
    frame["method"] = [
        f"*{label}*" if slanted else label for label, slanted in zip(frame["method"], italic, strict=True)
    ]
    # disable_numparse: the cells are already formatted ("14.20", "+3.57"); tabulate would reformat numbers
    table = frame.to_markdown(index=False, colalign=("left", *["right"] * len(columns)), disable_numparse=True)
    return "\n".join([f"### {title}", "", table, "", note, ""])


LATEX_SYMBOLS = (
    ("†", r"$^\dagger$"),
    ("±", r"$\pm$"),
    ("Δ", r"$\Delta$"),
    ("−", "--"),
    ("τ", r"$\tau$"),
    ("χ", r"$\chi$"),
)


def latex_symbols(text: str) -> str:
    """The symbols of the tables in LaTeX math (after pandas escaped the text)."""
    for char, replacement in LATEX_SYMBOLS:
        text = text.replace(char, replacement)
    return text


def render_latex(rows, columns, title, note) -> str:
    """booktabs LaTeX (pandas' Styler), a rule between the computed, published and Δ rows."""
    frame = display_frame(rows, columns).rename(columns={"method": "Method"})
    italic = pd.IndexSlice[[index for index, row in enumerate(rows) if row["kind"] != "computed"], ["Method"]]
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    styler = styler.map(lambda _: "textit:--rwrap;", subset=italic)
    lines = styler.to_latex(hrules=True, column_format="l" + "r" * len(columns)).splitlines()
    body = lines.index(r"\midrule") + 1
    for offset in reversed(range(1, len(rows))):
        if rows[offset]["kind"] != rows[offset - 1]["kind"]:
            lines.insert(body + offset, r"\midrule")
    escaped_note = note
    for char, replacement in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        escaped_note = escaped_note.replace(char, replacement)
    return latex_symbols("\n".join([f"% {title}", *lines, f"% {escaped_note}", ""]))


def write_tables(rows, columns, prefix: Path, metric: str, title: str) -> None:
    note = table_note(metric)
    with atomic_path(f"{prefix}.{metric}.csv") as tmp:
        render_csv(rows, columns).to_csv(tmp, index=False)
    with atomic_path(f"{prefix}.{metric}.md") as tmp:
        tmp.write_text(render_markdown(rows, columns, title, note), encoding="utf-8")
    with atomic_path(f"{prefix}.{metric}.tex") as tmp:
        tmp.write_text(render_latex(rows, columns, title, note), encoding="utf-8")


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
    parser.add_argument("results", nargs="+", type=Path, help="per-pair evaluation JSON files")
    args = parser.parse_args(argv)
    manifest = with_roles(read_json(args.manifest, required=("languages", "pivot")), args.roles)
    results = load_results(args.results)
    languages = languages_by_training_size(manifest)
    roles = language_roles(manifest)
    methods = args.methods.split(",")
    marks = significance_marks(args.significance, manifest["pivot"])
    for metric in TABLES:
        mean, std, seeds = seed_statistics(results, metric, methods, languages, manifest["pivot"], roles)
        published = published_rows(args.paper_setting, args.direction) if metric == PUBLISHED_METRIC else []
        marked = marks if metric == SIGNIFICANCE_METRIC else {}
        rows = build_rows(
            mean, std, seeds, marked, published, methods, temperature=args.temperature, lssd_methods=args.lssd_methods
        )
        title = f"{args.title} {TABLES[metric].title}".strip()
        write_tables(rows, list(mean.columns), args.out_prefix, metric, title)
        print(render_markdown(rows, list(mean.columns), metric, ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
