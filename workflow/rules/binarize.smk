# One fairseq data-bin per dataset serving both directions, with lang_list.txt and LS_dict.<lang>.txt.
# Every dev and test sentence is checked first to fit the smallest max_positions of the dataset's trainings.


include: "helpers/binarize.smk"


rule binarize:
    input:
        encoded_languages,
    output:
        directory(path("bin")),
    log:
        "logs/binarize/{dataset}.log",
    benchmark:
        "results/benchmarks/binarize/{dataset}.tsv"
    threads: 2
    resources:
        **data_resources("binarize"),
    params:
        spec=lambda w: dataset_json(w, "binarize"),
        max_positions=lambda w: dataset_max_positions(w.dataset)[0],
        max_positions_key=lambda w: dataset_max_positions(w.dataset)[1],
        encoded=lambda w, input: os.path.dirname(input[0]),
        data=lambda w: path("data", dataset=w.dataset),
    shell:
        "python -m lssd.data.binarize --spec {params.spec:q} --encoded {params.encoded} --outdir {output} --workers {threads}"
        " --max-positions {params.max_positions} --max-positions-key {params.max_positions_key:q}"
        " --data {params.data} > {log} 2>&1"
