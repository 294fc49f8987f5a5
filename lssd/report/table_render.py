"""Rendering of the result tables (``lssd.report.tables``): the rows in CSV, Markdown, LaTeX and HTML (the page
Snakemake's report shows inline).

A row is ``{"kind", "label", "title", "source", "cells"}``: ``kind`` is ``computed | pair_best | published |
difference`` (``OURS``: the kinds of our own numbers, shown upright with their deviations; only computed rows
compete for bold), ``label`` what the CSV's ``method`` column holds (a computed or pair_best row's method key,
which the tests and scripts index by), ``title`` what the shown tables print (the paper's name of the method,
``method_title``), and ``cells`` ``{column: (value, deviation or None, significant)}``. The best computed mean per
column is bold in the shown tables and ``<column>_best`` in the CSV; the metric's sacrebleu signature(s) are printed
under the table.
"""

from __future__ import annotations

import html
import math
import re
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
PAIR_BEST_NOTE = (
    "Per-pair best rows: each pair translated with its own best checkpoint (the epoch of its lowest dev loss; "
    "k models: the distinct checkpoints the pairs used), a reference for what one model could reach; never bold."
)
# the kinds of rows that hold our own numbers (published and Δ rows are italic, without deviations)
OURS = ("computed", "pair_best")


def method_title(method: str) -> str:
    """The name a table or figure shows for a method (config key)."""
    return METHOD_TITLES.get(method, method)


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


def render_csv(rows, columns, best) -> pd.DataFrame:
    """``best``: per row, its bold columns (``best_columns``)."""
    records = []
    for row, bold in zip(rows, best, strict=True):
        record = {"method": row["label"], "title": row["title"], "kind": row["kind"], "source": row["source"]}
        for column in columns:
            cell = row["cells"].get(column)
            record[column] = None if cell is None else round(float(cell[0]), 4)
            if row["kind"] in OURS:
                record[f"{column}_std"] = None if cell is None or cell[1] is None else round(float(cell[1]), 4)
                record[f"{column}_significant"] = bool(cell[2]) if cell is not None else False
                record[f"{column}_best"] = column in bold
        records.append(record)
    return pd.DataFrame(records)


def display_frame(rows, columns) -> pd.DataFrame:
    """The table as it is shown: one row per table row, titled, the cells formatted (Δ rows signed)."""
    records = []
    for row in rows:
        plus = row["kind"] == "difference"
        records.append([row["title"], *(format_cell(row["cells"].get(c), plus) for c in columns)])
    return pd.DataFrame(records, columns=["method", *columns])


def render_markdown(rows, columns, title, note, best) -> str:
    frame = display_frame(rows, columns)
    for index, bold in enumerate(best):
        for column in bold:
            frame.loc[index, column] = f"**{frame.loc[index, column]}**"
    italic = [row["kind"] not in OURS for row in rows]
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


def render_latex(rows, columns, title, note, best) -> str:
    """booktabs LaTeX (pandas' Styler), a rule between our (computed and per-pair best), published and Δ rows."""
    frame = display_frame(rows, columns).rename(columns={"method": "Method"})
    italic = pd.IndexSlice[[index for index, row in enumerate(rows) if row["kind"] not in OURS], ["Method"]]
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    styler = styler.map(lambda _: "textit:--rwrap;", subset=italic)
    for index, bold in enumerate(best):
        if bold:
            styler = styler.map(lambda _: "textbf:--rwrap;", subset=pd.IndexSlice[[index], sorted(bold)])
    lines = styler.to_latex(hrules=True, column_format="l" + "r" * len(columns)).splitlines()
    body = lines.index(r"\midrule") + 1
    groups = [row["kind"] if row["kind"] not in OURS else OURS for row in rows]
    for offset in reversed(range(1, len(rows))):
        if groups[offset] != groups[offset - 1]:
            lines.insert(body + offset, r"\midrule")
    return latex_symbols("\n".join([f"% {title}", *lines, *latex_comment(note), ""]))


HTML_STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    "th,td{padding:.25em .75em;border-bottom:1px solid #ccc}td{text-align:right}td:first-child{text-align:left}"
    "tr.published td,tr.difference td{color:#555}tr.published td:first-child,tr.difference td:first-child"
    "{font-style:italic}code{font-size:90%}"
)


def html_text(text: str) -> str:
    """Escaped text with the notes' Markdown marks that matter here: `code` and **bold**."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def html_note(note: str) -> list[str]:
    """The note under the table: a paragraph per block, a list where the block's lines are ``- `` items."""
    parts = []
    for block in note.split("\n\n"):
        lines = block.split("\n")
        items = [line[2:] for line in lines if line.startswith("- ")]
        if items:
            heads = [line for line in lines if not line.startswith("- ")]
            parts += [f"<p>{html_text(' '.join(heads))}</p>"] if heads else []
            parts += ["<ul>", *(f"<li>{html_text(item)}</li>" for item in items), "</ul>"]
        else:
            parts.append(f"<p>{html_text(' '.join(lines))}</p>")
    return parts


def render_html(rows, columns, title, note, best) -> str:
    """A standalone page (Snakemake's report shows HTML inline, where CSV, Markdown and LaTeX are downloads)."""
    frame = display_frame(rows, columns)
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in frame.columns)
    body = []
    for index, row in enumerate(rows):
        cells = [f"<td>{html.escape(frame.iloc[index, 0])}</td>"]
        for column, text in zip(columns, frame.iloc[index, 1:], strict=True):
            text = html.escape(text)
            cells.append(f"<td><b>{text}</b></td>" if column in best[index] else f"<td>{text}</td>")
        body.append(f'<tr class="{row["kind"]}">{"".join(cells)}</tr>')
    table = "\n".join([f"<table><thead><tr>{head}</tr></thead><tbody>", *body, "</tbody></table>"])
    return html_page(title, table, note)


def html_page(title: str, table: str, note: str) -> str:
    """A standalone HTML page: the title, the table (HTML) and the note under it."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
            f"<style>{HTML_STYLE}</style></head><body>",
            f"<h3>{html.escape(title)}</h3>",
            table,
            *html_note(note),
            "</body></html>",
            "",
        ]
    )


def full_note(best, metric: str, signatures: dict[str, list[str]] | None, pair_best: bool = False) -> str:
    """What is printed under a table: the metric's note, what bold means (when a cell is bold), what the per-pair
    best rows are (when there are some), the signature(s)."""
    note = table_note(metric)
    if any(best):
        note += f" {BEST_NOTE}"
    if pair_best:
        note += f" {PAIR_BEST_NOTE}"
    lines = signature_lines(signatures or {})
    return "\n\n".join([note, "\n".join(lines)]) if lines else note


def write_tables(rows, columns, prefix: Path, metric: str, title: str, signatures=None) -> str:
    """The four files of one metric's table; ``signatures``: ``{signature: [pair, ...]}`` (``None``: unknown).
    Returns the Markdown table (the job log shows it)."""
    best = best_columns(rows, columns, TABLES[metric].higher_is_better)
    note = full_note(best, metric, signatures, any(row["kind"] == "pair_best" for row in rows))
    with atomic_path(f"{prefix}.{metric}.csv") as tmp:
        render_csv(rows, columns, best).to_csv(tmp, index=False)
    texts = {ext: render(rows, columns, title, note, best) for ext, render in RENDERERS.items()}
    for ext, text in texts.items():
        with atomic_path(f"{prefix}.{metric}.{ext}") as tmp:
            tmp.write_text(text, encoding="utf-8")
    return texts["md"]


RENDERERS = {"md": render_markdown, "tex": render_latex, "html": render_html}
