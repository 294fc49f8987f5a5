"""fairseq command lines assembled from the config."""

import yaml

from lssd import config as lssd_config
from lssd.run import commands
from tests.helpers import REPO


def demo_config():
    """The demo config with the schema's defaults filled in, as the workflow sees it."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def test_pairs_and_langtoks_per_direction():
    config = demo_config()
    assert lssd_config.pairs(config, "demo", "m2o")[:2] == ["bos-eng", "mar-eng"]
    assert lssd_config.pairs(config, "demo", "o2m")[-1] == "eng-kor"
    settings = lssd_config.training_settings(config, "demo", "m2o")
    for direction, langtok in (("m2o", "src"), ("o2m", "tgt")):
        args = commands.train_arguments(
            data_bin="bin",
            save_dir="ck",
            pairs=lssd_config.pairs(config, "demo", direction),
            direction=direction,
            training=settings,
            method=lssd_config.method_settings(config, "baseline", direction),
            seed=7,
        )
        assert args[args.index("--encoder-langtok") + 1] == langtok
        assert "--decoder-langtok" in args and "--pure-batch" in args
        assert args[args.index("--lang-dict") + 1] == "bin/lang_list.txt"
        assert args[args.index("--sampling-temperature") + 1] == "5"
        assert args[args.index("--encoder-layers") + 1] == "2"
        assert "--layernorm-embedding" in args
        assert args[args.index("--seed") + 1] == "7"
        # training batches as the original's: fairseq's default multiple (8); validation takes every dev sentence
        # whatever it is (the task, checked by test_task's recomputation of the per-pair dev losses)
        assert "--required-batch-size-multiple" not in args


def test_lssd_methods_carry_their_per_direction_settings():
    config = demo_config()
    m2o = lssd_config.method_settings(config, "lssd_adaptive", "m2o")
    o2m = lssd_config.method_settings(config, "lssd_adaptive", "o2m")
    assert m2o["criterion_args"] == {
        "distillation_variant": "adaptive", "distillation_level": "sentence", "distillation_weight": 2.5
    }  # fmt: skip
    assert o2m["criterion_args"]["language_aware"] is True and o2m["criterion_args"]["distillation_weight"] == 0.5
    args = commands.train_arguments(
        data_bin="bin", save_dir="ck", pairs=["eng-bos"], direction="o2m",
        training=lssd_config.training_settings(config, "demo", "o2m"), method=o2m, seed=1,
    )  # fmt: skip
    assert args[args.index("--criterion") + 1] == "lssd_distillation"
    assert args[args.index("--distillation-variant") + 1] == "adaptive"
    assert args[args.index("--distillation-level") + 1] == "sentence"
    assert args[args.index("--distillation-weight") + 1] == "0.5"
    assert "--language-aware" in args
    assert args[args.index("--max-epoch") + 1] == "27"  # the preset's eng→X override
    single = lssd_config.method_settings(config, "lssd_single_teacher", "m2o")
    single_args = commands.model_arguments(single["task_args"])
    assert single_args == ["--lssd-single-teacher"]


def test_by_direction_overrides():
    config = demo_config()
    config["trainings"]["demo_tiny"]["by_direction"] = {"o2m": {"max_epoch": 60, "model": {"decoder_layers": 3}}}
    o2m = lssd_config.training_settings(config, "demo", "o2m")
    m2o = lssd_config.training_settings(config, "demo", "m2o")
    assert (o2m["max_epoch"], m2o["max_epoch"]) == (60, config["trainings"]["demo_tiny"]["max_epoch"])
    assert o2m["model"]["decoder_layers"] == 3 and o2m["model"]["encoder_layers"] == 2


def test_generate_translates_every_sentence_of_every_pair():
    args = commands.generate_arguments(
        data_bin="bin",
        model="best.pt",
        pairs=["eng-bos", "eng-fra"],
        direction="o2m",
        beam=5,
        lenpen=1.0,
        batch_size=64,
    )
    # one argument list for the whole run: lssd.run.generation adds each pair's languages and split
    assert not {"--source-lang", "--target-lang", "--gen-subset"} & set(args)
    assert args[args.index("--lang-pairs") + 1] == "eng-bos,eng-fra"
    assert args[args.index("--required-batch-size-multiple") + 1] == "1"
    assert args[args.index("--encoder-langtok") + 1] == "tgt"
    assert "--remove-bpe" not in args  # pieces are decoded with the SentencePiece model itself


def test_the_plugin_registers_whatever_was_imported_first(tmp_path):
    """A process that imported lssd helpers before fairseq still gets the task and criterion from --user-dir, and
    no module of the package becomes a top-level name (fairseq puts the user dir's parent on sys.path)."""
    import subprocess
    import sys

    script = f"""
import sys
import lssd.config, lssd.io, lssd.run.commands as commands  # lssd first, fairseq after
from fairseq import options
parser = options.get_training_parser()
args = options.parse_args_and_arch(parser, ["{tmp_path}", "--task", commands.TASK, "--criterion", "lssd_distillation",
    "--arch", "transformer", *commands.plugin_arguments()])
assert args.task == "lssd_multilingual_translation" and args.criterion == "lssd_distillation"
leaked = [name for name in ("task", "criterion", "objective", "teachers", "commands", "config") if name in sys.modules]
assert not leaked, leaked
print("registered")
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0 and "registered" in completed.stdout, completed.stderr[-3000:]
