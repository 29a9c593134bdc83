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


def test_teacher_labels_keep_ids_drop_empty_summaries_and_respect_the_row_limit(baseline, tmp_path, monkeypatch):
    import json

    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"id": f"c{i}", "dialogue": f"A: hi {i}\nB: yo"}) + "\n" for i in range(5)))
    monkeypatch.setattr(  # the teacher's generation itself is the token-space model's; here only the file matters
        baseline,
        "generate_summaries",
        lambda model, tokenizer, dialogues, args: ["", *[f"s {d[6]}" for d in dialogues[1:]]],
    )
    args = argparse.Namespace(
        label_file=str(chats),
        label_output=str(tmp_path / "out.jsonl"),
        label_max_rows=3,
        label_batch_size=2,
        method="prompt_tuning",
    )
    info = baseline.write_teacher_labels(object(), None, args)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert info["rows"] == 3
    assert [(r["id"], r["summary"]) for r in rows] == [("c1", "s 1"), ("c2", "s 2")]


def test_label_file_without_an_output_is_refused(baseline, tmp_path, monkeypatch):
    data = tmp_path / "v.jsonl"
    data.write_text('{"dialogue": "A: hi", "summary": "hi"}\n')
    monkeypatch.setattr(
        "sys.argv",
        ["token_space_baseline.py", "--decoder", "x", "--validation_file", str(data), "--label_file", str(data)],
    )
    with pytest.raises(SystemExit, match="go together"):
        baseline.main()
