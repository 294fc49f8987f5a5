# SentencePiece models (per_language or joint recipe) and the encoded text: results/spm/{dataset}/


rule spm_train:
    input:
        "results/data/{dataset}",
    output:
        directory("results/spm/{dataset}/models"),
    log:
        "logs/spm/{dataset}.train.log",
    threads: 2
    params:
        spec=dataset_json,
    shell:
        "python -m lssd.spm train --spec {params.spec:q} --data {input} --models {output} --threads {threads}"
        " > {log} 2>&1"


rule spm_encode:
    input:
        data="results/data/{dataset}",
        models="results/spm/{dataset}/models",
    output:
        directory("results/spm/{dataset}/encoded"),
    log:
        "logs/spm/{dataset}.encode.log",
    params:
        spec=dataset_json,
    shell:
        "python -m lssd.spm encode --spec {params.spec:q} --data {input.data} --models {input.models}"
        " --outdir {output} > {log} 2>&1"
