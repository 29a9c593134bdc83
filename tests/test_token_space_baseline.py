"""The token-space baselines of BENCHMARKS.md table 1: what each `--method` trains."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.tiny_backbones import tiny_decoder_config

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "token_space_baseline.py"


@pytest.fixture(scope="module")
def baseline():
    spec = importlib.util.spec_from_file_location("token_space_baseline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trainable(model) -> dict[str, int]:
    return {name: param.numel() for name, param in model.named_parameters() if param.requires_grad}


def test_prompt_tuning_trains_only_the_soft_prompt(baseline):
    torch.manual_seed(0)
    decoder = AutoModelForCausalLM.from_config(tiny_decoder_config("llama"))
    args = argparse.Namespace(method="prompt_tuning", num_virtual_tokens=5, lora_r=4)
    model = baseline.with_adapter(decoder, args)
    (size,) = trainable(model).values()  # one tensor: the virtual-token embeddings
    assert size == 5 * decoder.config.hidden_size


def test_lora_trains_only_adapters_on_q_and_v(baseline):
    torch.manual_seed(0)
    decoder = AutoModelForCausalLM.from_config(tiny_decoder_config("llama"))
    model = baseline.with_adapter(decoder, argparse.Namespace(method="lora", num_virtual_tokens=5, lora_r=4))
    names = trainable(model)
    assert names and all("lora_" in name and ("q_proj" in name or "v_proj" in name) for name in names)


def test_unknown_method_is_refused(baseline, monkeypatch, capsys):
    monkeypatch.setattr(
        "sys.argv", ["token_space_baseline.py", "--decoder", "x", "--validation_file", "y", "--method", "full"]
    )
    with pytest.raises(SystemExit):
        baseline.main()
    assert "invalid choice: 'full'" in capsys.readouterr().err
