"""Paired bootstrap resampling of one method against the baseline, per pair (sacrebleu's own implementation).

For each pair, sacrebleu's ``PairedTest`` (``test_type="bs"``, 1000 resamples, sacrebleu's fixed seed) compares
the method's hypotheses with the baseline's on the same references (same BLEU tokenizer as the scores). A pair
shows a *significant gain* when the method's BLEU is higher and p < ``alpha``.

Usage::

    python -m lssd.report.significance --method lssd_whole --alpha 0.05 --output OUT.json \
        --pair eng-bos BASELINE.hyp SYSTEM.hyp REFERENCE --pair ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lssd.io import read_lines, write_json
from lssd.metrics import SCORERS, SIGNIFICANCE_METRIC, TABLES

# the two scores of a pair's test in the output (baseline_bleu, system_bleu)
BASELINE_SCORE, SYSTEM_SCORE = f"baseline_{SIGNIFICANCE_METRIC}", f"system_{SIGNIFICANCE_METRIC}"


def paired_bootstrap(
    baseline: list[str], system: list[str], references: list[str], target_lang: str, n_samples: int = 1000
) -> dict:
    from sacrebleu.significance import PairedTest

    if not len(baseline) == len(system) == len(references):
        raise ValueError(
            f"{len(baseline)} baseline and {len(system)} system hypotheses for {len(references)} references"
        )
    test = PairedTest(
        [("baseline", baseline), ("system", system)],
        {TABLES[SIGNIFICANCE_METRIC].title: SCORERS[SIGNIFICANCE_METRIC].make(target_lang)},
        [references],
        test_type="bs",
        n_samples=n_samples,
    )
    signatures, scores = test()
    (metric,) = [name for name in scores if name != "System"]
    base, other = scores[metric]
    return {
        BASELINE_SCORE: round(base.score, 4),
        SYSTEM_SCORE: round(other.score, 4),
        "p_value": other.p_value,
        "signature": str(signatures[metric]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="paired bootstrap of a method against the baseline, per pair")
    parser.add_argument("--method", required=True)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument(
        "--pair", nargs=4, action="append", required=True, metavar=("PAIR", "BASELINE", "SYSTEM", "REFERENCE")
    )
    args = parser.parse_args(argv)
    result = {"method": args.method, "alpha": args.alpha, "pairs": {}}
    for pair, baseline, system, reference in args.pair:
        test = paired_bootstrap(
            read_lines(baseline), read_lines(system), read_lines(reference), pair.split("-")[1], args.samples
        )
        test["significant_gain"] = test[SYSTEM_SCORE] > test[BASELINE_SCORE] and test["p_value"] < args.alpha
        result["pairs"][pair] = test
        print(f"{pair}: {test[BASELINE_SCORE]:.2f} → {test[SYSTEM_SCORE]:.2f} (p = {test['p_value']:.4f})")
    write_json(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
