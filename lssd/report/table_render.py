"""Rendering of the result tables (``lssd.report.tables``): the rows in CSV, Markdown and LaTeX.

A row is ``{"kind", "label", "title", "source", "cells"}``: ``kind`` is ``computed | published | difference``,
``label`` what the CSV's ``method`` column holds (a computed row's method key, which the tests and scripts index
by), ``title`` what the shown tables print (the paper's name of the method, ``method_title``), and ``cells``
``{column: (value, deviation or None, significant)}``. The best computed mean per column is bold in the shown
tables and ``<column>_best`` in the CSV; the metric's sacrebleu signature(s) are printed under the table.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from lssd.io import atomic_path
from lssd.metrics import SIGNIFICANT, TABLES, table_note

# the paper's names of its methods; a method the config adds under another key is shown by its key
METHOD_TITLES = {
    "baseline": "Baseline",
    "lssd_whole": "LSSD-Whole",
    "lssd_selective": "LSSD-Selective",
    "lssd_adaptive": "LSSD-Adaptive",
}
BEST_NOTE = "Bold: the best computed mean per column."


def method_title(method: str) -> str:
    """The name a table or figure shows for a method (config key)."""
    return METHOD_TITLES.get(method, method)


def row_title(row: dict) -> str:
    # rows built without a title (older callers) are shown by their label
    return row.get("title", row["label"])


def best_columns(rows, columns, higher_is_better=True) -> list[set[str]]:
    """Per row, the columns where it has the best computed mean (the highest, or the lowest for a metric where lower
    is better, such as TER; ties: all of them). Means are compared as
    shown (2 decimals), so that two equal printed numbers are both bold; a single computed row is never bold."""
    computed = [index for index, row in enumerate(rows) if row["kind"] == "computed"]
    best = [set() for _ in rows]
    if len(computed) < 2:
        return best
    for column in columns:
        shown = {}
        for index in computed:
            cell = rows[index]["cells"].get(column)
            if cell is not None and not math.isnan(cell[0]):
                shown[index] = round(float(cell[0]), 2)
        if len(shown) < 2:
            continue
        top = max(shown.values()) if higher_is_better else min(shown.values())
        for index, value in shown.items():
            if value == top:
                best[index].add(column)
    return best


def signature_lines(signatures: dict[str, list[str]]) -> list[str]:
    """The lines under a table naming the sacrebleu signature(s): one line when every pair shares it, else one
    line per distinct signature with its pairs (eng→zho is tokenized with tok:zh, the others with 13a)."""
    if not signatures:
        return []
    if len(signatures) == 1:
        return [f"sacrebleu signature: `{next(iter(signatures))}`"]
    # a list, one item per signature: Markdown would run separate lines together into one paragraph
    return ["sacrebleu signatures:", *(f"- `{sig}`: {', '.join(pairs)}" for sig, pairs in signatures.items())]


def format_cell(cell, plus=False) -> str:
    if cell is None:
        return ""
    value, deviation, significant = cell
    text = f"{value:+.2f}" if plus else f"{value:.2f}"
    if deviation is not None and not math.isnan(deviation):
        text += f" ± {deviation:.2f}"
    return text + (SIGNIFICANT if significant else "")


def render_csv(rows, columns, higher_is_better=True) -> pd.DataFrame:
    records = []
    for row, best in zip(rows, best_columns(rows, columns, higher_is_better), strict=True):
        record = {"method": row["label"], "title": row_title(row), "kind": row["kind"], "source": row["source"]}
        for column in columns:
            cell = row["cells"].get(column)
            record[column] = None if cell is None else round(float(cell[0]), 4)
            if row["kind"] == "computed":
                record[f"{column}_std"] = None if cell is None or cell[1] is None else round(float(cell[1]), 4)
                record[f"{column}_significant"] = bool(cell[2]) if cell is not None else False
                record[f"{column}_best"] = column in best
        records.append(record)
    return pd.DataFrame(records)


def display_frame(rows, columns) -> pd.DataFrame:
    """The table as it is shown: one row per table row, titled, the cells formatted (Δ rows signed)."""
    records = []
    for row in rows:
        plus = row["kind"] == "difference"
        records.append([row_title(row), *(format_cell(row["cells"].get(c), plus) for c in columns)])
    return pd.DataFrame(records, columns=["method", *columns])


def render_markdown(rows, columns, title, note, higher_is_better=True) -> str:
    frame = display_frame(rows, columns)
    for index, best in enumerate(best_columns(rows, columns, higher_is_better)):
        for column in best:
            frame.loc[index, column] = f"**{frame.loc[index, column]}**"
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


def latex_comment(note: str) -> list[str]:
    """The note as LaTeX comment lines (escaped as text, so that it can be uncommented into a caption)."""
    for char, replacement in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        note = note.replace(char, replacement)
    return [f"% {line}" if line else "%" for line in note.replace("`", "").split("\n")]


def render_latex(rows, columns, title, note, higher_is_better=True) -> str:
    """booktabs LaTeX (pandas' Styler), a rule between the computed, published and Δ rows."""
    frame = display_frame(rows, columns).rename(columns={"method": "Method"})
    italic = pd.IndexSlice[[index for index, row in enumerate(rows) if row["kind"] != "computed"], ["Method"]]
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    styler = styler.map(lambda _: "textit:--rwrap;", subset=italic)
    for index, best in enumerate(best_columns(rows, columns, higher_is_better)):
        if best:
            styler = styler.map(lambda _: "textbf:--rwrap;", subset=pd.IndexSlice[[index], sorted(best)])
    lines = styler.to_latex(hrules=True, column_format="l" + "r" * len(columns)).splitlines()
    body = lines.index(r"\midrule") + 1
    for offset in reversed(range(1, len(rows))):
        if rows[offset]["kind"] != rows[offset - 1]["kind"]:
            lines.insert(body + offset, r"\midrule")
    return latex_symbols("\n".join([f"% {title}", *lines, *latex_comment(note), ""]))


def full_note(rows, columns, metric: str, signatures: dict[str, list[str]] | None) -> str:
    """What is printed under a table: the metric's note, what bold means (when a cell is bold), the signature(s)."""
    note = table_note(metric)
    if any(best_columns(rows, columns, TABLES[metric].higher_is_better)):
        note += f" {BEST_NOTE}"
    lines = signature_lines(signatures or {})
    return "\n\n".join([note, "\n".join(lines)]) if lines else note


def write_tables(rows, columns, prefix: Path, metric: str, title: str, signatures=None) -> None:
    """The three files of one metric's table; ``signatures``: ``{signature: [pair, ...]}`` (``None``: unknown)."""
    note = full_note(rows, columns, metric, signatures)
    higher = TABLES[metric].higher_is_better
    with atomic_path(f"{prefix}.{metric}.csv") as tmp:
        render_csv(rows, columns, higher).to_csv(tmp, index=False)
    with atomic_path(f"{prefix}.{metric}.md") as tmp:
        tmp.write_text(render_markdown(rows, columns, title, note, higher), encoding="utf-8")
    with atomic_path(f"{prefix}.{metric}.tex") as tmp:
        tmp.write_text(render_latex(rows, columns, title, note, higher), encoding="utf-8")
