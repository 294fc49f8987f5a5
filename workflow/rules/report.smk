# Result tables per dataset and direction: methods × pairs (+ average), CSV and Markdown.


rule tables:
    input:
        manifest=lambda w: f"results/data/{w.dataset}",
        results=lambda w: evaluation_files(w.dataset, w.direction),
    output:
        bleu_csv="results/tables/{dataset}/{direction}.bleu.csv",
        bleu_md="results/tables/{dataset}/{direction}.bleu.md",
        chrf_csv="results/tables/{dataset}/{direction}.chrf.csv",
        chrf_md="results/tables/{dataset}/{direction}.chrf.md",
    log:
        "logs/tables/{dataset}/{direction}.log",
    params:
        methods=",".join(config["run"]["methods"]),
        title=lambda w: f"{w.dataset} {w.direction} (test)",
    shell:
        "python -m lssd.tables --manifest {input.manifest}/manifest.json --methods {params.methods}"
        " --out-prefix results/tables/{wildcards.dataset}/{wildcards.direction} --title {params.title:q}"
        " {input.results} > {log} 2>&1"
