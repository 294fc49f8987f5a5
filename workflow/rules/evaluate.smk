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
        # from the checkpoint's size when the job is ready (lssd.run.resources: measured, with a margin)
        mem_mb=evaluation_mem_mb,
    params:
        args=generate_args,
        plan=evaluation_plan,
        meta=eval_meta,
    shell:
        "OMP_NUM_THREADS={threads} python -m lssd.run.evaluate --output-dir {output} --plan {params.plan:q}"
        " --meta {params.meta:q} --gpus {resources.gpu} -- {params.args} > {log} 2>&1"
