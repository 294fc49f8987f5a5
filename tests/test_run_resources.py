"""What training and evaluation jobs ask for in host memory (lssd.run.resources): the arithmetic, and the paper
config's training requests following it."""

import math

import yaml

from lssd.data.resources import MEMORY_MARGIN, MIN_MEM_MB
from lssd.run import disk, resources
from tests.helpers import REPO

GIGABYTE, MILLION = 10**9, 10**6


def test_an_evaluation_asks_for_its_checkpoint_size_with_the_margin_and_more_on_each_retry():
    peak = resources.EVALUATION_FIXED_MB + resources.EVALUATION_MB_PER_GB
    assert resources.evaluation_peak_mb(GIGABYTE) == peak
    assert resources.evaluation_mem_mb(GIGABYTE) == max(MIN_MEM_MB, math.ceil(peak * MEMORY_MARGIN))
    assert resources.evaluation_mem_mb(GIGABYTE, attempt=2) == max(MIN_MEM_MB, math.ceil(peak * MEMORY_MARGIN * 1.5))
    assert resources.evaluation_mem_mb(2 * GIGABYTE) > resources.evaluation_mem_mb(GIGABYTE)


def test_a_training_process_holds_the_model_its_checkpoint_and_a_teacher_file_per_pair():
    # 60M parameters, 8 pairs: 16 bytes each (model + weights and Adam state) + 8 x 4 (teacher files)
    assert resources.training_process_mb(60 * MILLION, 8) == resources.TRAINING_FIXED_MB + 60 * (16 + 32)
    assert resources.training_process_mb(60 * MILLION, 6) < resources.training_process_mb(60 * MILLION, 8)


def test_a_training_asks_for_every_process_and_cuda_only_on_gpus():
    process = resources.training_process_mb(60 * MILLION, 8)
    one = resources.training_mem_mb(60 * MILLION, 8, processes=1, gpus=False)
    assert one == max(MIN_MEM_MB, math.ceil(process * MEMORY_MARGIN))
    eight = resources.training_mem_mb(60 * MILLION, 8, processes=8, gpus=True)
    assert eight == math.ceil(8 * (process + resources.CUDA_HOST_MB) * MEMORY_MARGIN)
    assert resources.training_mem_mb(60 * MILLION, 8, processes=8, gpus=True, attempt=3) == math.ceil(
        8 * (process + resources.CUDA_HOST_MB) * MEMORY_MARGIN * 2
    )


def test_the_paper_configs_training_requests_are_the_measured_formulas():
    """trainings.<preset>.mem_mb of config/paper.yaml: the formula for the preset's largest model (the disk
    command's parameter count) and its pairs on run.gpus_per_training GPUs, rounded up to a GB, so that the config
    cannot drift from the measurement."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text(encoding="utf-8"))
    gpus = paper["run"]["gpus_per_training"]
    for preset, datasets in (("ted", ("ted8_diverse", "ted8_related")), ("wmt", ("wmt6",))):
        training = paper["trainings"][preset]
        specs = [paper["datasets"][name] for name in datasets]
        parameters = max(disk.preset_model(training, disk.dataset_vocabulary(spec)) for spec in specs)
        pairs = max(len([lang for lang in spec["languages"] if lang != spec["pivot"]]) for spec in specs)
        wanted = resources.training_mem_mb(parameters, pairs, processes=gpus, gpus=True)
        assert wanted <= training["mem_mb"] < wanted + 1000, (preset, training["mem_mb"], wanted)
