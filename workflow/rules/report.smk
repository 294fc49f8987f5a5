# Results a researcher reads: tables (CSV, Markdown, LaTeX), significance, convergence statistics and figures,
# all rebuilt from the evaluation files and the runs' history/records, and all marked for `snakemake --report`.


include: "helpers/report.smk"


rule significance:
    """Paired bootstrap (sacrebleu) of one method against the baseline, per pair, on the first seed."""
    input:
        hypotheses=significance_inputs,
        data=path("data"),
    output:
        path("significance"),
    log:
        "logs/significance/{dataset}/{direction}/{method}.log",
    params:
        pairs=significance_args,
    shell:
        "python -m lssd.report.significance --method {wildcards.method} --output {output} {params.pairs} > {log} 2>&1"


rule tables:
    input:
        data=path("data"),
        evaluations=lambda w: evaluation_dirs(w.dataset, w.direction),
        significance=lambda w: significance_files(w.dataset, w.direction),
        pair_best=lambda w: pair_best_dirs(w.dataset, w.direction),
    output:
        **table_outputs(),
    log:
        "logs/tables/{dataset}/{direction}.log",
    params:
        roles=lambda w: language_roles_arg(w.dataset),
        methods=",".join(config["run"]["methods"]),
        title=lambda w: f"{w.dataset} {w.direction} (test)",
        setting=lambda w: paper_setting_args(w.dataset, w.direction),
        significance=lambda w, input: " ".join(f"--significance {path}" for path in input.significance),
        results=lambda w: " ".join(evaluation_files(w.dataset, w.direction)),
        prefix=lambda w, output: output_prefix(output.bleu_csv, ".bleu.csv"),
        pair_best=pair_best_table_args,
    shell:
        "python -m lssd.report.tables --manifest {input.data}/manifest.json --roles {params.roles:q} --methods {params.methods}"
        " --out-prefix {params.prefix} --title {params.title:q}"
        " --direction {wildcards.direction} {params.setting} {params.significance}"
        " {params.results} {params.pair_best} > {log} 2>&1"


rule gap_table:
    """How much of the baseline's gap to its per-pair best each LSSD variant closes (BLEU, test)."""
    input:
        data=path("data"),
        evaluations=gap_inputs,
    output:
        **gap_outputs(),
    log:
        "logs/tables/{dataset}/{direction}.gap.log",
    params:
        roles=lambda w: language_roles_arg(w.dataset),
        lssd=lambda w: ",".join(lssd_methods()),
        title=lambda w: f"{w.dataset} {w.direction} (test)",
        prefix=lambda w, output: output_prefix(output.csv, ".gap.csv"),
        files=gap_files,
        baseline=BASELINE,
        seed=FIRST_SEED,
    shell:
        "python -m lssd.report.gap --manifest {input.data}/manifest.json --roles {params.roles:q}"
        " --out-prefix {params.prefix} --title {params.title:q} --baseline {params.baseline}"
        " --lssd-methods {params.lssd} --seed {params.seed} {params.files} > {log} 2>&1"


rule convergence:
    input:
        histories=lambda w: run_files(w.dataset, w.direction, layout.HISTORY),
        records=lambda w: run_files(w.dataset, w.direction, layout.RECORDS),
    output:
        **convergence_outputs(),
    log:
        "logs/tables/{dataset}/{direction}.convergence.log",
    params:
        prefix=lambda w, output: output_prefix(output.detail_csv, ".convergence.csv"),
        runs=convergence_args,
        title=lambda w: f"{w.dataset} {w.direction}",
    shell:
        "python -m lssd.report.convergence {params.runs} --out-prefix {params.prefix}"
        " --title {params.title:q} > {log} 2>&1"


rule figure_curves:
    """Figure (a): the baseline's per-pair dev-loss curves (first seed)."""
    input:
        history=lambda w: run_dir(w.dataset, w.direction, BASELINE, FIRST_SEED, layout.HISTORY),
        data=path("data"),
    output:
        **figure_outputs("curves", "dev-loss curves (baseline)", "curves"),
    log:
        "logs/figures/{dataset}/{direction}.curves.log",
    params:
        out=lambda w, output: output_prefix(output.png, ".png"),
        roles=lambda w: language_roles_arg(w.dataset),
        title=lambda w: f"{w.dataset} {w.direction}, baseline, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures curves --history {input.history} --manifest {input.data}/manifest.json"
        " --roles {params.roles:q} --title {params.title:q} --out {params.out} > {log} 2>&1"


rule figure_compare:
    """Figure (b): each pair's dev loss, the baseline against every LSSD variant (first seed)."""
    input:
        histories=lambda w: run_files(w.dataset, w.direction, layout.HISTORY, seeds=[FIRST_SEED]),
        data=path("data"),
    output:
        **figure_outputs("compare", "baseline vs LSSD per pair", "compare"),
    log:
        "logs/figures/{dataset}/{direction}.compare.log",
    params:
        out=lambda w, output: output_prefix(output.png, ".png"),
        roles=lambda w: language_roles_arg(w.dataset),
        histories=lambda w: named_files(w, layout.HISTORY, config["run"]["methods"]),
        title=lambda w: f"{w.dataset} {w.direction}, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures compare --history {params.histories} --manifest {input.data}/manifest.json"
        " --roles {params.roles:q} --title {params.title:q} --out {params.out} > {log} 2>&1"


rule figure_distillation:
    """Figure (c): where KD was on, per pair and epoch, and the mean gate (first seed)."""
    input:
        records=lambda w: run_files(w.dataset, w.direction, layout.RECORDS, methods=lssd_methods(), seeds=[FIRST_SEED]),
    output:
        **figure_outputs("distillation", "distillation per pair and epoch", "distillation"),
    log:
        "logs/figures/{dataset}/{direction}.distillation.log",
    params:
        out=lambda w, output: output_prefix(output.png, ".png"),
        records=lambda w: named_files(w, layout.RECORDS, lssd_methods()),
        title=lambda w: f"{w.dataset} {w.direction}, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures distillation --records {params.records} --title {params.title:q}"
        " --out {params.out} > {log} 2>&1"


rule figure_pair_best:
    """Figure (d): per pair, the baseline's one-model BLEU, its per-pair best, and each LSSD variant (test)."""
    input:
        data=path("data"),
        evaluations=gap_inputs,
    output:
        **figure_outputs("pair_best", "per-pair best vs LSSD", "pair_best"),
    log:
        "logs/figures/{dataset}/{direction}.pair_best.log",
    params:
        out=lambda w, output: output_prefix(output.png, ".png"),
        roles=lambda w: language_roles_arg(w.dataset),
        lssd=lambda w: ",".join(lssd_methods()),
        title=lambda w: f"{w.dataset} {w.direction} (test)",
        files=gap_files,
        baseline=BASELINE,
    shell:
        "python -m lssd.report.figures pair_best --manifest {input.data}/manifest.json --roles {params.roles:q}"
        " --baseline {params.baseline} --lssd-methods {params.lssd} --title {params.title:q} --out {params.out}"
        " --evaluations {params.files} > {log} 2>&1"
