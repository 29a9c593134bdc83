"""Batches for latent-prefix models: encoder inputs padded by the encoder tokenizer, labels in the decoder's ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase


def _round_up(length: int, multiple: int | None) -> int:
    if not multiple:
        return length
    return ((length + multiple - 1) // multiple) * multiple


@dataclass
class DataCollatorForLatentPrefix:
    """
    Collates tokenized examples `{"input_ids", "attention_mask"?, "labels"?}` where `input_ids` come from the
    encoder tokenizer and `labels` are summary ids from the decoder tokenizer (no special tokens).

    - `input_ids` / `attention_mask` are padded with `encoder_tokenizer.pad` (its pad id and padding side);
    - `labels` get the decoder's EOS appended (so the model learns to stop) and are right-padded with -100, which the
      loss ignores;
    - `pad_to_multiple_of` rounds both lengths up (8 suits fp16 tensor cores).

    Works as the `data_collator` of a stock `Seq2SeqTrainer` for training, evaluation and prediction; examples
    without `labels` (prediction) give batches without labels. Other keys (ids, raw text) are dropped.

    Args:
        encoder_tokenizer: tokenizer of the encoder backbone.
        decoder_tokenizer: tokenizer of the decoder backbone (its `eos_token_id` ends every label).
        pad_to_multiple_of: round padded lengths up to a multiple of this.
        label_pad_token_id: value of padded label positions (-100 is ignored by the loss).
        add_eos_token: whether to append EOS to labels that do not already end with it.
        max_target_length: if set, labels (EOS included) are cut to this length, keeping the EOS.
    """

    encoder_tokenizer: PreTrainedTokenizerBase
    decoder_tokenizer: PreTrainedTokenizerBase
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    add_eos_token: bool = True
    max_target_length: int | None = None

    def __post_init__(self) -> None:
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
        length = _round_up(max(len(ids) for ids in labels), self.pad_to_multiple_of)
        padded = torch.full((len(labels), length), self.label_pad_token_id, dtype=torch.long)
        for row, ids in enumerate(labels):
            padded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return padded
