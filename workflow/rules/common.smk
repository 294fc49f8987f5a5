# Helpers shared by the rules: config validation, the runs the config asks for, and per-run settings.
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
    snakemake.utils.update_config(config, config_checks.typed_overrides(dict(workflow.config_settings.config)))
    config_checks.validate_config(config, SCHEMA)
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


def datasets_of_kind(kind):
    names = [name for name, spec in config["datasets"].items() if spec["source"]["kind"] == kind]
    return "|".join(names) if names else NEVER


def dataset_json(wildcards, stage):
    """The part of a dataset block that one preparation stage reads (``lssd.config.stage_spec``): the rule's
    params, so that a setting only another stage reads (a language's role, the training preset) replans nothing."""
    return json.dumps(lssd_config.stage_spec(config["datasets"][wildcards.dataset], stage), sort_keys=True)


def dataset_max_positions(dataset):
    """The smallest max_positions of the dataset's configured runs, and where it is set (for the length check).
    Both are binarize params: neither may name a run, or adding a method would rebuild the data-bin."""
    positions = [
        lssd_config.training_settings(config, d, direction, method)["max_positions"]
        for d, direction, method, _ in RUNS
        if d == dataset
    ]
    preset = config["datasets"][dataset]["training"]
    return (min(positions), f"trainings.{preset}.max_positions or an override of it") if positions else (0, "")


def language_roles_arg(dataset):
    """``--roles`` of the tables and figures: LANG=ROLE for every language with a role."""
    languages = config["datasets"][dataset]["languages"]
    return ",".join(f"{lang}={info['role']}" for lang, info in languages.items() if (info or {}).get("role"))


def user_parallel_files(wildcards):
    """The files of a parallel_files dataset: Snakemake names any that is missing before a job runs."""
    from lssd.data.user import source_files

    return [str(path) for path in source_files(config["datasets"][wildcards.dataset])]


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


def spm_model_input(wildcards, input):
    """What one SentencePiece model trains on: its own training files, capped at input_sentence_size."""
    spec = config["datasets"][wildcards.dataset]
    return data_costs.spm_model_bytes(spec, input[0], wildcards.model)


def encode_input(wildcards, input):
    """What one language's encoding reads: its own pair, not the whole dataset."""
    return data_costs.encode_bytes(config["datasets"][wildcards.dataset], input.data, wildcards.lang)


def dataset_downloads(wildcards):
    return [
        path("download", file=name) for name in lssd_config.dataset_downloads(config["datasets"][wildcards.dataset])
    ]


def download_entry(wildcards):
    """The table row of a download (what identifies the file: a changed URL or checksum downloads it again)."""
    return json.dumps(dataclasses.asdict(DOWNLOADS[wildcards.file]), sort_keys=True)


def download_file(entry_json, output, log):
    """The download rule's body: fetch and verify, the log telling what happened (the error too).

    The download runs as a process of its own. Snakemake runs a run block in a thread, which Ctrl-C does not
    interrupt: Snakemake waited for a stalled download for ever. The process gets the Ctrl-C (it is in the
    terminal's process group) and ends with its parent (``die_with_parent``). The transport settings are its
    arguments, not the rule's params, so that changing the mirror or the retries downloads nothing again.
    """
    options = config["downloads"]
    command = [sys.executable, "-m", downloads_module.__name__, "--entry", entry_json, "--output", output]
    command += ["--mirror", options.get("mirror") or "", "--retries", str(options["retries"])]
    command += ["--timeout", str(options["timeout_seconds"]), "--pause", str(options["retry_pause_seconds"])]
    command += ["--min-rate", str(options["min_bytes_per_second"])]
    with open(log, "w", encoding="utf-8") as handle:
        status = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT).returncode
    if status != 0:
        errors = [line for line in Path(log).read_text(encoding="utf-8").splitlines() if line.startswith("error: ")]
        reason = errors[-1].removeprefix("error: ") if errors else f"download ended with exit status {status}"
        raise WorkflowError(f"{reason} (log: {log})")


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
    """The runner's options read when the job runs, not a rerun trigger: logging and retention cannot change the
    model; the devices are checked by the runner against the run's identity when it resumes."""
    settings = lssd_config.training_settings(config, wildcards.dataset, wildcards.direction, wildcards.method)
    options = ["--log-interval", str(settings["log_interval"])]
    options += ["--cpu-workers", str(config["run"]["cpu_workers_per_training"])]
    options += ["--fp16"] if config["run"]["fp16"] else []
    options += ["--keep-epoch-checkpoints"] if config["run"]["keep_epoch_checkpoints"] else []
    options += ["--tensorboard"] if config["run"]["tensorboard"] else []
    return shlex.join(options)


def evaluation_mem_mb(wildcards, input, attempt):
    """The evaluate job's host memory, from the size of the checkpoint it loads (a dry run: <TBD> until trained)."""
    return run_resources.evaluation_mem_mb(os.path.getsize(input.model), attempt)


def training_resource(wildcards, key):
    return lssd_config.training_settings(config, wildcards.dataset, wildcards.direction, wildcards.method)[key]


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


def encoding_models(wildcards):
    """The SentencePiece models that encode one language's pair (its own and the pivot's, or the joint one)."""
    spec = config["datasets"][wildcards.dataset]
    names = {model_for_side(spec, wildcards.lang), model_for_side(spec, spec["pivot"])}
    return [path("spm_model", dataset=wildcards.dataset, model=name) for name in sorted(names)]


def encoded_languages(wildcards):
    spec = config["datasets"][wildcards.dataset]
    return [path("encoded", dataset=wildcards.dataset, lang=lang) for lang in lssd_config.dataset_languages(spec)]


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


FIRST_SEED = config["run"]["seeds"][0]
BASELINE = "baseline"


def lssd_methods():
    """The configured methods that distil (every method but the baseline criterion)."""
    return [m for m in config["run"]["methods"] if is_lssd_method(config["methods"][m])]


def compared_methods():
    """Methods tested against the baseline for significance (only when the baseline runs)."""
    if BASELINE not in config["run"]["methods"]:
        return []
    return [m for m in config["run"]["methods"] if m != BASELINE]


def eval_dir(dataset, direction, method, seed):
    """A run's evaluation directory: the evaluate rule's output, holding every pair's and split's files."""
    return path("eval", dataset=dataset, direction=direction, method=method, seed=seed)


def eval_path(dataset, direction, method, seed, pair, split, ext):
    """One pair's and split's evaluation file (.json scores, .hyp hypotheses, .spm_ref paper-comparable
    references) inside the run's evaluation directory."""
    return f"{eval_dir(dataset, direction, method, seed)}/{pair}.{split}.{ext}"


def significance_args(wildcards):
    """--pair PAIR BASELINE.hyp SYSTEM.hyp REFERENCE for every pair of the direction (first seed, test split)."""
    parts = []
    for pair in lssd_config.pairs(config, wildcards.dataset, wildcards.direction):
        ref = reference_file(SimpleNamespace(dataset=wildcards.dataset, pair=pair, split="test"))
        base = eval_path(wildcards.dataset, wildcards.direction, BASELINE, FIRST_SEED, pair, "test", "hyp")
        system = eval_path(wildcards.dataset, wildcards.direction, wildcards.method, FIRST_SEED, pair, "test", "hyp")
        parts += ["--pair", pair, base, system, ref]
    return shlex.join(parts)


def significance_inputs(wildcards):
    return [
        eval_dir(wildcards.dataset, wildcards.direction, method, FIRST_SEED) for method in (BASELINE, wildcards.method)
    ]


def significance_files(dataset, direction):
    return [path("significance", dataset=dataset, direction=direction, method=method) for method in compared_methods()]


def run_files(dataset, direction, name, methods=None, seeds=None):
    """A file of every run of a dataset and direction (optionally only some methods or seeds)."""
    return [
        run_dir(d, r, method, seed, name)
        for (d, r, method, seed) in RUNS
        if d == dataset
        and r == direction
        and (methods is None or method in methods)
        and (seeds is None or seed in seeds)
    ]


def convergence_args(wildcards):
    parts = []
    for d, r, method, seed in RUNS:
        if d == wildcards.dataset and r == wildcards.direction:
            parts += ["--run", f"{method} seed{seed}", run_dir(d, r, method, seed, layout.HISTORY)]
            parts += [run_dir(d, r, method, seed, layout.RECORDS)]
    return shlex.join(parts)


def named_files(wildcards, name, methods):
    return shlex.join(
        f"{method}={run_dir(wildcards.dataset, wildcards.direction, method, FIRST_SEED, name)}" for method in methods
    )


def paper_setting_args(dataset, direction):
    """The published rows of a paper setting, and the sampling temperature of our baseline (the published baseline
    row of that temperature is the one its Δ row compares with)."""
    setting = config["datasets"][dataset].get("paper_setting")
    if not setting:
        return ""
    args = ["--paper-setting", setting]
    if BASELINE in config["methods"]:
        settings = lssd_config.training_settings(config, dataset, direction, BASELINE)
        args += ["--temperature", str(settings["sampling_temperature"])]
    if lssd_methods():  # the rows compared with the published LSSD row
        args += ["--lssd-methods", ",".join(lssd_methods())]
    return shlex.join(args)


TABLE_FORMATS = {"csv": "CSV", "md": "Markdown", "tex": "LaTeX"}


def table_outputs():
    """The tables rule's outputs: every metric's table (lssd.metrics.TABLES) in every format, each
    marked for the report."""
    return {
        f"{metric}_{ext}": report(
            f"{path('tables')}.{metric}.{ext}",
            caption="../report/tables.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": title, "format": label},
        )
        for metric, title in ((name, entry.title) for name, entry in TABLE_METRICS.items())
        for ext, label in TABLE_FORMATS.items()
    }


FIGURE_FORMATS = {"png": "PNG", "pdf": "PDF"}


def figure_outputs(name, title, caption):
    """A figure rule's outputs (PNG and PDF), marked for the report."""
    return {
        ext: report(
            f"{path('figures')}/{name}.{ext}",
            caption=f"../report/{caption}.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"figure": title, "format": label},
        )
        for ext, label in FIGURE_FORMATS.items()
    }


def convergence_outputs():
    """The convergence rule's outputs: per pair and per run, in CSV and Markdown, marked for the report."""
    tables = {
        "detail": ("convergence", "convergence per pair"),
        "summary": ("convergence_summary", "convergence per run"),
    }
    return {
        f"{key}_{ext}": report(
            f"{path('tables')}.{name}.{ext}",
            caption="../report/convergence.rst",
            category="{dataset}",
            subcategory="{direction}",
            labels={"table": title, "format": label},
        )
        for key, (name, title) in tables.items()
        for ext, label in (("csv", "CSV"), ("md", "Markdown"))
    }


def output_prefix(output_file, suffix):
    """The prefix a report program writes to, from one of its outputs (``<prefix><suffix>``)."""
    return output_file.removesuffix(suffix)


def report_targets():
    targets = []
    for dataset in config["run"]["datasets"]:
        for direction in config["run"]["directions"]:
            tables = path("tables", dataset=dataset, direction=direction)
            for metric in TABLE_METRICS:
                targets += [f"{tables}.{metric}.{ext}" for ext in TABLE_FORMATS]
            targets += [
                f"{tables}.{name}.{ext}" for name in ("convergence", "convergence_summary") for ext in ("csv", "md")
            ]
            figures = path("figures", dataset=dataset, direction=direction)
            names = ["compare"] + (["curves"] if BASELINE in config["run"]["methods"] else [])
            names += ["distillation"] if lssd_methods() else []
            targets += [f"{figures}/{name}.{ext}" for name in names for ext in ("png", "pdf")]
    return targets


def evaluation_dirs(dataset, direction):
    """The evaluation directories of every run of one dataset and direction."""
    return [eval_dir(d, r, method, seed) for (d, r, method, seed) in RUNS if d == dataset and r == direction]


def evaluation_files(dataset, direction, split="test"):
    """Every per-pair evaluation JSON of one dataset and direction, over the configured methods and seeds."""
    return [
        eval_path(dataset, direction, method, seed, pair, split, "json")
        for (d, r, method, seed) in RUNS
        if d == dataset and r == direction
        for pair in lssd_config.pairs(config, dataset, direction)
    ]


def all_targets():
    targets = []
    for dataset, direction, method, seed in RUNS:
        targets.append(run_dir(dataset, direction, method, seed, layout.HISTORY))
        targets.append(run_dir(dataset, direction, method, seed, layout.RECORDS))
        targets.append(eval_dir(dataset, direction, method, seed))
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


check_fairseq_arguments()


def check_evaluations():
    """A run's evaluation directory that is no longer what its job wrote (a file truncated, edited or gone:
    lssd.run.evaluated) is moved aside, kept, so that the run is evaluated again and the tables follow. In the main
    process only; a dry run only says so."""
    if not workflow.is_main_process:
        return
    for dataset, direction, method, seed in RUNS:
        directory = Path(eval_dir(dataset, direction, method, seed))
        if not directory.is_dir():
            continue
        pairs = lssd_config.pairs(config, dataset, direction)
        reason = evaluated.damage(directory, evaluated.expected_files(pairs, config["evaluation"]["splits"]))
        if reason is None:
            continue
        if workflow.output_settings.dryrun:  # (set while the Snakefile is read; workflow.dryrun is not yet)
            logger.warning(f"{reason}: {directory} will be moved aside and evaluated again (dry run: nothing moved)")
        else:
            moved = evaluated.move_aside(directory)
            logger.warning(f"{reason}: moved {directory} to {moved}; the run is evaluated again")


check_evaluations()
