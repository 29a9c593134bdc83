"""DataCollatorForLatentPrefix: padding on both sides of the model, -100 masking, EOS, multiples."""

from __future__ import annotations

import pytest
import torch

from data_collators import DataCollatorForLatentPrefix
from tests.tiny_backbones import tiny_processor


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def _collator(processor, **kwargs) -> DataCollatorForLatentPrefix:
    return DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer, **kwargs)


def test_pads_inputs_with_encoder_pad_and_labels_with_minus_100_after_eos(processor):
    features = [{"input_ids": [2, 10, 11, 3], "labels": [7, 8, 9]}, {"input_ids": [2, 12, 3], "labels": [5]}]
    batch = _collator(processor)(features)
    eos, pad = processor.decoder_tokenizer.eos_token_id, processor.encoder_tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[2, 10, 11, 3], [2, 12, 3, pad]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 8, 9, eos], [5, eos, -100, -100]]


def test_labels_already_ending_with_eos_get_no_second_one(processor):
    eos = processor.decoder_tokenizer.eos_token_id
    batch = _collator(processor)([{"input_ids": [2, 3], "labels": [7, eos]}])
    assert batch["labels"].tolist() == [[7, eos]]


def test_pad_to_multiple_of_rounds_both_lengths_up(processor):
    batch = _collator(processor, pad_to_multiple_of=8)([{"input_ids": [2, 10, 11, 3], "labels": [7, 8, 9]}] * 2)
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].shape == (2, 8)
    assert (batch["labels"][:, 4:] == -100).all() and (batch["attention_mask"][:, 4:] == 0).all()


def test_max_target_length_cuts_labels_but_keeps_eos(processor):
    eos = processor.decoder_tokenizer.eos_token_id
    batch = _collator(processor, max_target_length=3)([{"input_ids": [2, 3], "labels": [5, 6, 7, 8]}])
    assert batch["labels"].tolist() == [[5, 6, eos]]


def test_prediction_batches_without_labels_have_no_labels_and_extra_keys_are_dropped(processor):
    batch = _collator(processor)([{"input_ids": [2, 10, 3], "id": "a", "dialogue": "x"}])
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].dtype == torch.long


def test_bad_batches_are_clear_errors(processor):
    collator = _collator(processor)
    with pytest.raises(ValueError, match="empty dialogue"):
        collator([{"input_ids": [], "labels": [1]}])
    with pytest.raises(ValueError, match="empty list"):
        collator([])
    with pytest.raises(KeyError, match="input_ids"):
        collator([{"labels": [1]}])
    with pytest.raises(ValueError, match="Some examples"):
        collator([{"input_ids": [2, 3], "labels": [4]}, {"input_ids": [2, 3]}])
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        _collator(processor, pad_to_multiple_of=0)
