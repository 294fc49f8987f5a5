# Parallel text per split and language, plus a manifest with the sizes: results/data/{dataset}/


rule prepare_demo:
    """The demo corpus, extracted from the gettext catalogs of the installed Django package."""
    output:
        directory("results/data/{dataset}"),
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=datasets_of_kind("django_catalogs"),
    params:
        spec=dataset_json,
    shell:
        "python -m lssd.data.demo --spec {params.spec:q} --name {wildcards.dataset} --outdir {output} > {log} 2>&1"
