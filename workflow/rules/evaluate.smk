# One job per run: every pair and split translated with one model load (lssd.run.generation, fairseq's own
# generation steps) and scored with sacrebleu's API; the per-pair files land in the run's evaluation directory.


include: "helpers/evaluate.smk"


rule evaluate:
    input:
        model=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.BEST),
        bin=path("bin"),
        spm=target_spm_models,
        data=path("data"),
    output:
        directory(eval_dir("{dataset}", "{direction}", "{method}", "{seed}")),
    log:
        layout.log("eval"),
    threads: config["evaluation"]["threads"]
    resources:
        gpu=config["run"]["gpus_per_evaluation"],
        gres="",  # (the SLURM profile's --gres alternative, as for the training)
        # from the checkpoint's size when the job is ready (lssd.run.resources: measured, with a margin)
        mem_mb=evaluation_mem_mb,
    params:
        args=generate_args,
        plan=evaluation_plan,
        meta=eval_meta,
    shell:
        "OMP_NUM_THREADS={threads} python -m lssd.run.evaluate --output-dir {output} --plan {params.plan:q}"
        " --meta {params.meta:q} --gpus {resources.gpu} --gres={resources.gres:q} -- {params.args} > {log} 2>&1"


rule evaluate_pair_best:
    """Every pair translated with its own best checkpoint (the epoch of its lowest dev loss, a model-only file the
    training kept); a pair whose best checkpoint holds checkpoint_best.pt's weights reuses the one-model files."""
    input:
        model=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.BEST),
        history=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.HISTORY),
        one_model=eval_dir("{dataset}", "{direction}", "{method}", "{seed}"),
        bin=path("bin"),
        spm=target_spm_models,
        data=path("data"),
    output:
        directory(pair_best_dir("{dataset}", "{direction}", "{method}", "{seed}")),
    log:
        layout.log("eval_pair_best"),
    threads: config["evaluation"]["threads"]
    resources:
        gpu=config["run"]["gpus_per_evaluation"],
        gres="",  # (the SLURM profile's --gres alternative, as for the training)
        mem_mb=evaluation_mem_mb,
    params:
        args=generate_args,
        plan=evaluation_plan,
        meta=eval_meta,
        # from the input (not recorded): the run's checkpoint directory, where the per-pair best files are
        checkpoints=lambda w, input: os.path.join(os.path.dirname(input.model), layout.CHECKPOINTS),
    shell:
        "OMP_NUM_THREADS={threads} python -m lssd.run.evaluate_pair_best --output-dir {output}"
        " --history {input.history} --checkpoints {params.checkpoints} --one-model {input.one_model}"
        " --plan {params.plan:q} --meta {params.meta:q} --gpus {resources.gpu} --gres={resources.gres:q}"
        " -- {params.args} > {log} 2>&1"
