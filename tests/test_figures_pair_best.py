"""The per-pair best figure: per pair, the baseline's one-model BLEU, its per-pair best, and each LSSD variant."""

import pytest

from lssd.report import figures, gap
from tests.test_gap import MANIFEST, evaluations


def test_the_bars_are_the_seed_means_per_pair_from_high_to_low_resource(tmp_path):
    _, paths = evaluations(tmp_path)
    frame = gap.load_evaluations(paths, "eng")
    figure = figures.plot_pair_best(frame, MANIFEST, "baseline", ["lssd_whole"], "demo o2m")
    (axis,) = figure.axes
    heights = [patch.get_height() for patch in axis.patches]
    # per series (baseline, its per-pair best, LSSD-Whole), the pairs fra, mkd, bos; fra's baseline: two seeds
    assert heights == pytest.approx([31.0, 20.0, 10.0, 35.0, 22.0, 10.0, 33.0, 19.0, 11.0])
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == ["Baseline", "Baseline, per-pair best (3 models)", "LSSD-Whole"]
    ticks = [tick.get_text() for tick in axis.get_xticklabels()]
    assert ticks == ["eng-fra\n(high)", "eng-mkd\n(low)", "eng-bos\n(low)"]
    figures.plt.close(figure)


def test_the_cli_writes_png_and_pdf(tmp_path):
    manifest, paths = evaluations(tmp_path)
    prefix = tmp_path / "figures" / "pair_best"
    prefix.parent.mkdir()
    argv = ["pair_best", "--manifest", str(manifest), "--roles", "fra=high,mkd=low,bos=low", "--title", "demo o2m"]
    argv += ["--lssd-methods", "lssd_whole", "--out", str(prefix), "--evaluations", *map(str, paths)]
    assert figures.main(argv) == 0
    assert prefix.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert prefix.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_a_variant_without_results_is_named(tmp_path):
    _, paths = evaluations(tmp_path)
    frame = gap.load_evaluations(paths, "eng")
    with pytest.raises(ValueError, match="no one-model test result of lssd_adaptive"):
        figures.plot_pair_best(frame, MANIFEST, "baseline", ["lssd_adaptive"], "t")
