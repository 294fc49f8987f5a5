"""LSSD's settings and their allowed values, written once (no torch, no fairseq).

Read by the fairseq criterion (``lssd.plugin.criterion``: its config fields) and task (``lssd.plugin.task``: its
command-line flags), by the objective's argument checks, by the config check (``lssd.config``: a method's
``criterion_args`` and ``task_args``) and by the test that the config schema documents every one of them.
"""

# the fairseq criterion that distils (registered by lssd.plugin.criterion): a method with it is an LSSD method
DISTILLING_CRITERION = "lssd_distillation"


def is_lssd_method(method: dict) -> bool:
    """Whether a configured method (``methods.<name>`` of the config) distils: the one test of "an LSSD method"
    for the rules, the config checks, the disk estimate and the tables."""
    return method.get("criterion") == DISTILLING_CRITERION


VARIANTS = ("whole", "selective", "adaptive")
LEVELS = ("token", "sentence")
TEACHER_PRECISIONS = ("auto", "fp32", "fp16", "bf16")

# a method's criterion_args (lssd_distillation) and task_args: each name with its types or allowed values
CRITERION_ARGS = {
    "distillation_weight": (int, float),
    "distillation_variant": VARIANTS,
    "distillation_level": LEVELS,
    "language_aware": (bool,),
}
TASK_ARGS = {
    "lssd_single_teacher": (bool,),
    "lssd_warmup_epochs": (int,),
    "lssd_teacher_precision": TEACHER_PRECISIONS,
    "lssd_max_teachers": (int,),
}

# the task's command-line flags (argparse keyword arguments), added by the task's add_args
TASK_FLAGS = {
    "--pure-batch": {
        "action": "store_true",
        "help": "one language pair per batch, in training and validation (LSSD looks its teacher up per batch)",
    },
    "--per-pair-history": {
        "default": None,
        "metavar": "FILE",
        "help": "where to write the per-pair dev-loss history JSON (default: <save-dir>/history.json)",
    },
    "--lssd-records": {
        "default": None,
        "metavar": "FILE",
        "help": "where to write the per-epoch, per-pair LSSD records (default: <save-dir>/records.json)",
    },
    "--lssd-warmup-epochs": {
        "type": int,
        "default": 1,
        "help": "LSSD distils a pair in epoch e only if e > this and the pair did not improve at the last validation",
    },
    "--lssd-single-teacher": {
        "action": "store_true",
        "help": "ablation: the overall-best checkpoint teaches every pair",
    },
    "--lssd-teacher-precision": {
        "choices": list(TEACHER_PRECISIONS),
        "default": "auto",
        "help": "precision of the frozen teachers; auto: fp16 on GPU (as the original), fp32 on CPU (fp16/bf16 "
        "matrix products are an order of magnitude slower on CPUs without native support; measured with "
        "benchmarks/teacher_overhead.py)",
    },
    "--lssd-no-pair-best-checkpoints": {
        "action": "store_true",
        "help": "keep no per-pair best checkpoints (default: every run keeps, in <save-dir>/teachers, a model-only "
        "file of each pair's best epoch by its dev loss; an LSSD run's teachers are the same files)",
    },
    "--lssd-max-teachers": {
        "type": int,
        "default": 0,
        "help": "keep at most this many teacher copies (0: no cap, one per distinct best epoch): beyond it, the "
        "pairs of the two closest best epochs share the later epoch's copy",
    },
}
