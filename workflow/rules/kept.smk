# Published outputs survive a failed rerun (lssd/run/kept.py): the existing outputs of the jobs to run are kept
# beside them (hard links) until their job succeeds; a job that fails or is killed gets them back, with the
# metadata Snakemake had for them, so they are still planned again. Hooks run only in the controlling Snakemake.
from lssd.run import kept


onstart:
    kept.on_start(workflow)


onsuccess:
    kept.on_finish(workflow)


onerror:
    kept.on_finish(workflow)
