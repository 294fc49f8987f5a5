"""What the task builds from fairseq's datasets and dictionaries: the epoch's size under temperature sampling and
its (pure, one-pair) batches as the original built them, the table from encoder language token to pair, and a
target language's vocabulary mask (language-aware distillation)."""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np
import torch
from fairseq.data import data_utils, data_utils_fast
from fairseq.data.multilingual.sampled_multi_dataset import default_virtual_size_func

# The original's fork of fairseq set default_virtual_size_func(..., max_scale_up=1.0): an epoch under temperature
# sampling (tau > 1 upsamples the small pairs) holds as many sentences as the training data; stock fairseq 0.12
# samples up to 1.5x the data (the epochs, validations, teacher updates and KD switches of WMT-6's tau = 5 runs
# would come 1.5x further apart). At tau = 1 both give the data's size.
ORIGINAL_EPOCH_SIZE = functools.partial(default_virtual_size_func, max_scale_up=1.0)


@contextlib.contextmanager
def original_epoch_size(args):
    """While the training data is loaded: fairseq's sampled dataset sized as the original's (``args`` is the task's
    own namespace; an explicit ``--virtual-data-size`` is kept)."""
    if getattr(args, "virtual_data_size", None) is not None:
        yield
        return
    args.virtual_data_size = ORIGINAL_EPOCH_SIZE  # a callable: fairseq's SampledMultiDataset calls it
    try:
        yield
    finally:
        args.virtual_data_size = None


def batches_of(dataset, indices: np.ndarray, max_tokens, max_sentences, multiple: int) -> list[np.ndarray]:
    """``indices`` in batches of at most ``max_tokens``/``max_sentences``, sizes a multiple of ``multiple`` but the
    last: fairseq's own batching (``data_utils_fast``) as the original's fairseq (2021) returned it. The installed
    fairseq's ``batch_by_size`` (fairseq-fixed 0.12.3.1 carries a change of fairseq's main branch of December 2022,
    not in the 0.12 releases) drops that last batch when it is not a multiple: up to 7 sentences of every pair each
    epoch (with pure batches), the same longest ones at tau = 1."""
    if dataset.get_batch_shapes() is not None:  # (fixed shapes: fairseq's own path, which keeps every batch)
        return dataset.batch_by_size(indices, max_tokens, max_sentences, multiple)
    max_tokens = int(max_tokens) if max_tokens is not None else -1
    max_sentences = max_sentences if max_sentences is not None else -1
    try:
        tokens = np.asarray(dataset.num_tokens_vec(indices), dtype=np.int64)
    except NotImplementedError:
        return data_utils_fast.batch_by_size_fn(indices, dataset.num_tokens, max_tokens, max_sentences, multiple)
    return data_utils_fast.batch_by_size_vec(indices, tokens, max_tokens, max_sentences, multiple)


def dataset_of_indices(dataset, indices: np.ndarray) -> np.ndarray:
    """For each global index of a multilingual dataset, the index of the language-pair dataset it comes from."""
    cumulative = getattr(dataset, "cumulated_sizes", None)  # SampledMultiDataset (train)
    if cumulative is None:
        cumulative = getattr(dataset, "cumulative_sizes", None)  # ConcatDataset (valid/test)
    if cumulative is None:
        return np.zeros(len(indices), dtype=np.int64)
    return np.searchsorted(np.asarray(cumulative), indices, side="right")


def training_batch_sampler(
    task, max_positions, ignore_invalid_inputs, max_tokens, max_sentences, required_batch_size_multiple, seed,
    pure: bool,
):  # fmt: skip
    """fairseq's batch sampler for the training data, with every sampled sentence in a batch (:func:`batches_of`);
    with ``pure`` (``--pure-batch``) each batch from one language pair."""

    def construct_batches(dataset, epoch):
        if epoch is not None:
            dataset.set_epoch(epoch)
        with data_utils.numpy_seed(seed):
            indices = dataset.ordered_indices()
        if max_positions is not None:
            indices = task.filter_indices_by_size(indices, dataset, max_positions, ignore_invalid_inputs)
        indices = np.asarray(indices, dtype=np.int64)
        owners = dataset_of_indices(dataset, indices) if pure else np.zeros(len(indices), dtype=np.int64)
        batches = []
        for owner in np.unique(owners):
            # ordered_indices sorted everything by length; each pair's subsequence stays sorted
            selected = indices[owners == owner]
            batches.extend(batches_of(dataset, selected, max_tokens, max_sentences, required_batch_size_multiple))
        return batches

    return construct_batches


def encoder_token_pairs(task) -> torch.Tensor:
    """A table from encoder language-token id to the index of its pair in ``task.lang_pairs`` (-1: none)."""
    spec = task.args.langtoks["main"][0]
    if not spec:
        raise ValueError("per-pair validation needs --encoder-langtok (src for X→eng, tgt for eng→X)")
    table = torch.full((len(task.source_dictionary),), -1, dtype=torch.long)
    for index, pair in enumerate(task.lang_pairs):
        src, tgt = pair.split("-")
        token = task.data_manager.get_encoder_langtok(src, tgt, spec)
        if table[token] >= 0:
            raise ValueError(
                f"pairs {task.lang_pairs[table[token]]} and {pair} share the encoder language token; "
                "per-pair validation needs one pair per token (English-centric directions)"
            )
        table[token] = index
    return table


def language_vocab_mask(task, lang: str) -> torch.Tensor:
    """The pieces of ``lang``'s training side (``LS_dict.<lang>.txt``), the special symbols and its language token."""
    dictionary = task.target_dictionary
    path = os.path.join(task.args.data.split(os.pathsep)[0], f"LS_dict.{lang}.txt")
    mask = torch.zeros(len(dictionary), dtype=torch.bool)
    for special in (dictionary.bos(), dictionary.pad(), dictionary.eos(), dictionary.unk()):
        mask[special] = True
    langtok = task.data_manager.get_decoder_langtok(lang, task.args.langtoks["main"][1] or "tgt")
    if langtok is not None:
        mask[langtok] = True
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            index = dictionary.index(line.split()[0])
            if index != dictionary.unk():
                mask[index] = True
    return mask
