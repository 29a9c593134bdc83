"""Batches for latent-prefix models: encoder inputs padded by the encoder tokenizer, labels in the decoder's ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase


def _round_up(length: int, multiple: int | None) -> int:
    if not multiple:
        return length
    return ((length + multiple - 1) // multiple) * multiple


def bucket_length(length: int, buckets: Sequence[int] | None, multiple: int | None = None, what: str = "") -> int:
    """The smallest bucket that holds `length` (or `length` rounded up to `multiple` when there are no buckets)."""
    if not buckets:
        return _round_up(length, multiple)
    for bucket in buckets:
        if length <= bucket:
            return bucket
    raise ValueError(
        f"A {what} of {length} tokens is longer than the largest bucket {buckets[-1]}: make the largest bucket at "
        "least the maximum length the data is cut to."
    )


def check_buckets(buckets: Sequence[int] | None, name: str) -> None:
    if buckets is not None and (not buckets or any(b < 1 for b in buckets) or list(buckets) != sorted(set(buckets))):
        raise ValueError(f"`{name}` must be increasing positive lengths, e.g. [64, 128, 256], got {list(buckets)}.")


@dataclass
class DataCollatorForLatentPrefix:
    """
    Collates tokenized examples `{"input_ids", "attention_mask"?, "labels"?}` where `input_ids` come from the
    encoder tokenizer and `labels` are summary ids from the decoder tokenizer (no special tokens).

    - `input_ids` / `attention_mask` are padded with `encoder_tokenizer.pad` (its pad id and padding side);
    - `labels` get the decoder's EOS appended (so the model learns to stop) and are right-padded with -100, which the
      loss ignores;
    - `pad_to_multiple_of` rounds both lengths up (8 suits fp16 tensor cores);
    - `source_buckets` / `target_buckets` instead pad each side to the smallest of a few fixed lengths that holds the
      batch's longest row, so a compiled model sees only those shapes (one compilation per bucket, not per length).

    Works as the `data_collator` of a stock `Seq2SeqTrainer` for training, evaluation and prediction; examples
    without `labels` (prediction) give batches without labels. Other keys (ids, raw text) are dropped.

    Args:
        encoder_tokenizer: tokenizer of the encoder backbone.
        decoder_tokenizer: tokenizer of the decoder backbone (its `eos_token_id` ends every label).
        pad_to_multiple_of: round padded lengths up to a multiple of this.
        label_pad_token_id: value of padded label positions (-100 is ignored by the loss).
        add_eos_token: whether to append EOS to labels that do not already end with it.
        max_target_length: if set, labels (EOS included) are cut to this length, keeping the EOS.
        source_buckets: increasing lengths dialogues are padded to (the largest must hold the longest dialogue).
        target_buckets: increasing lengths labels are padded to (the largest must hold the longest label, EOS included).
    """

    encoder_tokenizer: PreTrainedTokenizerBase
    decoder_tokenizer: PreTrainedTokenizerBase
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    add_eos_token: bool = True
    max_target_length: int | None = None
    source_buckets: Sequence[int] | None = None
    target_buckets: Sequence[int] | None = None

    def __post_init__(self) -> None:
        check_buckets(self.source_buckets, "source_buckets")
        check_buckets(self.target_buckets, "target_buckets")
        if self.encoder_tokenizer.pad_token_id is None:
            raise ValueError(
                "The encoder tokenizer has no pad token; give it one (e.g. LatentSpaceProcessor does) before collating."
            )
        if self.add_eos_token and self.decoder_tokenizer.eos_token_id is None:
            raise ValueError(
                "The decoder tokenizer has no EOS token to end summaries with: set one or pass add_eos_token=False."
            )
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(f"`pad_to_multiple_of` must be a positive integer, got {self.pad_to_multiple_of}.")

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("Cannot collate an empty list of examples.")
        for i, feature in enumerate(features):
            if "input_ids" not in feature:
                raise KeyError(f"Example {i} has no `input_ids`; tokenize the dialogues before collating.")
            if len(feature["input_ids"]) == 0:
                raise ValueError(f"Example {i} has an empty dialogue (no input tokens).")

        encoder_features = [
            {key: feature[key] for key in ("input_ids", "attention_mask") if key in feature} for feature in features
        ]
        if self.source_buckets:
            longest = max(len(feature["input_ids"]) for feature in features)
            length = bucket_length(longest, self.source_buckets, what="dialogue")
            batch = self.encoder_tokenizer.pad(
                encoder_features, padding="max_length", max_length=length, return_tensors="pt"
            )
        else:
            batch = self.encoder_tokenizer.pad(
                encoder_features, padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt"
            )
        batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

        has_labels = ["labels" in feature and feature["labels"] is not None for feature in features]
        if any(has_labels):
            if not all(has_labels):
                raise ValueError("Some examples in the batch have `labels` and some do not.")
            batch["labels"] = self._pad_labels([list(feature["labels"]) for feature in features])
        return batch

    def _pad_labels(self, labels: list[list[int]]) -> torch.Tensor:
        eos = self.decoder_tokenizer.eos_token_id
        if self.add_eos_token:
            labels = [ids if ids and ids[-1] == eos else [*ids, eos] for ids in labels]
        if self.max_target_length is not None:
            cut = self.max_target_length
            labels = [
                ids[:cut] if len(ids) <= cut or not self.add_eos_token else [*ids[: cut - 1], eos] for ids in labels
            ]
        length = bucket_length(
            max(len(ids) for ids in labels), self.target_buckets, self.pad_to_multiple_of, "summary"
        )
        padded = torch.full((len(labels), length), self.label_pad_token_id, dtype=torch.long)
        for row, ids in enumerate(labels):
            padded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return padded
