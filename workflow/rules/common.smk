# What every stage shares: config validation, the downloads table, the runs the config asks for, targets and the
# start-up checks (called by the Snakefile once every rule file is included). Each stage's own helpers are in
# helpers/<stage>.smk, included by its rule file.
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import snakemake.utils
from snakemake.logging import logger

from lssd.run import commands
from lssd import config as lssd_config
from lssd import config_checks
from lssd.run import fairseq_args as lssd_fairseq_args
from lssd.data import download as downloads_module
from lssd.data.download import read_table as read_downloads_table
from lssd.metrics import TABLES as TABLE_METRICS
from lssd.run import evaluated
from lssd.data.parallel import parallel_path
from lssd.data.spm import model_for_side
from lssd.data import resources as data_costs
from lssd.method.flags import is_lssd_method
from lssd.method.history import pair_best_epochs
from lssd.method.teachers import teacher_path
from lssd import layout
from lssd.run import resources as run_resources

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

# Every output's path, the run layout and the file names are lssd.layout's (written once, for the rules, the
# status command and the tests).
path = layout.path
run_dir = layout.run_dir


try:
    config_checks.check_config_files(workflow.configfiles)
    # nested --config values arrive as strings ('1'): give them their YAML types before validating
    overrides = config_checks.typed_overrides(dict(workflow.config_settings.config))
    snakemake.utils.update_config(config, overrides)
    # each schema error names the file or --config that gave the key
    config_checks.validate_config(config, SCHEMA, sources=config_checks.config_sources(workflow.configfiles, overrides))
except lssd_config.ConfigError as error:
    raise WorkflowError(f"Invalid config: {error}")


RUNS = lssd_config.runs(config)


def check_gpu_budget():
    """A job asking for more GPUs than `--resources gpu=N` allows would never be scheduled: say so up front."""
    available = (workflow.global_resources or {}).get("gpu")
    available = getattr(available, "value", available)  # Snakemake 9 wraps it in a Resource
    if not isinstance(available, int):
        return
    for key in ("gpus_per_training", "gpus_per_evaluation"):
        wanted = config["run"][key]
        if wanted > available:
            raise WorkflowError(
                f"Invalid config: run.{key} = {wanted}, but this run allows gpu={available} (--resources or the "
                f"profile's resources): lower run.{key} or allow more GPUs"
            )


check_gpu_budget()


def downloads_table_path():
    """The downloads table: a relative path is looked up in the working directory, then in the repository."""
    path = Path(config["downloads"]["table"])
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (Path(workflow.basedir) / path).resolve()


def needed_downloads():
    """Every downloads-table name the configured datasets need, checked against the table (before any job)."""
    needed = {}
    for name in config["run"]["datasets"]:
        for download in lssd_config.dataset_downloads(config["datasets"][name]):
            needed.setdefault(download, name)
    if not needed:
        return {}
    table_path = downloads_table_path()
    try:
        table = read_downloads_table(table_path)
    except (OSError, ValueError) as error:
        raise WorkflowError(f"Invalid config: downloads.table: {error}")
    for download, dataset in needed.items():
        if download not in table:
            raise WorkflowError(
                f"Invalid config: datasets.{dataset}.source: '{download}' is not in the downloads table {table_path}"
            )
    return {download: table[download] for download in needed}


DOWNLOADS = needed_downloads()
NEVER = "(?!x)x"  # a wildcard constraint that matches nothing


def dataset_json(wildcards, stage):
    """The part of a dataset block that one preparation stage reads (``lssd.config.stage_spec``): the rule's
    params, so that a setting only another stage reads (a language's role, the training preset) replans nothing."""
    return json.dumps(lssd_config.stage_spec(config["datasets"][wildcards.dataset], stage), sort_keys=True)


def data_resources(stage, measure=None):
    """A data rule's ``resources`` (lssd.data.resources): memory and time from the size of the job's input (or
    what ``measure(wildcards, input)`` counts), evaluated when the job is ready, with more on each retry."""

    sizes = {}  # one count per job for both requests: a count may walk a data directory or read a corpus

    def request(key):
        def value(wildcards, input, attempt):
            job = (tuple(sorted(wildcards.items())), tuple(input))
            if job not in sizes:
                sizes[job] = measure(wildcards, input) if measure else data_costs.input_bytes(input)
            return data_costs.job_resources(stage, sizes[job], attempt)[key]

        return value

    return {"mem_mb": request("mem_mb"), "runtime": request("runtime")}


def dataset_downloads(wildcards):
    return [
        path("download", file=name) for name in lssd_config.dataset_downloads(config["datasets"][wildcards.dataset])
    ]


def target_side(wildcards):
    return wildcards.pair.split("-")[1]


def foreign_side(wildcards):
    return lssd_config.pair_language(wildcards.pair, config["datasets"][wildcards.dataset]["pivot"])


def reference_file(wildcards):
    pivot = config["datasets"][wildcards.dataset]["pivot"]
    lang = foreign_side(wildcards)
    return str(
        parallel_path(path("data", dataset=wildcards.dataset), wildcards.split, lang, pivot, target_side(wildcards))
    )


FIRST_SEED = config["run"]["seeds"][0]
BASELINE = "baseline"


def lssd_methods():
    """The configured methods that distil (every method but the baseline criterion)."""
    return [m for m in config["run"]["methods"] if is_lssd_method(config["methods"][m])]


def eval_dir(dataset, direction, method, seed):
    """A run's evaluation directory: the evaluate rule's output, holding every pair's and split's files."""
    return path("eval", dataset=dataset, direction=direction, method=method, seed=seed)


def pair_best_dir(dataset, direction, method, seed):
    """A run's per-pair best evaluation (evaluation.per_pair_best): each pair translated with its own best
    checkpoint, the same files as eval_dir's."""
    return path("eval_pair_best", dataset=dataset, direction=direction, method=method, seed=seed)


def missing_pair_best_checkpoint(dataset, direction, method, seed):
    """For a published run (its history.json exists), the first per-pair best checkpoint its checkpoint directory
    lacks (a run trained by lssd 0.1.0, which kept them only as an LSSD run's teachers, or one whose files were
    deleted); None when it has them all, or when the run is not trained yet (its training writes them)."""
    history = Path(run_dir(dataset, direction, method, seed, layout.HISTORY))
    if not history.is_file():
        return None
    try:
        epochs = pair_best_epochs(json.loads(history.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None  # the training reruns (its output is damaged): it writes them
    for epoch in sorted(set(epochs.values())):
        file = teacher_path(layout.save_dir(dataset, direction, method, seed), epoch)
        if not file.is_file():
            return file
    return None


def pair_best_evaluated(dataset, direction, method, seed):
    """Whether a run gets a per-pair best evaluation: evaluation.per_pair_best, and the run's files are there
    (a run without them is left out with a warning, check_pair_best_checkpoints: its one-model results stand)."""
    if not config["evaluation"]["per_pair_best"]:
        return False
    return (dataset, direction, method, seed) not in RUNS_WITHOUT_PAIR_BEST


def check_pair_best_checkpoints():
    """The published runs whose per-pair best checkpoints are missing: left out of the per-pair best rows, once,
    with what to do."""
    missing = {}
    if config["evaluation"]["per_pair_best"]:
        for run in RUNS:
            file = missing_pair_best_checkpoint(*run)
            if file is not None:
                missing[run] = file
    if missing and workflow.is_main_process:
        for run, file in missing.items():
            name = layout.run_key(*run)
            logger.warning(
                f"{name}: no per-pair best row (its per-pair best checkpoint {file} is missing: trained by lssd 0.1.0,"
                f" or deleted); to get one, train it again (snakemake --forcerun {run_dir(*run, layout.BEST)}), then run"
                " snakemake once more"
            )
    return missing


RUNS_WITHOUT_PAIR_BEST = check_pair_best_checkpoints()


def eval_path(dataset, direction, method, seed, pair, split, ext):
    """One pair's and split's evaluation file (.json scores, .hyp hypotheses, .spm_ref paper-comparable
    references) inside the run's evaluation directory."""
    return f"{eval_dir(dataset, direction, method, seed)}/{pair}.{split}.{ext}"


def report_targets():
    targets = []
    for dataset in config["run"]["datasets"]:
        for direction in config["run"]["directions"]:
            tables = path("tables", dataset=dataset, direction=direction)
            for metric in TABLE_METRICS:
                targets += [f"{tables}.{metric}.{ext}" for ext in TABLE_FORMATS]
            targets += [
                f"{tables}.{name}.{ext}"
                for name in ("convergence", "convergence_summary")
                for ext in ("csv", "md", "html")
            ]
            figures = path("figures", dataset=dataset, direction=direction)
            names = ["compare"] + (["curves"] if BASELINE in config["run"]["methods"] else [])
            names += ["distillation"] if lssd_methods() else []
            if gap_reported(dataset, direction):
                names.append("pair_best")
                targets += [f"{tables}.gap.{ext}" for ext in TABLE_FORMATS]
            targets += [f"{figures}/{name}.{ext}" for name in names for ext in ("png", "pdf")]
    return targets


def all_targets():
    targets = []
    for dataset, direction, method, seed in RUNS:
        targets.append(run_dir(dataset, direction, method, seed, layout.HISTORY))
        targets.append(run_dir(dataset, direction, method, seed, layout.RECORDS))
        targets.append(eval_dir(dataset, direction, method, seed))
        if pair_best_evaluated(dataset, direction, method, seed):
            targets.append(pair_best_dir(dataset, direction, method, seed))
    return targets + report_targets()


def check_fairseq_arguments():
    """Every run's fairseq-train arguments, parsed by fairseq itself before any job runs (once per configuration:
    lssd.run.fairseq_args remembers the lists that passed). Not in the jobs' own Snakemake processes."""
    if not workflow.is_main_process:
        return
    runs, sources = [], {}
    for dataset, direction, method, seed in RUNS:
        wildcards = SimpleNamespace(dataset=dataset, direction=direction, method=method, seed=seed)
        settings = lssd_config.training_settings(config, dataset, direction, method)
        args = shlex.split(train_args(wildcards)) + commands.runtime_train_arguments(
            log_interval=settings["log_interval"], keep_epoch_checkpoints=False
        )
        name = f"{dataset}/{direction}/{method}/seed{seed}"
        runs.append({"run": name, "args": [*args, "--cpu"]})
        sources[name] = (
            f"trainings.{config['datasets'][dataset]['training']} (arch, model, extra_args) or methods.{method}"
        )
    errors = lssd_fairseq_args.check(runs)
    if errors:
        name, message = next(iter(errors.items()))
        raise WorkflowError(
            f"Invalid config: fairseq-train refuses the arguments of {name}: {message} (set in {sources[name]})"
        )


def evaluation_directories():
    """(dataset, direction, method, seed, directory, files beyond the per-pair ones) of every evaluation the
    config asks for: the one-model one, and the per-pair best one (its manifest too)."""
    for dataset, direction, method, seed in RUNS:
        yield dataset, direction, method, seed, Path(eval_dir(dataset, direction, method, seed)), []
        if config["evaluation"]["per_pair_best"]:
            directory = Path(pair_best_dir(dataset, direction, method, seed))
            yield dataset, direction, method, seed, directory, [layout.PAIR_BEST_MANIFEST]


def check_evaluations():
    """A run's evaluation directory that is no longer what its job wrote (a file truncated, edited or gone:
    lssd.run.evaluated) is moved aside, kept, so that the run is evaluated again and the tables follow. In the main
    process only; a dry run only says so."""
    if not workflow.is_main_process:
        return
    for dataset, direction, method, seed, directory, extra in evaluation_directories():
        if not directory.is_dir():
            continue
        pairs = lssd_config.pairs(config, dataset, direction)
        expected = evaluated.expected_files(pairs, config["evaluation"]["splits"]) + extra
        reason = evaluated.damage(directory, expected)
        if reason is None:
            continue
        if workflow.output_settings.dryrun:  # (set while the Snakefile is read; workflow.dryrun is not yet)
            logger.warning(f"{reason}: {directory} will be moved aside and evaluated again (dry run: nothing moved)")
        else:
            moved = evaluated.move_aside(directory)
            logger.warning(f"{reason}: moved {directory} to {moved}; the run is evaluated again")
