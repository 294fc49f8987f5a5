"""Translate several pairs' splits with one model load, each exactly as ``fairseq-generate`` would.

``fairseq-generate`` translates one (source, target, split) per process: starting Python, importing torch and
fairseq and loading the checkpoint cost more than translating a demo split, and on a cluster each would be its own
queued job. This module runs fairseq's own generation steps (task setup, ``load_dataset``, ``get_batch_iterator``,
``build_generator``, ``inference_step``, ``post_process_prediction``) for every requested split in one process,
with the model loaded once: the task, its dictionaries and dataset are set up per pair (the language tokens and the
dataset depend on the pair), the model does not depend on it. The hypotheses equal fairseq-generate's ``H-`` lines
and the references its ``T-`` lines (tests/test_task.py compares them).

Only the options the pipeline passes are supported: no language model, no prefix tokens, no unknown-word
replacement, no sharded checkpoints; anything else is refused rather than silently ignored.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from lssd.run.commands import plugin_arguments


@dataclass(frozen=True)
class Request:
    source: str
    target: str
    split: str


@dataclass
class Translation:
    """One split translated: pieces ordered by sentence id (``H-`` and ``T-`` lines of fairseq-generate)."""

    hypotheses: list[str]
    references: list[str]


def generation_config(common_args: list[str], request: Request):
    """fairseq's generation config for one request, parsed by fairseq's own parser."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = [
        *common_args,
        *("--source-lang", request.source, "--target-lang", request.target, "--gen-subset", request.split),
        *plugin_arguments(),
    ]
    parsed = options.parse_args_and_arch(options.get_generation_parser(), args)
    cfg = convert_namespace_to_omegaconf(parsed)
    unsupported = {
        "--lm-path": cfg.generation.lm_path is not None,
        "--prefix-size": cfg.generation.prefix_size > 0,
        "--replace-unk": cfg.generation.replace_unk is not None,
        "--checkpoint-shard-count": cfg.checkpoint.checkpoint_shard_count != 1,
        "--nbest": cfg.generation.nbest != 1,
    }
    refused = [flag for flag, given in unsupported.items() if given]
    if refused:
        raise ValueError(f"lssd.run.generation does not support {', '.join(refused)}")
    if cfg.dataset.max_tokens is None and cfg.dataset.batch_size is None:
        cfg.dataset.max_tokens = 12000  # fairseq-generate's default
    return cfg


class Generator:
    """The model of ``--path``, loaded on first use and kept for every later request; ``use_weights`` gives it
    other weights of the same architecture (another epoch of the run) without loading it again."""

    def __init__(self, common_args: list[str]):
        self.common_args = list(common_args)
        self.models = None
        self.saved_cfg = None
        self.pending_weights = None

    def use_weights(self, weights: dict) -> None:
        """Translate the next requests with ``weights`` (a model's ``state_dict``), copied into the loaded model
        (in its dtype and on its device, as loading a checkpoint with them would) before the next translation."""
        self.pending_weights = weights

    def load_models(self, cfg, task, use_cuda: bool) -> None:
        from fairseq import checkpoint_utils, utils

        from lssd import allow_fairseq_checkpoints

        allow_fairseq_checkpoints()
        self.models, self.saved_cfg = checkpoint_utils.load_model_ensemble(
            utils.split_paths(cfg.common_eval.path),
            arg_overrides=ast.literal_eval(cfg.common_eval.model_overrides),
            task=task,
            suffix=cfg.checkpoint.checkpoint_suffix,
            strict=True,
            num_shards=1,
        )
        for model in self.models:
            if cfg.common.fp16:
                model.half()
            if use_cuda:
                model.cuda()
            model.prepare_for_inference_(cfg)
        parameter = next(self.models[0].parameters())
        # in the job's log: where the evaluation ran (a GPU job that fell back to the CPU would say so here)
        print(f"model on {parameter.device} ({str(parameter.dtype).removeprefix('torch.')})", flush=True)

    def ready_models(self, cfg, task, use_cuda: bool) -> None:
        """The model loaded (once), holding the weights last given to ``use_weights``."""
        if self.models is None:
            self.load_models(cfg, task, use_cuda)
        if self.pending_weights is not None:
            for model in self.models:
                model.load_state_dict(self.pending_weights, strict=True)
            self.pending_weights = None

    def translate(self, request: Request) -> Translation:
        import numpy as np
        import torch
        from fairseq import tasks, utils
        from fairseq_cli.generate import get_symbols_to_strip_from_output

        cfg = generation_config(self.common_args, request)
        if cfg.common.seed is not None and not cfg.generation.no_seed_provided:
            np.random.seed(cfg.common.seed)
            utils.set_torch_seed(cfg.common.seed)
        use_cuda = torch.cuda.is_available() and not cfg.common.cpu
        task = tasks.setup_task(cfg.task)
        self.ready_models(cfg, task, use_cuda)
        # after the model, as fairseq-generate does: the dataset is loaded with the checkpoint's task config
        task.load_dataset(cfg.dataset.gen_subset, task_cfg=self.saved_cfg.task)
        batches = task.get_batch_iterator(
            dataset=task.dataset(cfg.dataset.gen_subset),
            max_tokens=cfg.dataset.max_tokens,
            max_sentences=cfg.dataset.batch_size,
            max_positions=utils.resolve_max_positions(task.max_positions(), *[m.max_positions() for m in self.models]),
            ignore_invalid_inputs=cfg.dataset.skip_invalid_size_inputs_valid_test,
            required_batch_size_multiple=cfg.dataset.required_batch_size_multiple,
            seed=cfg.common.seed,
            num_shards=1,
            shard_id=0,
            num_workers=cfg.dataset.num_workers,
            data_buffer_size=cfg.dataset.data_buffer_size,
        ).next_epoch_itr(shuffle=False)
        generator = task.build_generator(
            self.models, cfg.generation, extra_gen_cls_kwargs={"lm_model": None, "lm_weight": cfg.generation.lm_weight}
        )
        strip = get_symbols_to_strip_from_output(generator)
        target_dictionary = task.target_dictionary
        hypotheses: dict[int, str] = {}
        references: dict[int, str] = {}
        for sample in batches:
            sample = utils.move_to_cuda(sample) if use_cuda else sample
            if "net_input" not in sample:
                continue
            outputs = task.inference_step(generator, self.models, sample, prefix_tokens=None, constraints=None)
            for i, sample_id in enumerate(sample["id"].tolist()):
                if sample_id in hypotheses:
                    raise ValueError(f"sentence {sample_id} of {request} was translated twice")
                target_tokens = utils.strip_pad(sample["target"][i, :], target_dictionary.pad()).int().cpu()
                references[sample_id] = target_dictionary.string(
                    target_tokens, cfg.common_eval.post_process, escape_unk=True, extra_symbols_to_ignore=strip
                )
                _, hypotheses[sample_id], _ = utils.post_process_prediction(
                    hypo_tokens=outputs[i][0]["tokens"].int().cpu(),
                    src_str="",
                    alignment=outputs[i][0]["alignment"],
                    align_dict=None,
                    tgt_dict=target_dictionary,
                    remove_bpe=cfg.common_eval.post_process,
                    extra_symbols_to_ignore=strip,
                )
        expected = len(task.dataset(cfg.dataset.gen_subset))
        return Translation(ordered(hypotheses, expected, request), ordered(references, expected, request))


def ordered(by_id: dict[int, str], expected: int, request: Request) -> list[str]:
    """The lines of sentences 0..expected-1; every sentence must be there (none dropped by batching or length)."""
    if set(by_id) != set(range(expected)):
        missing = sorted(set(range(expected)) - set(by_id))[:10]
        raise ValueError(
            f"{request.source}-{request.target} {request.split}: {len(by_id)} of {expected} sentences translated"
            f" (first missing ids: {missing})"
        )
    return [by_id[index] for index in range(expected)]
