"""The layout (lssd.layout): the paths users find their results under, as docs/results.md documents them, and the
run's names built from them."""

import re

from lssd import layout
from tests.helpers import REPO


def test_every_output_path_is_the_one_the_docs_document():
    readme = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    outputs = readme.split("## Outputs", 1)[1].split("```", 2)[1]
    for name, template in layout.PATHS.items():
        if name in ("download", "spm_vocab", "encoded"):  # documented with their folder's line
            template = template.rsplit("/", 1)[0]
        folder = re.sub(r"\.\{\w+\}$", "", template.split("/spm.")[0])
        assert folder in outputs, (name, folder)
    assert f"{layout.CHECKPOINTS}/" in outputs and layout.BEST in outputs
    assert layout.HISTORY in outputs and layout.RECORDS in outputs


def test_a_run_is_named_the_same_everywhere():
    run = ("demo", "o2m", "lssd_whole", 2)
    assert layout.run_dir(*run) == "results/train/demo/o2m/lssd_whole/seed2"
    assert layout.save_dir(*run) == "results/train/demo/o2m/lssd_whole/seed2/checkpoints"
    assert layout.run_dir(*run, layout.HISTORY) == "results/train/demo/o2m/lssd_whole/seed2/history.json"
    assert layout.run_key(*run) == "demo/o2m/lssd_whole/seed2"
    assert layout.log("train", dataset="demo", direction="o2m", method="lssd_whole", seed=2) == (
        "logs/train/demo/o2m/lssd_whole/seed2.log"
    )
    # a template keeps the wildcards it is not given (a rule's output)
    assert layout.path("run", dataset="demo") == "results/train/demo/{direction}/{method}/seed{seed}"
