# Helpers of the rules in workflow/rules/train.smk (included there; what every stage shares is in common.smk).


def train_args(wildcards):
    settings = lssd_config.training_settings(config, wildcards.dataset, wildcards.direction, wildcards.method)
    args = commands.train_arguments(
        data_bin=path("bin", dataset=wildcards.dataset),
        save_dir=layout.save_dir(wildcards.dataset, wildcards.direction, wildcards.method, wildcards.seed),
        pairs=lssd_config.pairs(config, wildcards.dataset, wildcards.direction),
        direction=wildcards.direction,
        training=settings,
        method=lssd_config.method_settings(config, wildcards.method, wildcards.direction, wildcards.dataset),
        seed=int(wildcards.seed),
    )
    return shlex.join(args)


def training_runtime_options(wildcards):
    """The runner's options read when the job runs, not a rerun trigger: logging and retention (the epoch and the
    per-pair best checkpoints) cannot change the model; the devices are checked by the runner against the run's
    identity when it resumes."""
    settings = lssd_config.training_settings(config, wildcards.dataset, wildcards.direction, wildcards.method)
    options = ["--log-interval", str(settings["log_interval"])]
    options += ["--cpu-workers", str(config["run"]["cpu_workers_per_training"])]
    options += ["--fp16"] if config["run"]["fp16"] else []
    options += ["--keep-epoch-checkpoints"] if config["run"]["keep_epoch_checkpoints"] else []
    options += ["--tensorboard"] if config["run"]["tensorboard"] else []
    # (each pair's best checkpoint kept for the per-pair best evaluation: which files stay, not the model)
    options += [] if config["evaluation"].get("per_pair_best", True) else ["--no-pair-best"]
    return shlex.join(options)


def training_resource(wildcards, key):
    return lssd_config.training_settings(config, wildcards.dataset, wildcards.direction, wildcards.method)[key]


def training_priority(wildcards):
    """Longest trainings first (their epochs; a run is not replanned by it): on a few cores, the shortest ones then
    fill in at the end instead of one long training running alone (the demo: eng→X trains 27 epochs, X→eng 15)."""
    return int(training_resource(wildcards, "max_epoch"))
