"""Generation with transformers' static KV cache (what lets generate compile its decoding step) writes the same text."""

from __future__ import annotations

import pytest
import torch

from benchmarks.train_cost_real import parse_config
from tests.tiny_backbones import tiny_model, tiny_processor


@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
def test_static_cache_generation_matches_the_default_cache(decoder):
    model, processor = tiny_model(decoder=decoder).eval(), tiny_processor()
    batch = processor(["anna : lunch at noon ?", "tom : ok , see you"], padding=True, return_tensors="pt")
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "max_new_tokens": 6}
    with torch.no_grad():
        default = model.generate(**inputs)
        static = model.generate(**inputs, cache_implementation="static")
    assert torch.equal(default, static)


def test_the_real_length_benchmark_knows_its_configurations():
    assert parse_config("frozen-compile-static") == {
        "name": "frozen-compile-static",
        "model": "frozen",
        "compile": "static",
        "buckets": True,
        "fp16bb": False,
    }
    assert (
        parse_config("bart-eager-pad8")["buckets"] is False and parse_config("frozen-eager-buckets-fp16bb")["fp16bb"]
    )
    with pytest.raises(ValueError, match="Unknown configuration"):
        parse_config("t5-eager-pad8")
