# SentencePiece models (per_language or joint recipe) and the encoded text: results/spm/{dataset}/
# One job per model and one per language, so that the languages of a per_language recipe train and encode in
# parallel (on a cluster, on as many nodes).


include: "helpers/spm.smk"


rule spm_train:
    input:
        path("data"),
    output:
        model=path("spm_model"),
        vocab=path("spm_vocab"),
    log:
        "logs/spm/{dataset}.{model}.train.log",
    benchmark:
        "results/benchmarks/spm/{dataset}.{model}.train.tsv"
    threads: lambda w: config["datasets"][w.dataset]["spm"]["num_threads"]
    resources:
        **data_resources("spm_train", spm_model_input),
    params:
        spec=lambda w: dataset_json(w, "spm"),
        # not {threads}: Snakemake scales that down to --cores, and SentencePiece's model depends on it
        num_threads=lambda w: config["datasets"][w.dataset]["spm"]["num_threads"],
        models=lambda w, output: os.path.dirname(output.model),
    shell:
        "python -m lssd.data.spm train --spec {params.spec:q} --data {input} --models {params.models}"
        " --model {wildcards.model} --threads {params.num_threads} --dataset {wildcards.dataset} > {log} 2>&1"


rule spm_encode:
    input:
        data=path("data"),
        models=encoding_models,
    output:
        directory(path("encoded")),
    log:
        "logs/spm/{dataset}.{lang}.encode.log",
    benchmark:
        "results/benchmarks/spm/{dataset}.{lang}.encode.tsv"
    resources:
        **data_resources("spm_encode", encode_input),
    params:
        spec=lambda w: dataset_json(w, "spm"),
        models=lambda w, input: os.path.dirname(input.models[0]),
    shell:
        "python -m lssd.data.spm encode --spec {params.spec:q} --data {input.data} --models {params.models}"
        " --lang {wildcards.lang} --outdir {output} > {log} 2>&1"
