# Results a researcher reads: tables (CSV, Markdown, LaTeX), significance, convergence statistics and figures,
# all rebuilt from the evaluation files and the runs' history/records, and all marked for `snakemake --report`.


rule significance:
    """Paired bootstrap (sacrebleu) of one method against the baseline, per pair, on the first seed."""
    input:
        hypotheses=significance_inputs,
        data="results/data/{dataset}",
    output:
        "results/significance/{dataset}/{direction}/{method}.json",
    log:
        "logs/significance/{dataset}/{direction}/{method}.log",
    params:
        pairs=significance_args,
    shell:
        "python -m lssd.report.significance --method {wildcards.method} --output {output} {params.pairs} > {log} 2>&1"


rule tables:
    input:
        data="results/data/{dataset}",
        evaluations=lambda w: evaluation_dirs(w.dataset, w.direction),
        significance=lambda w: significance_files(w.dataset, w.direction),
    output:
        **table_outputs(),
    log:
        "logs/tables/{dataset}/{direction}.log",
    params:
        roles=lambda w: language_roles_arg(w.dataset),
        methods=",".join(config["run"]["methods"]),
        title=lambda w: f"{w.dataset} {w.direction} (test)",
        setting=lambda w: paper_setting_args(w.dataset),
        significance=lambda w, input: " ".join(f"--significance {path}" for path in input.significance),
        results=lambda w: " ".join(evaluation_files(w.dataset, w.direction)),
    shell:
        "python -m lssd.report.tables --manifest {input.data}/manifest.json --roles {params.roles:q} --methods {params.methods}"
        " --out-prefix results/tables/{wildcards.dataset}/{wildcards.direction} --title {params.title:q}"
        " --direction {wildcards.direction} {params.setting} {params.significance}"
        " {params.results} > {log} 2>&1"


rule convergence:
    input:
        histories=lambda w: run_files(w.dataset, w.direction, "history.json"),
        records=lambda w: run_files(w.dataset, w.direction, "records.json"),
    output:
        detail_csv=report(
            "results/tables/{dataset}/{direction}.convergence.csv",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": "convergence per pair", "format": "CSV"},
        ),
        detail_md=report(
            "results/tables/{dataset}/{direction}.convergence.md",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": "convergence per pair", "format": "Markdown"},
        ),
        summary_csv=report(
            "results/tables/{dataset}/{direction}.convergence_summary.csv",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": "convergence per run", "format": "CSV"},
        ),
        summary_md=report(
            "results/tables/{dataset}/{direction}.convergence_summary.md",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": "convergence per run", "format": "Markdown"},
        ),
    log:
        "logs/tables/{dataset}/{direction}.convergence.log",
    params:
        runs=convergence_args,
        title=lambda w: f"{w.dataset} {w.direction}",
    shell:
        "python -m lssd.report.convergence {params.runs} --out-prefix results/tables/{wildcards.dataset}/{wildcards.direction}"
        " --title {params.title:q} > {log} 2>&1"


rule figure_curves:
    """Figure (a): the baseline's per-pair dev-loss curves (first seed)."""
    input:
        history=lambda w: run_dir(w.dataset, w.direction, BASELINE, FIRST_SEED, "history.json"),
        data="results/data/{dataset}",
    output:
        png=report(
            "results/figures/{dataset}/{direction}/curves.png",
            caption="../report/curves.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "dev-loss curves (baseline)", "format": "PNG"},
        ),
        pdf=report(
            "results/figures/{dataset}/{direction}/curves.pdf",
            caption="../report/curves.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "dev-loss curves (baseline)", "format": "PDF"},
        ),
    log:
        "logs/figures/{dataset}/{direction}.curves.log",
    params:
        roles=lambda w: language_roles_arg(w.dataset),
        title=lambda w: f"{w.dataset} {w.direction}, baseline, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures curves --history {input.history} --manifest {input.data}/manifest.json"
        " --roles {params.roles:q} --title {params.title:q} --out results/figures/{wildcards.dataset}/{wildcards.direction}/curves > {log} 2>&1"


rule figure_compare:
    """Figure (b): each pair's dev loss, the baseline against every LSSD variant (first seed)."""
    input:
        histories=lambda w: run_files(w.dataset, w.direction, "history.json", seeds=[FIRST_SEED]),
        data="results/data/{dataset}",
    output:
        png=report(
            "results/figures/{dataset}/{direction}/compare.png",
            caption="../report/compare.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "baseline vs LSSD per pair", "format": "PNG"},
        ),
        pdf=report(
            "results/figures/{dataset}/{direction}/compare.pdf",
            caption="../report/compare.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "baseline vs LSSD per pair", "format": "PDF"},
        ),
    log:
        "logs/figures/{dataset}/{direction}.compare.log",
    params:
        roles=lambda w: language_roles_arg(w.dataset),
        histories=lambda w: named_files(w, "history.json", config["run"]["methods"]),
        title=lambda w: f"{w.dataset} {w.direction}, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures compare --history {params.histories} --manifest {input.data}/manifest.json"
        " --roles {params.roles:q} --title {params.title:q} --out results/figures/{wildcards.dataset}/{wildcards.direction}/compare > {log} 2>&1"


rule figure_distillation:
    """Figure (c): where KD was on, per pair and epoch, and the mean gate (first seed)."""
    input:
        records=lambda w: run_files(w.dataset, w.direction, "records.json", methods=lssd_methods(), seeds=[FIRST_SEED]),
    output:
        png=report(
            "results/figures/{dataset}/{direction}/distillation.png",
            caption="../report/distillation.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "distillation per pair and epoch", "format": "PNG"},
        ),
        pdf=report(
            "results/figures/{dataset}/{direction}/distillation.pdf",
            caption="../report/distillation.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": "distillation per pair and epoch", "format": "PDF"},
        ),
    log:
        "logs/figures/{dataset}/{direction}.distillation.log",
    params:
        records=lambda w: named_files(w, "records.json", lssd_methods()),
        title=lambda w: f"{w.dataset} {w.direction}, seed {FIRST_SEED}",
    shell:
        "python -m lssd.report.figures distillation --records {params.records} --title {params.title:q}"
        " --out results/figures/{wildcards.dataset}/{wildcards.direction}/distillation > {log} 2>&1"
