"""The paper datasets' code paths, offline: the real download, extraction, SentencePiece and binarize rules run by
the real Snakemake against archives in the real formats served from 127.0.0.1; and the full paper DAG planned with
the SLURM profile."""

import json
import shlex
from collections import Counter
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import yaml

from lssd.data.parallel import read_parallel
from tests.helpers import REPO, jobs_in, snakemake
from tests.mirror import serve, ted_archive, wmt_archives, write_table

pytestmark = pytest.mark.slow

TED_COLUMNS = {"bos": "bs", "fra": "fr", "por": "pt-br"}


def mini_config(table, mirror):
    """A TED-format and a WMT-format dataset over the served archives, with the paper's recipes scaled down."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    ted = config["datasets"]["ted8_related"]
    ted["languages"] = {"bos": {"role": "low", "reference_size": 100}, "fra": {"role": "high"}, "por": {"role": "high"}}
    ted["source"]["columns"] = TED_COLUMNS
    ted["spm"] = {"recipe": "per_language", "vocab_size": 300, "pivot_vocab_size": 400}
    wmt = config["datasets"]["wmt6"]
    wmt["languages"] = {"fra": {"role": "high", "reference_size": 300}, "tur": {"role": "low", "reference_size": 50}}
    test_sets = {
        lang: ("fren" if lang == "fra" else "tren", "fr" if lang == "fra" else "tr") for lang in ("fra", "tur")
    }

    def dev_test(lang):
        code, short = test_sets[lang]
        return {
            split: {
                "download": "wmt-test.tgz",
                "foreign": f"{name}-{code}-src.{short}.sgm",
                "english": f"{name}-{code}-ref.en.sgm",
                "name": name,
            }
            for split, name in (("valid", "newstest2013"), ("test", "newstest2014"))
        }

    def archive_pair(download, stem, lang):
        return {"download": download, "foreign": f"{stem}.{lang}", "english": f"{stem}.en"}

    wmt["source"]["corpora"] = {
        "fra": {
            "train": [
                archive_pair("training-parallel-europarl-v7.tgz", "europarl-v7.fr-en", "fr"),
                archive_pair("training-parallel-commoncrawl.tgz", "commoncrawl.fr-en", "fr"),
            ],
            **dev_test("fra"),
        },
        "tur": {"train": [archive_pair("opus-setimes-v2-en-tr.txt.zip", "SETIMES.en-tr", "tr")], **dev_test("tur")},
    }
    wmt["spm"] = {"recipe": "joint", "vocab_size": 600, "character_coverage": 0.9995}
    config["run"]["datasets"] = ["ted8_related", "wmt6"]
    config["downloads"] = {"table": str(table), "mirror": mirror, "retries": 1, "retry_pause_seconds": 0}
    return config


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mirror")
    expected_ted = ted_archive(directory / "ted_talks.tar.gz")
    expected_wmt = wmt_archives(directory)
    table = directory.parent / "downloads.tsv"
    write_table(directory, sorted(directory.iterdir()), table)
    return directory, table, expected_ted, expected_wmt


@pytest.fixture(scope="module")
def built(served, tmp_path_factory):
    directory, table, expected_ted, expected_wmt = served
    workdir = tmp_path_factory.mktemp("paper")
    with serve(directory) as (url, server):
        (workdir / "config.yaml").write_text(yaml.safe_dump(mini_config(table, url)))
        result = snakemake(
            "results/bin/ted8_related", "results/bin/wmt6", "--cores", "2", "--configfile", "config.yaml", cwd=workdir
        )
        assert result.returncode == 0, result.stderr[-5000:]
        requests = list(server.requests)
    return workdir, expected_ted, expected_wmt, requests


def test_every_archive_is_downloaded_once_from_the_mirror_and_verified(built, served):
    workdir, _, _, requests = built
    directory = served[0]
    assert Counter(requests) == Counter(path.name for path in directory.iterdir())
    for path in directory.iterdir():
        assert (workdir / "results" / "downloads" / path.name).read_bytes() == path.read_bytes()
        assert "verified" in (workdir / "logs" / "downloads" / f"{path.name}.log").read_text()


def test_ted_pairs_come_from_the_named_columns_without_missing_translations(built):
    workdir, expected, _, _ = built
    data = workdir / "results" / "data" / "ted8_related"
    for lang, column in TED_COLUMNS.items():
        for split, ted_split in (("train", "train"), ("valid", "dev"), ("test", "test")):
            pairs = read_parallel(data, split, lang, "eng")
            assert pairs == expected[ted_split][column], (lang, split)
            assert not any("NULL" in foreign for foreign, _ in pairs)
    # por is the pt-br column, not pt
    train = read_parallel(data, "train", "por", "eng")
    assert train != expected["train"]["pt"]
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["languages"]["bos"]["dropped_rows"]["train"]["missing_translation"] > 0
    # the reference size (100) differs from what the archive holds: reported, with the difference
    found = len(expected["train"]["bs"])
    assert manifest["reference_size_differences"]["bos"] == {"expected": 100, "found": found, "difference": found - 100}
    assert "NOTE: bos has" in (workdir / "logs" / "data" / "ted8_related.log").read_text()


def test_wmt_is_subsampled_deterministically_with_sgm_dev_and_test_sets(built):
    workdir, _, expected, _ = built
    data = workdir / "results" / "data" / "wmt6"
    manifest = json.loads((data / "manifest.json").read_text())
    fra_train = read_parallel(data, "train", "fra", "eng")
    tur_train = read_parallel(data, "train", "tur", "eng")
    assert len(fra_train) == 300 and manifest["languages"]["fra"]["train_available"] == len(expected["fra_train"])
    assert set(fra_train) <= set(expected["fra_train"])
    # both corpora of the pool contribute, in corpus order
    half = len(expected["fra_train"]) // 2
    positions = [expected["fra_train"].index(pair) for pair in fra_train]
    assert positions == sorted(positions) and positions[0] < half <= positions[-1]
    # tur asks for 50 of fewer than it has... or keeps all when it has fewer
    assert len(tur_train) == min(50, len(expected["tur_train"])) and set(tur_train) <= set(expected["tur_train"])
    for lang in ("fra", "tur"):
        for split in ("valid", "test"):
            assert read_parallel(data, split, lang, "eng") == expected[f"{lang}_{split}"]
    assert manifest["languages"]["fra"]["dev_test_sets"] == {"valid": "newstest2013", "test": "newstest2014"}


def test_both_datasets_are_binarized_with_the_papers_recipes(built):
    workdir = built[0]
    ted = workdir / "results" / "bin" / "ted8_related"
    assert (ted / "lang_list.txt").read_text().split() == ["bos", "fra", "por", "eng"]
    models = sorted(path.name for path in (workdir / "results" / "spm" / "ted8_related" / "models").glob("*.model"))
    assert models == ["spm.bos.model", "spm.eng.model", "spm.fra.model", "spm.por.model"]
    assert sorted(path.name for path in (workdir / "results" / "spm" / "wmt6" / "models").glob("*.model")) == [
        "spm.joint.model"
    ]
    wmt = workdir / "results" / "bin" / "wmt6"
    for lang in ("fra", "tur"):
        for split in ("train", "valid", "test"):
            assert (wmt / f"{split}.{lang}-eng.{lang}.bin").stat().st_size > 0
        assert (wmt / f"LS_dict.{lang}.txt").exists()


def test_a_second_run_downloads_nothing(built, served):
    workdir = built[0]
    with serve(served[0]) as (url, server):
        config = yaml.safe_load((workdir / "config.yaml").read_text())
        config["downloads"]["mirror"] = url  # same files, another port
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        result = snakemake(
            "results/bin/ted8_related", "results/bin/wmt6", "-n", "--cores", "1", "--configfile", "config.yaml",
            cwd=workdir,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Nothing to be done" in result.stdout + result.stderr
        assert server.requests == []


@pytest.mark.parametrize("fault", ["html", "404", "truncated", "corrupt"])
def test_a_bad_server_stops_the_download_rule_cleanly(served, tmp_path, fault):
    directory, table = served[0], served[1]
    with serve(directory, faults={"ted_talks.tar.gz": fault}) as (url, _):
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(mini_config(table, url)))
        result = snakemake("results/data/ted8_related", "--cores", "1", "--configfile", "config.yaml", cwd=tmp_path)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "downloads" / "ted_talks.tar.gz.log").read_text()
    reason = {"html": "HTML page", "404": "HTTP 404", "truncated": "truncated body", "corrupt": "checksum mismatch"}
    assert f"{url}/ted_talks.tar.gz" in log and reason[fault] in log
    downloads = tmp_path / "results" / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []
    assert not (tmp_path / "results" / "data").exists()


def planned_jobs(output):
    """(rule, wildcards line, resources line) of every job in a dry run's output."""
    return [(job.rule, job.fields.get("wildcards", ""), job.fields.get("resources", "")) for job in jobs_in(output)]


def test_the_full_paper_dag_plans_on_slurm_without_sbatch(tmp_path):
    profile = REPO / "workflow" / "profiles" / "slurm"
    paper = REPO / "config" / "paper.yaml"
    result = snakemake("-n", "--configfile", str(paper), "--profile", str(profile), cwd=tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    jobs = planned_jobs(output)
    counts = Counter(rule for rule, _, _ in jobs)
    languages = {"ted8_diverse": 8, "ted8_related": 8, "wmt6": 6}
    runs = 3 * 2 * 4
    assert counts["download"] == 18  # every file of config/downloads.tsv (TED once for both TED datasets)
    assert counts["prepare_ted"] == 2 and counts["prepare_wmt"] == 1
    # SentencePiece: one job per model (TED: 8 languages + English; WMT: one joint model), one per language
    assert counts["spm_train"] == 9 + 9 + 1 and counts["spm_encode"] == sum(languages.values())
    assert counts["binarize"] == 3
    assert counts["train"] == runs
    assert counts["evaluate"] == runs  # one job per run: every pair, one model load
    assert counts["significance"] == 3 * 2 * 3 and counts["tables"] == counts["convergence"] == 6
    assert counts["figure_curves"] == counts["figure_compare"] == counts["figure_distillation"] == 6
    trained = set()
    for rule, wildcards, resources in jobs:
        if rule == "train":
            assert "gpu=8" in resources and "slurm_partition=gpu" in resources, resources
            assert "runtime=1440" in resources
            assert "cpus_per_gpu=4" in resources, resources  # 8 x 4 CPUs (sbatch --cpus-per-gpu), not 8
            assert "slurm_account" not in resources  # the plugin's default account, no placeholder
            trained.add(wildcards)
        if rule == "evaluate":
            assert "gpu=1" in resources and "slurm_partition=gpu" in resources and "cpus_per_gpu=4" in resources
            # from the size of the checkpoint, which a dry run has not trained (lssd.run.resources)
            assert "mem_mb=<TBD>" in resources, resources
        if rule in ("download", "prepare_ted", "spm_train"):
            assert "gpu=" not in resources or "gpu=0" in resources
    assert len(trained) == runs


class JobResources(dict):
    """A job's resources as the SLURM plugin reads them (``.get`` and attribute access)."""

    __getattr__ = dict.__getitem__


def test_the_slurm_profile_asks_cpus_per_gpu_for_gpu_jobs_and_threads_for_the_others():
    """The CPU request the plugin builds from the profile's training resources: 4 CPUs per GPU for a GPU job (a
    job with 8 GPUs got its 8 threads in all before), the threads for the same rule without GPUs (a CPU cluster)."""
    from snakemake_executor_plugin_slurm_jobstep import get_cpu_setting

    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    train = profile["set-resources"]["train"]
    gpu_job = SimpleNamespace(threads=8, resources=JobResources(train, gpu=8))
    cpu_job = SimpleNamespace(threads=8, resources=JobResources(train, gpu=0))
    assert get_cpu_setting(gpu_job, gpu=True) == "--cpus-per-gpu=4"
    assert get_cpu_setting(cpu_job, gpu=False) == "--cpus-per-task=8"
    assert "slurm_account" not in profile["default-resources"]


@contextmanager
def paper_workflow(tmp_path):
    """The paper config's workflow, parsed by Snakemake's API (rules and the Snakefile's globals)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        yield api.workflow(
            snakefile=REPO / "Snakefile",
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / "config" / "paper.yaml"]),
            storage_settings=StorageSettings(),
            workdir=tmp_path,
        )._workflow  # no public accessor for the rules and globals


def test_the_paper_run_lengths_and_weights_reach_the_training_params(tmp_path):
    """The train rule's params (its rerun trigger and the runner's fairseq arguments) carry each method's run
    length and weight of the paper's scripts."""
    with paper_workflow(tmp_path) as workflow:
        wildcards = SimpleNamespace(dataset="ted8_diverse", direction="m2o", method="lssd_selective", seed=222)
        args = shlex.split(workflow.globals["train_args"](wildcards))
    assert args[args.index("--max-epoch") + 1] == "50" and args[args.index("--distillation-weight") + 1] == "1.0"
    assert "--user-dir" not in args and "--log-interval" not in args  # added by the runner, not rerun triggers


def test_ted_sentencepiece_models_use_the_original_character_coverage(tmp_path):
    """The original's TED models (multiDDS's recipe) kept SentencePiece's default coverage, 0.9995, as does WMT."""
    with paper_workflow(tmp_path) as workflow:
        spec_of = workflow.globals["dataset_json"]
        for dataset in ("ted8_diverse", "ted8_related", "wmt6"):
            spec = json.loads(spec_of(SimpleNamespace(dataset=dataset), "spm"))
            assert spec["spm"]["character_coverage"] == 0.9995, dataset


def test_downloads_are_local_rules(tmp_path):
    """Compute nodes often have no internet: downloads run where Snakemake runs, everything heavy is submitted."""
    with paper_workflow(tmp_path) as workflow:
        local = set(workflow._localrules)  # the rules marked local (no public accessor)
    assert "download" in local
    assert not local & {"prepare_ted", "prepare_wmt", "spm_train", "binarize", "train", "evaluate"}


def test_the_single_teacher_ablation_is_lssd_whole_with_one_teacher_on_every_dataset(tmp_path):
    """Added to run.methods for the ablation, lssd_single_teacher trains with LSSD-Whole's paper settings of each
    dataset and direction (run length, weight, language-aware, mid-epoch saves), with --lssd-single-teacher."""
    with paper_workflow(tmp_path) as workflow:
        for dataset in ("ted8_diverse", "ted8_related", "wmt6"):
            for direction in ("m2o", "o2m"):
                found = {}
                for method in ("lssd_whole", "lssd_single_teacher"):
                    wildcards = SimpleNamespace(dataset=dataset, direction=direction, method=method, seed=222)
                    args = shlex.split(workflow.globals["train_args"](wildcards))
                    save_dir = args.index("--save-dir")
                    found[method] = args[:save_dir] + args[save_dir + 2 :]
                single = found["lssd_single_teacher"]
                assert single.count("--lssd-single-teacher") == 1, (dataset, direction)
                single.remove("--lssd-single-teacher")
                assert single == found["lssd_whole"], (dataset, direction)
