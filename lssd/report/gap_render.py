"""Rendering of the gap table (``lssd.report.gap``) in CSV, Markdown, LaTeX and HTML, as the result tables are
(``lssd.report.table_render``'s LaTeX symbols and comments, HTML page, atomic writes).

A row is ``{"kind", "label", "title", "values": {column: value or None}, "real": {column: bool}}``; ``kind``
(``score | gap | p_value | share``) says how its values are shown: scores with 2 decimals, the gap signed with
``†`` where real, p-values with 3 decimals, shares as percentages (the CSV keeps the numbers: a share's fraction).
A value of None is a blank cell.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from lssd.io import atomic_path
from lssd.metrics import SIGNIFICANT
from lssd.report.table_render import html_page, latex_comment, latex_symbols

GAP = "gap"  # the files' middle name: {prefix}.gap.csv


def format_value(kind: str, value, real: bool = False) -> str:
    """A cell as shown; a blank one (None) is empty."""
    if value is None or pd.isna(value):
        return ""
    if kind == "gap":
        return f"{value:+.2f}" + (SIGNIFICANT if real else "")
    if kind == "p_value":
        return f"{value:.3f}"
    if kind == "share":
        return f"{100 * value:.0f}%"
    return f"{value:.2f}"


def display_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    records = []
    for row in rows:
        cells = [format_value(row["kind"], row["values"].get(c), row["real"].get(c, False)) for c in columns]
        records.append([row["title"], *cells])
    return pd.DataFrame(records, columns=["method", *columns])


def render_csv(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """One record per row: label, title, kind, the values (rounded to 4 decimals), and for the gap row
    ``<column>_real``."""
    records = []
    for row in rows:
        record = {"method": row["label"], "title": row["title"], "kind": row["kind"]}
        for column in columns:
            value = row["values"].get(column)
            record[column] = None if value is None or pd.isna(value) else round(float(value), 4)
            if row["kind"] == "gap":
                record[f"{column}_real"] = row["real"].get(column)  # None for the averages
        records.append(record)
    return pd.DataFrame(records)


def render_markdown(rows, columns, title, note) -> str:
    frame = display_frame(rows, columns)
    table = frame.to_markdown(index=False, colalign=("left", *["right"] * len(columns)), disable_numparse=True)
    return "\n".join([f"### {title}", "", table, "", note, ""])


def render_latex(rows, columns, title, note) -> str:
    """booktabs LaTeX, a rule between the scores, the gap and its test, and the shares."""
    frame = display_frame(rows, columns).rename(columns={"method": "Method"})
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    lines = styler.to_latex(hrules=True, column_format="l" + "r" * len(columns)).splitlines()
    body = lines.index(r"\midrule") + 1
    groups = ["test" if row["kind"] in ("gap", "p_value") else row["kind"] for row in rows]
    for offset in reversed(range(1, len(rows))):
        if groups[offset] != groups[offset - 1]:
            lines.insert(body + offset, r"\midrule")
    return latex_symbols("\n".join([f"% {title}", *lines, *latex_comment(note), ""]))


def render_html(rows, columns, title, note) -> str:
    frame = display_frame(rows, columns)
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in frame.columns)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(f"<td>{html.escape(str(text))}</td>" for text in frame.iloc[index])
        body.append(f'<tr class="{row["kind"]}">{cells}</tr>')
    table = "\n".join([f"<table><thead><tr>{head}</tr></thead><tbody>", *body, "</tbody></table>"])
    return html_page(title, table, note)


RENDERERS = {"md": render_markdown, "tex": render_latex, "html": render_html}


def write_gap_table(rows: list[dict], columns: list[str], prefix: Path, title: str, note: str) -> str:
    """``{prefix}.gap.{csv,md,tex,html}``; returns the Markdown (the job log shows it)."""
    with atomic_path(f"{prefix}.{GAP}.csv") as tmp:
        render_csv(rows, columns).to_csv(tmp, index=False)
    texts = {ext: render(rows, columns, title, note) for ext, render in RENDERERS.items()}
    for ext, text in texts.items():
        with atomic_path(f"{prefix}.{GAP}.{ext}") as tmp:
            tmp.write_text(text, encoding="utf-8")
    return texts["md"]
