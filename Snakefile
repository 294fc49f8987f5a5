# LSSD reproduction pipeline: data → SentencePiece → binarize → train → per-pair evaluation → tables.
# Usage: snakemake --cores 2   (the demo; see docs/paper.md and docs/cluster.md for the paper configs and cluster profiles)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/spm.smk"
include: "workflow/rules/binarize.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/hooks.smk"


# before any job, once every rule file's helpers are defined (common.smk): every run's fairseq arguments, then the
# evaluations already on disk
check_fairseq_arguments()
check_evaluations()


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    direction="m2o|o2m",
    method=r"[A-Za-z0-9_]+",
    seed=r"\d+",
    lang=r"[a-z]{2,3}",
    model=r"[A-Za-z0-9_]+",


# light jobs (seconds, no GPU) run where Snakemake runs, not through a cluster's queue
localrules:
    all,
    tables,
    significance,
    convergence,
    figure_curves,
    figure_compare,
    figure_distillation,
    gap_table,
    figure_pair_best,


rule all:
    default_target: True
    input:
        all_targets(),
