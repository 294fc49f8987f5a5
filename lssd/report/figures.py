"""Convergence figures (matplotlib; PNG and PDF), drawn from the runs' history and records files alone.

* ``curves``: per-pair dev loss against epoch for one run (the baseline): low-resource pairs dashed, each curve's
  minimum marked, a vertical line at the epoch the overall dev loss picks (``checkpoint_best.pt``).
* ``compare``: one panel per pair, the baseline against each LSSD variant.
* ``distillation``: per pair and epoch, where KD was on, coloured by the mean gate (one panel per method).
* ``pair_best``: per pair, the baseline's one-model test BLEU, its per-pair best (each pair translated with its own
  best checkpoint) and each LSSD variant's, means over seeds, from the evaluation JSONs (``lssd.report.gap``'s).

Usage::

    python -m lssd.report.figures curves --history H.json --manifest M.json --title T --out PREFIX
    python -m lssd.report.figures compare --history baseline=H1.json lssd_whole=H2.json --manifest M.json --out PREFIX
    python -m lssd.report.figures distillation --records lssd_whole=R1.json ... --history-ref H.json --out PREFIX
    python -m lssd.report.figures pair_best --manifest M.json [--roles R] [--baseline baseline] \
        [--lssd-methods lssd_whole,...] --title T --out PREFIX --evaluations EVALUATION.json ...
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lssd.config import pair_language  # noqa: E402
from lssd.io import atomic_path, read_json, run_cli  # noqa: E402
from lssd.method.history import ALL, best_epoch  # noqa: E402
from lssd.report.gap import load_evaluations, seed_means  # noqa: E402
from lssd.report.pair_best import MODELS, PAIR_BEST, pair_best_title  # noqa: E402
from lssd.report.table_render import method_title  # noqa: E402
from lssd.report.tables import language_roles, languages_by_training_size, with_roles  # noqa: E402

LOSS_LABEL = "dev loss (bits/token, label-smoothed)"


def save(figure, prefix: Path) -> list[Path]:
    paths = []
    for suffix in ("png", "pdf"):
        path = Path(f"{prefix}.{suffix}")
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=suffix, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(figure)
    return paths


def plot_curves(history: dict, manifest: dict, title: str):
    """Figure (a): every pair's dev loss, its minimum, and the overall-best epoch."""
    roles = language_roles(manifest)
    pairs = [name for name in history if name != ALL]
    epochs = np.arange(1, len(history[ALL]) + 1)
    figure, axis = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    for index, pair in enumerate(pairs):
        values = np.array(history[pair], dtype=float)
        low = roles.get(pair_language(pair, manifest["pivot"])) == "low"
        best = best_epoch(history[pair])
        colour = colours(index % 10)
        axis.plot(epochs, values, linestyle="--" if low else "-", color=colour, label=f"{pair} (best {best})")
        axis.plot(best, values[best - 1], "o", color=colour, markersize=6)
    overall = best_epoch(history[ALL])
    axis.axvline(overall, color="black", linewidth=1, linestyle=":", label=f"overall best epoch ({overall})")
    finite = np.concatenate([np.array(history[p], dtype=float) for p in pairs])
    low_end, high_end = np.nanmin(finite), np.nanpercentile(finite, 90)
    axis.set_ylim(low_end - 0.1 * (high_end - low_end), high_end + 0.1 * (high_end - low_end))
    axis.set_xlabel("epoch")
    axis.set_ylabel(LOSS_LABEL)
    axis.set_title(f"{title}\n(dashed: low-resource, solid: high-resource, dot: the pair's best epoch)", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, ncol=2, loc="upper right")
    return figure


def plot_compare(histories: dict[str, dict], manifest: dict, title: str):
    """Figure (b): one panel per pair, each method's dev-loss curve, minima marked."""
    first = next(iter(histories.values()))
    pairs = [name for name in first if name != ALL]
    columns = min(4, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False, sharex=True)
    colours = plt.get_cmap("tab10")
    roles = language_roles(manifest)
    for index, pair in enumerate(pairs):
        axis = axes[index // columns][index % columns]
        for m, (method, history) in enumerate(histories.items()):
            values = np.array(history[pair], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            best = best_epoch(history[pair])
            axis.plot(epochs, values, color=colours(m % 10), label=method, linewidth=1.4 if m == 0 else 1.0)
            axis.plot(best, values[best - 1], "o", color=colours(m % 10), markersize=4)
        role = roles.get(pair_language(pair, manifest["pivot"])) or ""
        axis.set_title(f"{pair} ({role}-resource)" if role else pair, fontsize=9)
        tail = np.concatenate([np.array(h[pair], dtype=float)[2:] for h in histories.values()])
        if tail.size:
            spread = np.nanmax(tail) - np.nanmin(tail)
            axis.set_ylim(np.nanmin(tail) - 0.05 * spread, np.nanmax(tail) + 0.05 * spread)
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=7)
        if index % columns == 0:
            axis.set_ylabel("dev loss (bits/token)", fontsize=8)
        if index // columns == rows - 1:
            axis.set_xlabel("epoch", fontsize=8)
    for index in range(len(pairs), rows * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, -0.02))
    figure.suptitle(f"{title}: dev loss per pair, baseline vs LSSD (dot: best epoch)", fontsize=11)
    figure.tight_layout(rect=(0, 0.04, 1, 0.96))
    return figure


def distillation_matrix(records: dict) -> tuple[list[str], np.ndarray]:
    """Pairs × epochs: the mean gate where KD was on (1 for Whole), NaN where it was off."""
    pairs = list(records)
    epochs = max(len(records[p]["kd_on"]) for p in pairs) if pairs else 0
    matrix = np.full((len(pairs), epochs), np.nan)
    for row, pair in enumerate(pairs):
        for column, on in enumerate(records[pair]["kd_on"]):
            if on:
                gate = records[pair]["mean_gate"][column]
                matrix[row, column] = 1.0 if gate is None else gate
    return pairs, matrix


def plot_distillation(all_records: dict[str, dict], title: str):
    """Figure (c): where KD was on, per pair and epoch, coloured by the mean gate."""
    methods = list(all_records)
    figure, axes = plt.subplots(
        1, len(methods), figsize=(4.2 * len(methods), 3.6), squeeze=False, constrained_layout=True
    )
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#eeeeee")
    image = None
    for axis, method in zip(axes[0], methods, strict=True):
        pairs, matrix = distillation_matrix(all_records[method])
        image = axis.imshow(
            np.ma.masked_invalid(matrix), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
            extent=(0.5, matrix.shape[1] + 0.5, len(pairs) - 0.5, -0.5),
        )  # fmt: skip
        axis.set_yticks(range(len(pairs)), pairs, fontsize=8)
        axis.set_xlabel("epoch")
        distilled = int(np.sum(~np.isnan(matrix)))
        axis.set_title(f"{method} ({distilled} pair-epochs distilled)", fontsize=9)
    figure.colorbar(image, ax=axes[0].tolist(), label="mean gate where KD was on (grey: off)", shrink=0.9)
    figure.suptitle(f"{title}: distillation per pair and epoch", fontsize=11)
    return figure


def plot_pair_best(evaluations, manifest: dict, baseline: str, lssd_methods: list[str], title: str):
    """Figure (d): per pair (high- to low-resource), grouped bars: the baseline's one-model BLEU, its per-pair best
    (hatched) and each LSSD variant's."""
    languages = languages_by_training_size(manifest)
    models = evaluations[(evaluations["method"] == baseline) & evaluations[PAIR_BEST]][MODELS]
    bars = [
        (method_title(baseline), seed_means(evaluations, baseline, False, languages)),
        (pair_best_title(baseline, models), seed_means(evaluations, baseline, True, languages)),
        *((method_title(method), seed_means(evaluations, method, False, languages)) for method in lssd_methods),
    ]
    pairs = dict(zip(evaluations["language"], evaluations["pair"], strict=True))
    roles = language_roles(manifest)
    positions = np.arange(len(languages))
    width = 0.8 / len(bars)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.3 * len(languages) * len(bars) / 2), 4.2))
    colours = plt.get_cmap("tab10")
    for index, (label, means) in enumerate(bars):
        # the per-pair best in the baseline's colour, hatched: the same model family, its pairs' own checkpoints
        colour = colours(0 if index < 2 else index - 1)
        hatch = "//" if index == 1 else None
        offsets = positions - 0.4 + width * (index + 0.5)
        axis.bar(offsets, means.to_numpy(), width, label=label, color=colour, hatch=hatch, alpha=0.6 if hatch else 1)
    names = [f"{pairs[lang]}\n({roles[lang]})" if roles.get(lang) else pairs[lang] for lang in languages]
    axis.set_xticks(positions, names, fontsize=8)
    axis.set_ylabel("BLEU (sacreBLEU, raw references, test)")
    axis.set_title(f"{title}\n(hatched: each pair with its own best checkpoint; means over seeds)", fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    # under the axes: the first (highest-resource) pairs' bars are the tallest, where a legend inside would sit
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(3, len(bars)))
    return figure


def parse_named(items: list[str]) -> dict[str, Path]:
    named = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"expected NAME=PATH, got {item!r}")
        named[name] = Path(path)
    return named


def load(path: Path) -> dict:
    return read_json(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="convergence figures from history and records files")
    parser.add_argument("figure", choices=["curves", "compare", "distillation", "pair_best"])
    parser.add_argument("--history", nargs="+", default=[], help="PATH (curves) or METHOD=PATH (compare)")
    parser.add_argument("--records", nargs="+", default=[], help="METHOD=PATH (distillation)")
    parser.add_argument(
        "--evaluations", nargs="+", action="extend", default=[], type=Path,
        help="one-model and per-pair best evaluation JSONs (pair_best)",
    )  # fmt: skip
    parser.add_argument("--baseline", default="baseline", help="the method whose per-pair best is shown (pair_best)")
    parser.add_argument(
        "--lssd-methods", default="", type=lambda value: [name for name in value.split(",") if name],
        help="comma-separated LSSD variants, in bar order (pair_best)",
    )  # fmt: skip
    parser.add_argument("--manifest", type=Path, help="the dataset's manifest (pivot and language roles)")
    parser.add_argument("--roles", help="LANG=ROLE,... (low/high); default: the manifest's")
    parser.add_argument("--title", default="")
    parser.add_argument("--out", required=True, type=Path, help="output prefix (.png and .pdf are written)")
    args = parser.parse_args(argv)
    if args.figure == "curves":
        figure = plot_curves(load(args.history[0]), with_roles(load(args.manifest), args.roles), args.title)
    elif args.figure == "compare":
        histories = {name: load(path) for name, path in parse_named(args.history).items()}
        figure = plot_compare(histories, with_roles(load(args.manifest), args.roles), args.title)
    elif args.figure == "distillation":
        records = {name: load(path) for name, path in parse_named(args.records).items()}
        figure = plot_distillation(records, args.title)
    else:
        manifest = with_roles(load(args.manifest), args.roles)
        evaluations = load_evaluations(args.evaluations, manifest["pivot"])
        figure = plot_pair_best(evaluations, manifest, args.baseline, args.lssd_methods, args.title)
    for path in save(figure, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
