"""How much of the baseline's per-pair best gap each LSSD variant closes: the gap table of one dataset and direction.

Standard BLEU (``lssd.metrics.SIGNIFICANCE_METRIC``, against the raw references), test split. Per pair (the columns,
from high- to low-resource), B is the baseline's one-model BLEU and O its per-pair best one (each pair translated
with its own best checkpoint, ``lssd.report.pair_best``), both means over seeds. The gap O − B is *real* when
O > B and sacrebleu's paired bootstrap (``lssd.report.significance``: 1000 resamples, sacrebleu's fixed seed) of
the baseline's one-model hypotheses against its per-pair best ones on the raw references, on one seed (``--seed``,
default the baseline's smallest), gives p < ``--alpha`` (0.05); a pair whose per-pair best translation is the
one-model one (the same checkpoint) has no gap to test (p = 1). For each LSSD variant L (seed mean):

* per pair, the share of the gap it closes, (L − B) / (O − B), where the gap is real (blank elsewhere);
* on average, gap-weighted over the pairs with a real gap: Σ(L − B) / Σ(O − B) (``avg``; ``low_avg`` and
  ``high_avg`` the same over the low- and high-resource pairs, by the languages' roles, as in the result tables).

Rows (the CSV's ``kind``): ``score`` (B, O, each L; ``avg``: their unweighted mean over pairs), ``gap`` (O − B,
``†`` where real, ``<column>_real`` in the CSV; ``avg``: the mean gap), ``p_value`` and ``share`` (one per L; the
CSV holds the fraction, the shown tables a percentage). Writes ``{prefix}.gap.{csv,md,tex,html}``.

Usage (the evaluation JSONs of any methods and splits, one-model and per-pair best ones together: a per-pair best
one is told by its ``pair_best`` object; the hypotheses are the ``.hyp`` beside each JSON, else the file it names,
the references the raw ones it names)::

    python -m lssd.report.gap --manifest M.json [--roles bos=low,...] --out-prefix results/tables/demo/m2o \
        [--title T] [--baseline baseline] [--lssd-methods lssd_whole,lssd_adaptive] [--seed 1] [--alpha 0.05] \
        [--samples 1000] EVALUATION.json ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from lssd.config import pair_language
from lssd.io import read_json, read_lines, run_cli
from lssd.metrics import SIGNIFICANCE_METRIC, SIGNIFICANT
from lssd.report.gap_render import write_gap_table
from lssd.report.pair_best import MODELS, PAIR_BEST, pair_best_title
from lssd.report.significance import paired_bootstrap
from lssd.report.table_render import method_title
from lssd.report.tables import AVERAGE, average_columns, language_roles, languages_by_training_size, with_roles

SPLIT = "test"
REQUIRED = ("method", "seed", "pair", "split", SIGNIFICANCE_METRIC, "hypotheses", "reference")


def hypotheses_file(path: Path, result: dict) -> Path:
    """The hypotheses of an evaluation JSON: the ``.hyp`` beside it (its evaluation directory's), else the one it
    names."""
    beside = path.with_suffix(".hyp")
    return beside if beside.is_file() else Path(result["hypotheses"])


def load_evaluations(paths: list[Path], pivot: str) -> pd.DataFrame:
    """The test-split evaluations: method, seed, pair, language (its non-pivot side), BLEU, ``pair_best`` (bool),
    models, hypotheses, reference."""
    rows = []
    for path in paths:
        advice = f"delete the run's evaluation directory {path.parent} and run snakemake again (it is evaluated again)"
        result = read_json(path, required=REQUIRED, advice=advice)
        if result["split"] != SPLIT:
            continue
        info = result.get(PAIR_BEST)
        rows.append(
            {
                **{key: result[key] for key in ("method", "seed", "pair", SIGNIFICANCE_METRIC)},
                "language": pair_language(result["pair"], pivot),
                PAIR_BEST: info is not None,
                MODELS: info[MODELS] if isinstance(info, dict) else None,
                "hypotheses": hypotheses_file(path, result),
                "reference": Path(result["reference"]),
            }
        )
    columns = ["method", "seed", "pair", "language", SIGNIFICANCE_METRIC, PAIR_BEST, MODELS, "hypotheses", "reference"]
    return pd.DataFrame(rows, columns=columns)


def seed_means(evaluations: pd.DataFrame, method: str, pair_best: bool, languages: list[str]) -> pd.Series:
    """The seed means of one method's one-model (or per-pair best) BLEU, per language in ``languages`` order."""
    chosen = evaluations[(evaluations["method"] == method) & (evaluations[PAIR_BEST] == pair_best)]
    means = chosen.groupby("language")[SIGNIFICANCE_METRIC].mean()
    missing = [lang for lang in languages if lang not in means.index]
    if missing:
        kind = "per-pair best" if pair_best else "one-model"
        raise ValueError(f"no {kind} {SPLIT} result of {method} for language(s) {', '.join(missing)}")
    return means.reindex(languages)


def gap_shares(baseline, oracle, variant, real, groups) -> dict[str, float | None]:
    """Per pair (the keys of ``real``) the share of the gap ``variant`` closes, (L − B)/(O − B), where the gap is
    real (else None), and per group of ``groups`` (``{name: [pair, ...]}``, e.g. ``avg``) the gap-weighted one over
    its pairs with a real gap, Σ(L − B)/Σ(O − B) (None when none of them has one)."""
    shares = {}
    for pair, is_real in real.items():
        shares[pair] = (variant[pair] - baseline[pair]) / (oracle[pair] - baseline[pair]) if is_real else None
    for name, members in groups.items():
        real_pairs = [pair for pair in members if real[pair]]
        closed = sum(variant[pair] - baseline[pair] for pair in real_pairs)
        gap = sum(oracle[pair] - baseline[pair] for pair in real_pairs)
        shares[name] = closed / gap if real_pairs else None
    return shares


def bootstrap_seed(evaluations: pd.DataFrame, baseline: str, seed: int | None) -> int:
    """The seed the bootstrap compares on: ``seed``, else the smallest one the baseline has both results of."""
    runs = evaluations[evaluations["method"] == baseline]
    both = set(runs[~runs[PAIR_BEST]]["seed"]) & set(runs[runs[PAIR_BEST]]["seed"])
    if seed is None and both:
        return min(both)
    if seed not in both:
        raise ValueError(
            f"no one-model and per-pair best results of {baseline} for seed {seed} (seeds: {sorted(both)})"
        )
    return seed


def gap_test(evaluations: pd.DataFrame, baseline: str, language: str, seed: int, samples: int) -> dict:
    """The paired bootstrap of one pair: the baseline's one-model hypotheses against its per-pair best ones."""
    chosen = evaluations[
        (evaluations["method"] == baseline) & (evaluations["language"] == language) & (evaluations["seed"] == seed)
    ]
    found = [chosen[chosen[PAIR_BEST] == flag] for flag in (False, True)]
    if any(frame.empty for frame in found):
        raise ValueError(f"no one-model and per-pair best {SPLIT} results of {baseline}, seed {seed}, for {language}")
    one_model, best = (frame.iloc[0] for frame in found)
    hypotheses = read_lines(one_model["hypotheses"]), read_lines(best["hypotheses"])
    if hypotheses[0] == hypotheses[1]:
        # the same translation (the same checkpoint): no gap to test (sacrebleu would give 1/(samples + 1))
        return {"pair": one_model["pair"], "p_value": 1.0, "same": True}
    references = read_lines(one_model["reference"])
    test = paired_bootstrap(*hypotheses, references, one_model["pair"].split("-")[1], samples)
    return {"pair": one_model["pair"], "p_value": test["p_value"], "same": False}


def gap_statistics(evaluations, baseline, lssd_methods, groups, seed=None, alpha=0.05, samples=1000) -> dict:
    """Everything the gap table shows: B, O, each L (per language of ``groups[AVERAGE]``), the tests, which gaps
    are real, the shares (per language and per group of ``groups``)."""
    languages = groups[AVERAGE]
    one_model, oracle = (seed_means(evaluations, baseline, flag, languages) for flag in (False, True))
    variants = {method: seed_means(evaluations, method, False, languages) for method in lssd_methods}
    seed = bootstrap_seed(evaluations, baseline, seed)
    tests = {lang: gap_test(evaluations, baseline, lang, seed, samples) for lang in languages}
    real = {lang: bool(oracle[lang] > one_model[lang] and tests[lang]["p_value"] < alpha) for lang in languages}
    shares = {method: gap_shares(one_model, oracle, scores, real, groups) for method, scores in variants.items()}
    models = evaluations[(evaluations["method"] == baseline) & evaluations[PAIR_BEST]][MODELS]
    return {
        "one_model": one_model,
        "pair_best": oracle,
        "variants": variants,
        "tests": tests,
        "real": real,
        "shares": shares,
        "groups": groups,
        "seed": seed,
        "alpha": alpha,
        "models": models.tolist(),
    }


def group_means(values, groups) -> dict[str, float]:
    """Per-language ``values`` and their unweighted mean over each group's languages."""
    return {**values.to_dict(), **{name: float(values[members].mean()) for name, members in groups.items()}}


def gap_rows(statistics: dict, baseline: str) -> list[dict]:
    """The table's rows, ``{"kind", "label", "title", "values": {column: value or None}, "real": {column: bool}}``:
    the scores (B, O, each L), the gap, the p-values and each L's shares."""
    groups, one_model, oracle = statistics["groups"], statistics["one_model"], statistics["pair_best"]

    def row(kind, label, title, values, real=None):
        return {"kind": kind, "label": label, "title": title, "values": values, "real": real or {}}

    oracle_title = pair_best_title(baseline, statistics["models"])
    rows = [
        row("score", baseline, method_title(baseline), group_means(one_model, groups)),
        row("score", f"{baseline}_pair_best", oracle_title, group_means(oracle, groups)),
    ]
    rows += [
        row("score", method, method_title(method), group_means(scores, groups))
        for method, scores in statistics["variants"].items()
    ]
    gap_title = f"gap: per-pair best − {method_title(baseline)}"
    rows.append(row("gap", "gap", gap_title, group_means(oracle - one_model, groups), statistics["real"]))
    p_values = {lang: test["p_value"] for lang, test in statistics["tests"].items()}
    rows.append(row("p_value", "p_value", f"p (paired bootstrap, seed {statistics['seed']})", p_values))
    rows += [
        row("share", method, f"{method_title(method)}: share of the gap closed", shares)
        for method, shares in statistics["shares"].items()
    ]
    return rows


def blank_reasons(statistics: dict) -> list[str]:
    """Why each pair without a real gap has no share: the same translation, no gain, or p ≥ alpha."""
    reasons = []
    for lang, is_real in statistics["real"].items():
        test = statistics["tests"][lang]
        if is_real:
            continue
        if test["same"]:
            reasons.append(f"{test['pair']}: its per-pair best checkpoint is the one model (the same translation)")
        elif statistics["pair_best"][lang] <= statistics["one_model"][lang]:
            reasons.append(f"{test['pair']}: the per-pair best is not better than the one model")
        else:
            reasons.append(f"{test['pair']}: p = {test['p_value']:.3f} ≥ {statistics['alpha']:g}")
    return reasons


def gap_note(statistics: dict, samples: int) -> str:
    """What the table's numbers are and how a real gap is decided, and why shares are blank where they are."""
    note = (
        f"sacreBLEU ({SIGNIFICANCE_METRIC}, raw references), {SPLIT} set, means over seeds. Gap: the baseline's "
        "per-pair best (each pair translated with its own best checkpoint by its dev loss) minus its one model. "
        f"{SIGNIFICANT}: a real gap, the per-pair best higher and a paired bootstrap (sacrebleu, {samples} "
        f"resamples, seed {statistics['seed']}: the baseline's one-model against its per-pair best hypotheses) "
        f"with p < {statistics['alpha']:g}. Share: (LSSD − baseline) / (per-pair best − baseline), only where the "
        "gap is real; its avg is gap-weighted over those pairs, Σ(LSSD − baseline) / Σ(per-pair best − baseline). "
        "avg of the other rows: the unweighted mean over pairs."
    )
    reasons = blank_reasons(statistics)
    if reasons:
        note += "\n\nNo real gap (share blank):\n" + "\n".join(f"- {reason}" for reason in reasons)
    return note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the share of the baseline's per-pair best gap LSSD closes")
    parser.add_argument("--manifest", required=True, type=Path, help="the dataset's data manifest (sizes, pivot)")
    parser.add_argument("--roles", help="LANG=ROLE,... (as lssd.report.tables); default: the manifest's")
    parser.add_argument("--out-prefix", required=True, type=Path, help="writes {prefix}.gap.{csv,md,tex,html}")
    parser.add_argument("--title", default="")
    parser.add_argument("--baseline", default="baseline", help="the method whose gap is measured")
    parser.add_argument(
        "--lssd-methods", default="", type=lambda value: [name for name in value.split(",") if name],
        help="comma-separated LSSD variants, in row order",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="the seed the bootstrap compares on (default: the smallest)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("evaluations", nargs="+", type=Path, help="one-model and per-pair best evaluation JSONs")
    args = parser.parse_args(argv)
    manifest = with_roles(read_json(args.manifest, required=("languages", "pivot")), args.roles)
    evaluations = load_evaluations(args.evaluations, manifest["pivot"])
    groups = average_columns(languages_by_training_size(manifest), language_roles(manifest))
    statistics = gap_statistics(
        evaluations, args.baseline, args.lssd_methods, groups, args.seed, args.alpha, args.samples
    )
    title = f"{args.title} share of the per-pair best gap closed".strip()
    note = gap_note(statistics, args.samples)
    columns = [*groups[AVERAGE], *groups]
    print(write_gap_table(gap_rows(statistics, args.baseline), columns, args.out_prefix, title, note))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
