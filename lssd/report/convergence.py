"""Convergence statistics of one run, from its history and records alone.

For each pair: the epoch of its best dev loss, that loss, the loss at the epoch the overall dev loss picks
(``checkpoint_best.pt``), their difference (the *distance to the pair's own best*), the number of epochs it was
distilled (``records.json``) and the number of epochs LSSD's switch would distil it given this history (the same
rule, applied to any run, the baseline included). Per run: the spread of the pairs' best epochs (range and
standard deviation), the paper's *convergence inconsistency* as one number, and the summed distance.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from lssd.io import read_json, run_cli
from lssd.method.history import ALL, best_epoch
from lssd.method.teachers import TeacherPool


def switch_epochs(values: Sequence[float | None], warmup: int = 1) -> list[bool]:
    """For each epoch, whether LSSD's switch is on given this dev-loss curve: the teacher pool's own rule,
    replayed over the history (e > warmup and e − best epoch before e > 1)."""
    pool = TeacherPool(keys=["pair"], warmup_epochs=warmup)
    result = []
    for epoch, value in enumerate(values, start=1):
        result.append(pool.should_distill("pair", epoch))
        if value is not None:
            pool.update(epoch, {"pair": value}, make_copy=None)
    return result


def pair_statistics(history: Mapping[str, Sequence[float]], records: Mapping[str, Mapping] | None = None) -> list[dict]:
    """One row per pair (in history order) and a final ``all`` row."""
    overall = best_epoch(history[ALL])
    rows = []
    for pair, values in history.items():
        if pair == ALL:
            continue
        best = best_epoch(values)
        kd_on = (records or {}).get(pair, {}).get("kd_on") or []
        rows.append(
            {
                "pair": pair,
                "best_epoch": best,
                "best_loss": values[best - 1],
                "loss_at_overall_best": values[overall - 1],
                "distance_to_own_best": values[overall - 1] - values[best - 1],
                "distilled_epochs": sum(1 for on in kd_on if on),
                "switch_epochs": sum(switch_epochs(values)),
            }
        )
    rows.append(
        {
            "pair": ALL,
            "best_epoch": overall,
            "best_loss": history[ALL][overall - 1],
            "loss_at_overall_best": history[ALL][overall - 1],
            "distance_to_own_best": sum(row["distance_to_own_best"] for row in rows),
            "distilled_epochs": sum(row["distilled_epochs"] for row in rows),
            "switch_epochs": sum(row["switch_epochs"] for row in rows),
        }
    )
    return rows


def run_summary(rows: Sequence[Mapping]) -> dict:
    """The spread of best epochs across pairs: how inconsistent the convergence is, as numbers per run."""
    epochs = [row["best_epoch"] for row in rows if row["pair"] != ALL]
    return {
        "best_epoch_range": max(epochs) - min(epochs),
        "best_epoch_std": statistics.pstdev(epochs),
        "overall_best_epoch": next(row["best_epoch"] for row in rows if row["pair"] == ALL),
        "summed_distance_to_own_best": next(row["distance_to_own_best"] for row in rows if row["pair"] == ALL),
    }


def write_tables(runs: Sequence[tuple[str, Mapping, Mapping | None]], prefix, title: str) -> None:
    """``<prefix>.convergence.{csv,md,html}`` (per run and pair) and ``<prefix>.convergence_summary.{csv,md,html}``."""
    import pandas as pd

    from lssd.io import atomic_path
    from lssd.report.table_render import html_page

    rows, summaries = [], []
    for label, history, records in runs:
        pair_rows = pair_statistics(history, records)
        rows += [{"run": label, **row} for row in pair_rows]
        summaries.append({"run": label, **run_summary(pair_rows)})
    detail, summary = pd.DataFrame(rows).round(4), pd.DataFrame(summaries).round(4)
    for frame, name, caption in (
        (detail, "convergence", "per pair: best epoch and loss, loss at the overall-best epoch, distance to the "
         "pair's own best (bits/token), epochs distilled (records) and epochs the switch rule selects (history)"),
        (summary, "convergence_summary", "per run: spread of the pairs' best epochs (the convergence "
         "inconsistency) and the summed distance to each pair's own best"),
    ):  # fmt: skip
        with atomic_path(f"{prefix}.{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(f"{prefix}.{name}.md") as tmp:
            text = f"### {title}: {name.replace('_', ' ')}\n\n{frame.to_markdown(index=False, floatfmt='.3f')}\n\n"
            tmp.write_text(text + caption.capitalize() + ".\n", encoding="utf-8")
        with atomic_path(f"{prefix}.{name}.html") as tmp:
            table = frame.to_html(index=False, float_format="{:.3f}".format, na_rep="", border=0)
            page = html_page(f"{title}: {name.replace('_', ' ')}", table, caption.capitalize() + ".")
            tmp.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description="convergence statistics of runs")
    parser.add_argument("--run", nargs=3, action="append", required=True, metavar=("LABEL", "HISTORY", "RECORDS"))
    parser.add_argument("--out-prefix", required=True, type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    runs = [(label, read_json(h), read_json(r)) for label, h, r in args.run]
    write_tables(runs, args.out_prefix, args.title)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(run_cli(main))
