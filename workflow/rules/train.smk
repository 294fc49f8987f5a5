# fairseq-train with the lssd task. Only the final artifacts are outputs: the checkpoint directory is not, so a
# killed job that Snakemake starts again resumes from checkpoint_last.pt instead of starting over.
# The params are what defines the trained model (a change retrains it); logging, checkpoint retention and the
# devices (fp16, CPU workers; the GPUs are a resource) are read from the config when the job runs (a `run:` block),
# so changing them replans nothing: a finished run stays published, and a run that resumes on other devices is
# checked by the runner (lssd.run.identity: another batch per update or precision is another run).


include: "helpers/train.smk"


rule train:
    input:
        bin=path("bin"),
    output:
        best=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.BEST),
        history=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.HISTORY),
        records=run_dir("{dataset}", "{direction}", "{method}", "{seed}", layout.RECORDS),
    log:
        layout.log("train"),
    priority: training_priority
    threads: config["run"]["threads_per_training"]
    resources:
        gpu=config["run"]["gpus_per_training"],
        # a cluster that only takes --gres: the profile sets gres "gpu:N" (and gpu 0), the job counts its GPUs
        gres="",
        mem_mb=lambda w: training_resource(w, "mem_mb"),
        runtime=lambda w: training_resource(w, "runtime_minutes"),
    params:
        # from the output (not recorded by Snakemake: a param of the wildcards alone would be, and adding one would
        # replan every finished training); the same path as layout.save_dir
        save_dir=lambda w, output: os.path.join(os.path.dirname(output.best), layout.CHECKPOINTS),
        args=train_args,
    run:
        runtime_options = training_runtime_options(wildcards)
        shell(
            "OMP_NUM_THREADS={threads} python -m lssd.run.train_run --save-dir {params.save_dir} --best {output.best}"
            " --history {output.history} --records {output.records} --gpus {resources.gpu} --gres={resources.gres:q}"
            " {runtime_options} -- {params.args} >> {log} 2>&1"
        )
