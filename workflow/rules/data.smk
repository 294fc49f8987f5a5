# Parallel text per split and language, plus a manifest with the sizes: results/data/{dataset}/
# The paper datasets are downloaded first (results/downloads/), by local rules: cluster compute nodes often have
# no internet, so downloads run on the machine that runs Snakemake.


include: "helpers/data.smk"


rule download:
    """One file of the downloads table, verified (size, sha256/md5) before it is renamed into place."""
    output:
        path("download"),
    log:
        "logs/downloads/{file}.log",
    benchmark:
        "results/benchmarks/download/{file}.tsv"
    wildcard_constraints:
        file="|".join(re.escape(name) for name in DOWNLOADS) or NEVER,
    localrule: True
    params:
        # what identifies the file (a changed URL or checksum downloads it again); how to download it (mirror,
        # retries) is read from the config in the run block, so changing the mirror re-downloads nothing
        entry=download_entry,
    run:
        download_file(params.entry, output[0], log[0])


rule prepare_demo:
    """The demo corpus, extracted from the gettext catalogs of the installed Django package."""
    output:
        directory(path("data")),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_of_kind("django_catalogs"),
    resources:
        **data_resources("prepare_demo"),
    params:
        spec=lambda w: dataset_json(w, "data"),
    shell:
        "python -m lssd.data.demo --spec {params.spec:q} --name {wildcards.dataset} --outdir {output} > {log} 2>&1"


rule prepare_ted:
    """A TED-8 dataset: the configured language columns of all_talks_{train,dev,test}.tsv against English."""
    input:
        archive=dataset_downloads,
    output:
        directory(path("data")),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_of_kind("ted_talks"),
    resources:
        **data_resources("prepare_ted"),
    params:
        spec=lambda w: dataset_json(w, "data"),
    shell:
        "python -m lssd.data.ted --spec {params.spec:q} --name {wildcards.dataset} --archive {input.archive:q}"
        " --outdir {output} > {log} 2>&1"


rule prepare_wmt:
    """WMT-6 (reconstructed): pooled WMT training corpora subsampled per language, newstest dev/test sets."""
    input:
        dataset_downloads,
    output:
        directory(path("data")),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_of_kind("wmt"),
    # languages built side by side (lssd.data.wmt reads the job's threads from OMP_NUM_THREADS)
    threads: 6
    resources:
        **data_resources("prepare_wmt"),
    params:
        spec=lambda w: dataset_json(w, "data"),
        downloads=lambda w, input: os.path.dirname(input[0]),
    shell:
        "python -m lssd.data.wmt --spec {params.spec:q} --name {wildcards.dataset} --downloads {params.downloads}"
        " --outdir {output} > {log} 2>&1"


rule prepare_parallel_files:
    """A dataset of your own: line-aligned parallel files, checked (line counts, empty lines, UTF-8) and copied."""
    input:
        user_parallel_files,
    output:
        directory(path("data")),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    wildcard_constraints:
        dataset=datasets_of_kind("parallel_files"),
    resources:
        **data_resources("prepare_parallel_files"),
    params:
        spec=lambda w: dataset_json(w, "data"),
    shell:
        "python -m lssd.data.user --spec {params.spec:q} --name {wildcards.dataset} --outdir {output} > {log} 2>&1"
