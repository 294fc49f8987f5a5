# SentencePiece models (per_language or joint recipe) and the encoded text: results/spm/{dataset}/
# One job per model and one per language, so that the languages of a per_language recipe train and encode in
# parallel (on a cluster, on as many nodes).


rule spm_train:
    input:
        "results/data/{dataset}",
    output:
        model="results/spm/{dataset}/models/spm.{model}.model",
        vocab="results/spm/{dataset}/models/spm.{model}.vocab",
    log:
        "logs/spm/{dataset}.{model}.train.log",
    threads: lambda w: config["datasets"][w.dataset]["spm"]["num_threads"]
    params:
        spec=lambda w: dataset_json(w, "spm"),
        # not {threads}: Snakemake scales that down to --cores, and SentencePiece's model depends on it
        num_threads=lambda w: config["datasets"][w.dataset]["spm"]["num_threads"],
    shell:
        "python -m lssd.data.spm train --spec {params.spec:q} --data {input} --models results/spm/{wildcards.dataset}/models"
        " --model {wildcards.model} --threads {params.num_threads} --dataset {wildcards.dataset} > {log} 2>&1"


rule spm_encode:
    input:
        data="results/data/{dataset}",
        models=encoding_models,
    output:
        directory("results/spm/{dataset}/encoded/{lang}"),
    log:
        "logs/spm/{dataset}.{lang}.encode.log",
    params:
        spec=lambda w: dataset_json(w, "spm"),
    shell:
        "python -m lssd.data.spm encode --spec {params.spec:q} --data {input.data} --models results/spm/{wildcards.dataset}/models"
        " --lang {wildcards.lang} --outdir {output} > {log} 2>&1"
