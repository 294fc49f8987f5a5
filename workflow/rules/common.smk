# Helpers shared by the rules: config validation, the runs the config asks for, and per-run settings.
import json
import os
import shlex

from snakemake.utils import validate

from lssd import commands
from lssd import config as lssd_config
from lssd.spm import model_for_side

validate(config, schema="../schemas/config.schema.yaml")
try:
    lssd_config.check(config)
except lssd_config.ConfigError as error:
    raise WorkflowError(f"Invalid config: {error}")


RUNS = lssd_config.runs(config)
NEVER = "(?!x)x"  # a wildcard constraint that matches nothing


def datasets_of_kind(kind):
    names = [name for name, spec in config["datasets"].items() if spec["source"]["kind"] == kind]
    return "|".join(names) if names else NEVER


def dataset_json(wildcards):
    return json.dumps(config["datasets"][wildcards.dataset], sort_keys=True)


def run_dir(dataset, direction, method, seed, *parts):
    return os.path.join(f"results/train/{dataset}/{direction}/{method}/seed{seed}", *parts)


def train_args(wildcards):
    settings = lssd_config.training_settings(config, wildcards.dataset, wildcards.direction)
    args = commands.train_arguments(
        data_bin=f"results/bin/{wildcards.dataset}",
        save_dir=run_dir(wildcards.dataset, wildcards.direction, wildcards.method, wildcards.seed, "checkpoints"),
        pairs=lssd_config.pairs(config, wildcards.dataset, wildcards.direction),
        direction=wildcards.direction,
        training=settings,
        method=lssd_config.method_settings(config, wildcards.method, wildcards.direction),
        seed=int(wildcards.seed),
    )
    return shlex.join(args)


def training_resource(wildcards, key):
    return lssd_config.training_settings(config, wildcards.dataset, wildcards.direction)[key]


def generate_args(wildcards, input):
    return shlex.join(
        commands.generate_arguments(
            data_bin=input.bin,
            model=input.model,
            pairs=lssd_config.pairs(config, wildcards.dataset, wildcards.direction),
            direction=wildcards.direction,
            pair=wildcards.pair,
            split=wildcards.split,
            beam=config["evaluation"]["beam"],
            lenpen=config["evaluation"]["lenpen"],
            batch_size=config["evaluation"]["batch_size"],
            max_len_b=config["evaluation"]["max_len_b"],
        )
    )


def target_side(wildcards):
    return wildcards.pair.split("-")[1]


def foreign_side(wildcards):
    pivot = config["datasets"][wildcards.dataset]["pivot"]
    source, target = wildcards.pair.split("-")
    return target if source == pivot else source


def reference_file(wildcards):
    pivot = config["datasets"][wildcards.dataset]["pivot"]
    lang = foreign_side(wildcards)
    return f"results/data/{wildcards.dataset}/{wildcards.split}.{lang}-{pivot}.{target_side(wildcards)}"


def target_spm_model(wildcards):
    spec = config["datasets"][wildcards.dataset]
    name = model_for_side(spec, target_side(wildcards))
    return f"results/spm/{wildcards.dataset}/models/spm.{name}.model"


def eval_meta(wildcards):
    return json.dumps(
        {
            "dataset": wildcards.dataset,
            "direction": wildcards.direction,
            "method": wildcards.method,
            "seed": int(wildcards.seed),
            "pair": wildcards.pair,
            "split": wildcards.split,
        }
    )


def evaluation_files(dataset, direction, split="test"):
    """Every per-pair evaluation JSON of one dataset and direction, over the configured methods and seeds."""
    return [
        f"results/eval/{dataset}/{direction}/{method}/seed{seed}/{pair}.{split}.json"
        for (d, r, method, seed) in RUNS
        if d == dataset and r == direction
        for pair in lssd_config.pairs(config, dataset, direction)
    ]


def all_targets():
    targets = []
    for dataset, direction, method, seed in RUNS:
        targets.append(run_dir(dataset, direction, method, seed, "history.json"))
        targets.append(run_dir(dataset, direction, method, seed, "records.json"))
        for split in config["evaluation"]["splits"]:
            for pair in lssd_config.pairs(config, dataset, direction):
                targets.append(f"results/eval/{dataset}/{direction}/{method}/seed{seed}/{pair}.{split}.json")
    for dataset in config["run"]["datasets"]:
        for direction in config["run"]["directions"]:
            for metric in ("bleu", "chrf"):
                targets += [f"results/tables/{dataset}/{direction}.{metric}.{ext}" for ext in ("csv", "md")]
    return targets
