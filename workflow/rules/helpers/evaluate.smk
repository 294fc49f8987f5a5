# Helpers of the rules in workflow/rules/evaluate.smk (included there; what every stage shares is in common.smk).


def evaluation_mem_mb(wildcards, input, attempt):
    """The evaluate job's host memory, from the size of the checkpoint it loads (a dry run: <TBD> until trained)."""
    return run_resources.evaluation_mem_mb(os.path.getsize(input.model), attempt)


def generate_args(wildcards):
    # from the wildcards, not from `input`: Snakemake records (and compares, to rerun on a change) only the
    # params that do not depend on the input files
    return shlex.join(
        commands.generate_arguments(
            data_bin=path("bin", dataset=wildcards.dataset),
            model=run_dir(wildcards.dataset, wildcards.direction, wildcards.method, wildcards.seed, layout.BEST),
            pairs=lssd_config.pairs(config, wildcards.dataset, wildcards.direction),
            direction=wildcards.direction,
            beam=config["evaluation"]["beam"],
            lenpen=config["evaluation"]["lenpen"],
            batch_size=config["evaluation"]["batch_size"],
            max_len_b=config["evaluation"]["max_len_b"],
        )
    )


def evaluation_plan(wildcards):
    """What one run's evaluation translates: every pair of its direction, every configured split, each with its
    raw reference and the target side's SentencePiece model."""
    plan = []
    for pair in lssd_config.pairs(config, wildcards.dataset, wildcards.direction):
        for split in config["evaluation"]["splits"]:
            names = SimpleNamespace(dataset=wildcards.dataset, pair=pair, split=split)
            plan.append(
                {"pair": pair, "split": split, "reference": reference_file(names), "spm_model": target_spm_model(names)}
            )
    return json.dumps(plan)


def target_spm_model(wildcards):
    spec = config["datasets"][wildcards.dataset]
    name = model_for_side(spec, target_side(wildcards))
    return path("spm_model", dataset=wildcards.dataset, model=name)


def target_spm_models(wildcards):
    """The SentencePiece models of every target side of a direction (one, or one per language)."""
    pairs = lssd_config.pairs(config, wildcards.dataset, wildcards.direction)
    return sorted({target_spm_model(SimpleNamespace(dataset=wildcards.dataset, pair=pair)) for pair in pairs})


def eval_meta(wildcards):
    return json.dumps(
        {
            "dataset": wildcards.dataset,
            "direction": wildcards.direction,
            "method": wildcards.method,
            "seed": int(wildcards.seed),
        }
    )
