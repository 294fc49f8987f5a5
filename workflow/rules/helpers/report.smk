# Helpers of the rules in workflow/rules/report.smk (included there; what every stage shares is in common.smk).


def language_roles_arg(dataset):
    """``--roles`` of the tables and figures: LANG=ROLE for every language with a role."""
    languages = config["datasets"][dataset]["languages"]
    return ",".join(f"{lang}={info['role']}" for lang, info in languages.items() if (info or {}).get("role"))


def compared_methods():
    """Methods tested against the baseline for significance (only when the baseline runs)."""
    if BASELINE not in config["run"]["methods"]:
        return []
    return [m for m in config["run"]["methods"] if m != BASELINE]


def significance_args(wildcards):
    """--pair PAIR BASELINE.hyp SYSTEM.hyp REFERENCE for every pair of the direction (first seed, test split)."""
    parts = []
    for pair in lssd_config.pairs(config, wildcards.dataset, wildcards.direction):
        ref = reference_file(SimpleNamespace(dataset=wildcards.dataset, pair=pair, split="test"))
        base = eval_path(wildcards.dataset, wildcards.direction, BASELINE, FIRST_SEED, pair, "test", "hyp")
        system = eval_path(wildcards.dataset, wildcards.direction, wildcards.method, FIRST_SEED, pair, "test", "hyp")
        parts += ["--pair", pair, base, system, ref]
    return shlex.join(parts)


def significance_inputs(wildcards):
    return [
        eval_dir(wildcards.dataset, wildcards.direction, method, FIRST_SEED) for method in (BASELINE, wildcards.method)
    ]


def significance_files(dataset, direction):
    return [path("significance", dataset=dataset, direction=direction, method=method) for method in compared_methods()]


def run_files(dataset, direction, name, methods=None, seeds=None):
    """A file of every run of a dataset and direction (optionally only some methods or seeds)."""
    return [
        run_dir(d, r, method, seed, name)
        for (d, r, method, seed) in RUNS
        if d == dataset
        and r == direction
        and (methods is None or method in methods)
        and (seeds is None or seed in seeds)
    ]


def convergence_args(wildcards):
    parts = []
    for d, r, method, seed in RUNS:
        if d == wildcards.dataset and r == wildcards.direction:
            parts += ["--run", f"{method} seed{seed}", run_dir(d, r, method, seed, layout.HISTORY)]
            parts += [run_dir(d, r, method, seed, layout.RECORDS)]
    return shlex.join(parts)


def named_files(wildcards, name, methods):
    return shlex.join(
        f"{method}={run_dir(wildcards.dataset, wildcards.direction, method, FIRST_SEED, name)}" for method in methods
    )


def paper_setting_args(dataset, direction):
    """The published rows of a paper setting, and the sampling temperature of our baseline (the published baseline
    row of that temperature is the one its Δ row compares with)."""
    setting = config["datasets"][dataset].get("paper_setting")
    if not setting:
        return ""
    args = ["--paper-setting", setting]
    if BASELINE in config["methods"]:
        settings = lssd_config.training_settings(config, dataset, direction, BASELINE)
        args += ["--temperature", str(settings["sampling_temperature"])]
    if lssd_methods():  # the rows compared with the published LSSD row
        args += ["--lssd-methods", ",".join(lssd_methods())]
    return shlex.join(args)


# HTML: the format Snakemake's report shows inline (the others are downloads there)
TABLE_FORMATS = {"csv": "CSV", "md": "Markdown", "tex": "LaTeX", "html": "HTML"}


def table_outputs():
    """The tables rule's outputs: every metric's table (lssd.metrics.TABLES) in every format, each
    marked for the report."""
    return {
        f"{metric}_{ext}": report(
            f"{path('tables')}.{metric}.{ext}",
            caption="../report/tables.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": title, "format": label},
        )
        for metric, title in ((name, entry.title) for name, entry in TABLE_METRICS.items())
        for ext, label in TABLE_FORMATS.items()
    }


FIGURE_FORMATS = {"png": "PNG", "pdf": "PDF"}


def figure_outputs(name, title, caption):
    """A figure rule's outputs (PNG and PDF), marked for the report."""
    return {
        ext: report(
            f"{path('figures')}/{name}.{ext}",
            caption=f"../report/{caption}.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": title, "format": label},
        )
        for ext, label in FIGURE_FORMATS.items()
    }


def convergence_outputs():
    """The convergence rule's outputs: per pair and per run, in CSV, Markdown and HTML, marked for the report."""
    tables = {
        "detail": ("convergence", "convergence per pair"),
        "summary": ("convergence_summary", "convergence per run"),
    }
    return {
        f"{key}_{ext}": report(
            f"{path('tables')}.{name}.{ext}",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": title, "format": label},
        )
        for key, (name, title) in tables.items()
        for ext, label in (("csv", "CSV"), ("md", "Markdown"), ("html", "HTML"))
    }


def output_prefix(output_file, suffix):
    """The prefix a report program writes to, from one of its outputs (``<prefix><suffix>``)."""
    return output_file.removesuffix(suffix)


def evaluation_dirs(dataset, direction):
    """The evaluation directories of every run of one dataset and direction."""
    return [eval_dir(d, r, method, seed) for (d, r, method, seed) in RUNS if d == dataset and r == direction]


def evaluation_files(dataset, direction, split="test"):
    """Every per-pair evaluation JSON of one dataset and direction, over the configured methods and seeds."""
    return [
        eval_path(dataset, direction, method, seed, pair, split, "json")
        for (d, r, method, seed) in RUNS
        if d == dataset and r == direction
        for pair in lssd_config.pairs(config, dataset, direction)
    ]


def pair_best_runs(dataset, direction, methods=None):
    """(method, seed) of the runs of a dataset and direction that get a per-pair best evaluation."""
    return [
        (method, seed)
        for (d, r, method, seed) in RUNS
        if d == dataset
        and r == direction
        and (methods is None or method in methods)
        and pair_best_evaluated(d, r, method, seed)
    ]


def pair_best_dirs(dataset, direction, methods=None):
    return [
        pair_best_dir(dataset, direction, method, seed) for method, seed in pair_best_runs(dataset, direction, methods)
    ]


def pair_best_files(dataset, direction, methods=None, split="test"):
    """The per-pair best evaluation JSONs (one per pair) of those runs."""
    return [
        f"{pair_best_dir(dataset, direction, method, seed)}/{pair}.{split}.json"
        for method, seed in pair_best_runs(dataset, direction, methods)
        for pair in lssd_config.pairs(config, dataset, direction)
    ]


def pair_best_table_args(wildcards):
    """The tables' --pair-best files (last on the command line: the option takes a list); none when off."""
    files = pair_best_files(wildcards.dataset, wildcards.direction)
    return shlex.join(["--pair-best", *files]) if files else ""


def gap_methods():
    return [BASELINE, *lssd_methods()]


def gap_reported(dataset, direction):
    """The gap table and the per-pair best figure: a baseline and an LSSD variant run, and every seed of the
    baseline has its per-pair best evaluation (the gap's means are over the same seeds)."""
    if BASELINE not in config["run"]["methods"] or not lssd_methods():
        return False
    baseline_runs = [run for run in RUNS if run[:3] == (dataset, direction, BASELINE)]
    return bool(baseline_runs) and all(pair_best_evaluated(*run) for run in baseline_runs)


def gap_inputs(wildcards):
    """The one-model evaluations of the baseline and the LSSD variants, and the baseline's per-pair best ones."""
    methods = gap_methods()
    one_model = [
        eval_dir(d, r, m, s)
        for (d, r, m, s) in RUNS
        if (d, r) == (wildcards.dataset, wildcards.direction) and m in methods
    ]
    return one_model + pair_best_dirs(wildcards.dataset, wildcards.direction, [BASELINE])


def gap_files(wildcards):
    """The test JSONs the gap table and figure read: one-model ones of gap_methods(), the baseline's per-pair best."""
    dataset, direction = wildcards.dataset, wildcards.direction
    files = [
        eval_path(dataset, direction, method, seed, pair, "test", "json")
        for (d, r, method, seed) in RUNS
        if (d, r) == (dataset, direction) and method in gap_methods()
        for pair in lssd_config.pairs(config, dataset, direction)
    ]
    return shlex.join(files + pair_best_files(dataset, direction, [BASELINE]))


def gap_outputs():
    """The gap table's outputs, in every format, marked for the report."""
    return {
        ext: report(
            f"{path('tables')}.gap.{ext}",
            caption="../report/gap.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": "gap to the per-pair best", "format": label},
        )
        for ext, label in TABLE_FORMATS.items()
    }
