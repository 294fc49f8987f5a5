"""What the task builds from fairseq's datasets and dictionaries: pure (one-pair) batches, the table from encoder
language token to pair, and a target language's vocabulary mask (language-aware distillation)."""

from __future__ import annotations

import os

import numpy as np
import torch
from fairseq.data import data_utils


def dataset_of_indices(dataset, indices: np.ndarray) -> np.ndarray:
    """For each global index of a multilingual dataset, the index of the language-pair dataset it comes from."""
    cumulative = getattr(dataset, "cumulated_sizes", None)  # SampledMultiDataset (train)
    if cumulative is None:
        cumulative = getattr(dataset, "cumulative_sizes", None)  # ConcatDataset (valid/test)
    if cumulative is None:
        return np.zeros(len(indices), dtype=np.int64)
    return np.searchsorted(np.asarray(cumulative), indices, side="right")


def pure_batch_sampler(
    task, max_positions, ignore_invalid_inputs, max_tokens, max_sentences, required_batch_size_multiple, seed
):
    """fairseq's batch sampler, each batch from one language pair (``--pure-batch``)."""

    def construct_pure_batches(dataset, epoch):
        if epoch is not None:
            dataset.set_epoch(epoch)
        with data_utils.numpy_seed(seed):
            indices = dataset.ordered_indices()
        if max_positions is not None:
            indices = task.filter_indices_by_size(indices, dataset, max_positions, ignore_invalid_inputs)
        indices = np.asarray(indices, dtype=np.int64)
        owners = dataset_of_indices(dataset, indices)
        batches = []
        for owner in np.unique(owners):
            # ordered_indices sorted everything by length; each pair's subsequence stays sorted
            batches.extend(
                dataset.batch_by_size(
                    indices[owners == owner],
                    max_tokens=max_tokens,
                    max_sentences=max_sentences,
                    required_batch_size_multiple=required_batch_size_multiple,
                )
            )
        return batches

    return construct_pure_batches


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
