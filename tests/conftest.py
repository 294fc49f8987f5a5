import json
import os
import shutil

import pytest
import yaml

from tests.helpers import LANGS, REFERENCE_SIZES, snakemake

# what the data half of the DAG leaves: copied with Snakemake's metadata, they are the prepared data of another
# working directory with the same datasets (the paths are relative, the mtimes kept)
PREPARED = ("results/data", "results/spm", "results/bin", ".snakemake/metadata")

# The longest modules first (seconds on 2 cores, from --durations): pytest-xdist's workers (pyproject: -n, one
# module per work unit, in this order) each start with two of them, and the short ones fill in around them.
# test_slurm is mostly waiting (SLURM's time limit, status checks): another worker runs beside it.
LONGEST_FIRST = (
    "test_slurm.py",  # ~245
    "test_gpu_check.py",  # ~180 (the GPU check rehearsed on the CPU)
    "test_workflow.py",  # ~160
    "test_faults.py",  # ~160
    "test_runs.py",  # ~85
    "test_paper.py",  # ~60
    "test_task.py",  # ~60
    "test_rehearsal.py",  # ~50
    "test_lssd_training.py",  # ~50
    "test_config.py",  # ~45
    "test_distributed.py",  # ~30
)


def pytest_configure(config):
    """Each pytest-xdist worker's share of the cores for torch's threads (and its subprocesses'), where the user set
    none: torch's default, a thread per core in every process, made the workers' OpenMP threads fight over the
    cores (on 2 cores, a test of 35 s alone took 280 s beside the GPU-check rehearsal). Snakemake runs keep their
    own setting (tests.helpers.snakemake_invocation)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)


def pytest_collection_modifyitems(items):
    """Run the longest modules first (stable: each module's tests keep their order)."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def fake_django(tmp_path):
    """A directory laid out like an installed django package with hand-written catalogs."""
    root = tmp_path / "django"

    def add_catalog(locale, entries, domain="django", app="conf"):
        path = root / app / "locale" / locale / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        path.write_text(header + "\n".join(entries), encoding="utf-8")
        return path

    root.mkdir()
    return root, add_catalog


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A real data-bin from three demo languages (per_language SentencePiece), shared by the fairseq tests."""
    from lssd.data import build_demo_data_bin

    root = tmp_path_factory.mktemp("task")
    spec = {
        "pivot": "eng",
        # bos and mkd cut to a dozen training pairs: upsampled by temperature sampling, they over-fit within a
        # few epochs, which is what makes LSSD switch distillation on in a short test run
        "languages": {lang: {"reference_size": size} for lang, size in REFERENCE_SIZES.items()},
        "source": {
            "kind": "django_catalogs",
            "locales": LANGS,
            "valid_percent": 10,
            "test_percent": 10,
            "subsample": {"floor": 12},
        },
        "spm": {"recipe": "per_language", "vocab_size": 400, "pivot_vocab_size": 500},
    }
    build_demo_data_bin(spec, "tiny", root)
    return root, spec


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory):
    """``prepare(workdir)``: the data, SentencePiece models and data-bin of ``workdir/config.yaml``'s datasets, as
    Snakemake would make them there, copied from a working directory that prepared them once per session (per
    distinct datasets config), so that a scenario about training starts where the DAG's data half ends."""
    built = {}

    def prepare(workdir):
        config = yaml.safe_load((workdir / "config.yaml").read_text())
        names = config["run"]["datasets"]
        key = json.dumps({name: config["datasets"][name] for name in names}, sort_keys=True)
        if key not in built:
            source = tmp_path_factory.mktemp("prepared")
            (source / "config.yaml").write_text(yaml.safe_dump(config))
            targets = [f"results/bin/{name}" for name in names]
            result = snakemake(*targets, "--cores", "2", "--configfile", "config.yaml", cwd=source)
            assert result.returncode == 0, result.stderr[-3000:]
            built[key] = source
        for folder in PREPARED:
            shutil.copytree(built[key] / folder, workdir / folder, symlinks=True, dirs_exist_ok=True)
        return workdir

    return prepare
