# Snakemake's start and end hooks; they run only in the controlling Snakemake, before any job and after the last.
# - Published outputs survive a failed rerun (lssd/run/kept.py): the existing outputs of the jobs to run are kept
#   beside them (hard links) until their job succeeds; a job that fails or is killed gets them back, with the
#   metadata Snakemake had for them, so they are still planned again.
# - The disk the trainings to run need, against what is free (lssd/run/disk.py), said before they start.
# - GPU jobs that run on this machine: torch can use its GPUs (lssd/run/gpu_start.py), checked before any job.
from lssd.run import disk as run_disk
from lssd.run import gpu_start, kept


onstart:
    gpu_start.on_start(workflow)
    kept.on_start(workflow)
    run_disk.on_start(workflow)


onsuccess:
    kept.on_finish(workflow)


onerror:
    kept.on_finish(workflow)
