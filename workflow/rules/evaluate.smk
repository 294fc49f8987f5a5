# One job per (run, pair, split): fairseq-generate on checkpoint_best.pt, scored with sacrebleu's API.


rule evaluate:
    input:
        model="results/train/{dataset}/{direction}/{method}/seed{seed}/checkpoint_best.pt",
        bin="results/bin/{dataset}",
        spm=target_spm_model,
        data="results/data/{dataset}",
    output:
        scores="results/eval/{dataset}/{direction}/{method}/seed{seed}/{pair}.{split}.json",
        hypotheses="results/eval/{dataset}/{direction}/{method}/seed{seed}/{pair}.{split}.hyp",
    log:
        "logs/eval/{dataset}/{direction}/{method}/seed{seed}/{pair}.{split}.log",
    threads: config["evaluation"]["threads"]
    resources:
        gpu=config["run"]["gpus_per_evaluation"],
    params:
        args=generate_args,
        reference=reference_file,
        target=target_side,
        meta=eval_meta,
    shell:
        "OMP_NUM_THREADS={threads} python -m lssd.evaluate --output {output.scores} --hypotheses {output.hypotheses}"
        " --spm-model {input.spm} --reference {params.reference} --target-lang {params.target}"
        " --meta {params.meta:q} --gpus {resources.gpu} -- {params.args} > {log} 2>&1"
