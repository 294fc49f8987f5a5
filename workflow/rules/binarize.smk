# One fairseq data-bin per dataset serving both directions, with lang_list.txt and LS_dict.<lang>.txt


rule binarize:
    input:
        encoded_languages,
    output:
        directory("results/bin/{dataset}"),
    log:
        "logs/binarize/{dataset}.log",
    threads: 2
    params:
        spec=lambda w: dataset_json(w, "binarize"),
    shell:
        "python -m lssd.binarize --spec {params.spec:q} --encoded results/spm/{wildcards.dataset}/encoded --outdir {output} --workers {threads}"
        " > {log} 2>&1"
