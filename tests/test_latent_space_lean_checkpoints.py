"""Checkpoints hold only what trained; frozen backbones are referenced by path and hash, and reload identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoModelForSeq2SeqLM

from inference import LatentSpaceInference
from modeling import LatentSpaceForConditionalGeneration
from tests.tiny_backbones import save_tiny_backbones, tiny_config, tiny_processor

HEADS = dict(latent_dim=16, compression_hidden_dims=[24], middle_hidden_dim=24, prefix_len=4, prefix_hidden_dim=32)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> tuple[Path, Path]:
    return save_tiny_backbones(tmp_path_factory.mktemp("lean-backbones"))


def build(backbones, **kwargs) -> LatentSpaceForConditionalGeneration:
    torch.manual_seed(0)
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
        *map(str, backbones), **HEADS, **kwargs
    )
    with torch.no_grad():  # "trained" heads and adapters, different from a fresh start
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.05)
    return model.eval()


def saved_keys(folder: Path) -> set[str]:
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return set(handle.keys())


def outputs(model, batch):
    with torch.no_grad():
        logits = model(**batch).logits
        generated = model.generate(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=5
        )
    return logits, generated


def test_lean_checkpoint_holds_heads_and_adapters_only_and_reloads_to_identical_outputs(tmp_path, backbones, caplog):
    model = build(backbones, decoder_lora={"r": 2, "target_modules": ["c_attn"]})
    model.save_pretrained(tmp_path / "lean")
    model.keep_backbones_in_checkpoints(True)
    model.save_pretrained(tmp_path / "full")

    keys = saved_keys(tmp_path / "lean")
    assert not any(k.startswith("encoder.") for k in keys)
    assert {k for k in keys if k.startswith("decoder.")} == {
        k for k, _ in model.named_parameters() if k.startswith("decoder.") and "lora_" in k
    }
    # the weights, not the folder: with tiny backbones the copied remote-code files weigh as much as the weights
    weights = {
        kind: sum(f.stat().st_size for f in (tmp_path / kind).glob("*.safetensors")) for kind in ("lean", "full")
    }
    assert 0 < weights["lean"] < weights["full"] / 3
    reference = json.loads((tmp_path / "lean" / "config.json").read_text())["backbone_weights"]
    assert (
        reference["encoder"]["name_or_path"] == str(backbones[0].resolve())
        and len(reference["decoder"]["sha256"]) == 64
    )

    processor = tiny_processor()
    batch = processor(["anna : lunch at noon ?", "tom : ok"], padding=True, return_tensors="pt")
    batch["labels"] = torch.tensor([[5, 6, 1], [7, 1, -100]])
    expected = outputs(model, batch)
    for folder in ("full", "lean"):
        reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / folder).eval()
        logits, generated = outputs(reloaded, batch)
        assert torch.equal(logits, expected[0]) and torch.equal(generated, expected[1]), folder
        assert not any(p.requires_grad for p in reloaded.encoder.parameters())
    assert reloaded.decoder.lm_head.weight is reloaded.decoder.transformer.wte.weight  # still tied
    assert "corrupted" not in caplog.text and "newly initialized" not in caplog.text
    # Re-saving a reloaded lean model stays lean; inference loads it as any checkpoint.
    reloaded.save_pretrained(tmp_path / "again")
    assert saved_keys(tmp_path / "again") == keys
    processor.save_pretrained(tmp_path / "lean")
    assert LatentSpaceInference.from_pretrained(tmp_path / "lean", device="cpu").model.config.backbone_weights


def test_other_backbone_weights_are_refused_with_a_clear_error(tmp_path, backbones):
    build(backbones).save_pretrained(tmp_path / "lean")
    torch.manual_seed(123)  # the same encoder folder, but other weights in it
    other = tmp_path / "other-encoder"
    AutoModel.from_config(tiny_config().encoder).save_pretrained(other)
    with pytest.raises(ValueError, match="encoder weights at .*other-encoder are not the ones this checkpoint"):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "lean", backbone_paths={"encoder": str(other)})
    with pytest.raises(OSError, match="backbone_paths"):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "lean", backbone_paths={"decoder": str(tmp_path / "gone")})
    copy = tmp_path / "copy-of-encoder"
    AutoModel.from_pretrained(backbones[0]).save_pretrained(copy)  # same weights, same bytes: accepted
    assert AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "lean", backbone_paths={"encoder": str(copy)})


def test_trainable_backbones_and_the_recipe_key_keep_full_saves(tmp_path, backbones):
    build(backbones, freeze_decoder=False).save_pretrained(tmp_path / "decoder-trained")
    keys = saved_keys(tmp_path / "decoder-trained")
    assert any(k.startswith("decoder.") for k in keys) and not any(k.startswith("encoder.") for k in keys)
    build(backbones, save_backbones=True).save_pretrained(tmp_path / "full")
    assert any(k.startswith("encoder.") for k in saved_keys(tmp_path / "full"))


def test_a_hub_push_saves_the_final_model_whole_before_uploading(tmp_path, backbones, monkeypatch):
    import run_summarization
    from tests.test_recipes_and_scripts import tiny_recipe

    pushed = {}

    def fake_push(training_args):  # records what would be uploaded instead of reaching the Hub
        pushed["keys"] = saved_keys(Path(training_args.output_dir))

    monkeypatch.setattr(run_summarization, "push_output_dir", fake_push)
    recipe = tiny_recipe(tmp_path, backbones, max_steps=1, do_eval=False, save_strategy="no")
    run_summarization.main([str(recipe), "--push_to_hub", "true", "--hub_model_id", "someone/tiny"])
    assert any(key.startswith("encoder.") for key in pushed["keys"])
    assert any(key.startswith("decoder.") and "lora_" not in key for key in pushed["keys"])
