"""Behaviour of LatentSpaceForConditionalGeneration that users rely on, on tiny random backbones."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, T5Config

from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration, LatentSpaceProcessor
from tests.tiny_backbones import (
    PAIRS,
    save_tiny_backbones,
    tiny_batch,
    tiny_config,
    tiny_decoder_config,
    tiny_encoder_config,
    tiny_model,
    tiny_processor,
)

HEADS = ("pooler", "compression", "middle", "prefix_adapter")


@pytest.fixture(scope="module")
def processor() -> LatentSpaceProcessor:
    return tiny_processor()


@pytest.fixture(scope="module")
def batch(processor) -> dict[str, torch.Tensor]:
    return tiny_batch(processor)


def test_stages_have_the_documented_shapes(batch):
    model = tiny_model()
    size = batch["input_ids"].shape[0]
    latent_in = model.encode(batch["input_ids"], batch["attention_mask"])
    latent_out = model.reason(latent_in)
    prefix = model.prefix_embeddings(latent_out)
    assert latent_in.shape == latent_out.shape == (size, 16)
    assert prefix.shape == (size, 4 + 1, 32)  # prefix_len soft vectors + the start-token embedding
    outputs = model(**batch)
    assert outputs.logits.shape == (*batch["labels"].shape, 256)
    assert outputs.loss.ndim == 0


def test_seed_defaults_build_modernbert_gpt2_shapes():
    config = LatentSpaceConfig()
    assert (config.encoder.model_type, config.decoder.model_type) == ("modernbert", "gpt2")
    assert (config.latent_dim, config.prefix_len, config.compression_hidden_dims) == (256, 10, [512])
    assert (config.middle_model, config.middle_num_layers, config.middle_hidden_dim) == ("mlp", 3, 512)
    assert config.freeze_encoder and config.freeze_decoder


def test_start_token_embedding_follows_the_soft_prompt():
    model = tiny_model()
    prefix = model.prefix_embeddings(torch.randn(2, 16))
    start = model.decoder.get_input_embeddings().weight[model.config.decoder_start_token_id]
    torch.testing.assert_close(prefix[:, -1], start.expand(2, -1))
    assert tiny_model(use_decoder_start_token=False).prefix_embeddings(torch.randn(2, 16)).shape == (2, 4, 32)


@pytest.mark.parametrize("pooling", ["mean", "attention", "cls"])
@pytest.mark.parametrize("middle_model", ["mlp", "transformer", "gru", "identity"])
def test_every_pooling_and_middle_model_trains(batch, pooling, middle_model):
    model = tiny_model(pooling=pooling, middle_model=middle_model)
    model.train()
    outputs = model(**batch)
    outputs.loss.backward()
    assert torch.isfinite(outputs.loss)
    assert outputs.latent_out.shape == (batch["input_ids"].shape[0], 16)
    assert model.compression.mlp[0].weight.grad.abs().sum() > 0
    if middle_model == "identity":
        torch.testing.assert_close(outputs.latent_out, outputs.latent_in)


@pytest.mark.parametrize("pooling, num_queries", [("mean", 1), ("attention", 1), ("attention", 3)])
def test_pooling_ignores_padding(processor, pooling, num_queries):
    model = tiny_model(pooling=pooling, pooling_num_queries=num_queries).eval()
    ids = processor.encoder_tokenizer(PAIRS[0][0], return_tensors="pt")["input_ids"]
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones_like(ids), torch.zeros(1, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model.encode(ids), model.encode(padded, mask), rtol=1e-5, atol=1e-5)


def test_each_attention_query_pools_on_its_own():
    model = tiny_model(pooling="attention", pooling_num_queries=2).eval()
    hidden = model.config.encoder_hidden_size
    assert model.compression.mlp[0].in_features == 2 * hidden
    states = torch.randn(1, 4, hidden)
    states[0, 0, 0] = states[0, 3, 1] = 1e4  # feature 0 marks the first token, feature 1 the last one
    with torch.no_grad():  # query 0 reads feature 0, query 1 reads feature 1
        model.pooler.score.weight.zero_()
        model.pooler.score.bias.zero_()
        model.pooler.score.weight[0, 0] = model.pooler.score.weight[1, 1] = 1.0
        pooled = model.pooler(states, torch.ones(1, 4, dtype=torch.long))
    torch.testing.assert_close(pooled, torch.stack([states[:, 0], states[:, 3]], dim=1))


def test_loss_is_cross_entropy_over_summary_tokens_only(batch):
    model = tiny_model().eval()
    outputs = model(**batch)
    labels = batch["labels"]
    expected = F.cross_entropy(outputs.logits.reshape(-1, 256), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(outputs.loss, expected)

    # Extra padding (more -100 positions) changes nothing: padding and the soft prompt are never targets.
    longer = torch.cat([labels, torch.full((labels.shape[0], 3), -100)], dim=1)
    torch.testing.assert_close(model(**{**batch, "labels": longer}).loss, outputs.loss, rtol=1e-5, atol=1e-5)


def test_num_items_in_batch_sums_the_loss_for_gradient_accumulation(batch):
    model = tiny_model().eval()
    mean_loss = model(**batch).loss
    tokens = int((batch["labels"] != -100).sum())
    summed = model(**batch, num_items_in_batch=2 * tokens).loss
    torch.testing.assert_close(summed, mean_loss / 2)


def test_frozen_backbones_get_no_gradients_and_heads_do(batch):
    model = tiny_model()
    model.train()
    model(**batch).loss.backward()
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(HEADS) - {"pooler"}  # mean pooling has no parameters
    for backbone in (model.encoder, model.decoder):
        assert all(p.grad is None for p in backbone.parameters())
    for head in ("compression", "middle", "prefix_adapter"):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, head).parameters())


def test_frozen_backbones_stay_in_eval_mode_while_heads_train():
    model = tiny_model(head_dropout=0.1)
    model.train()
    assert not model.encoder.training and not model.decoder.training
    assert model.compression.training and model.prefix_adapter.training
    assert not any(module.training for module in model.decoder.modules())


def test_train_again_restores_every_submodule_mode():
    # train() has a fast path when the mode does not change; it must still undo modes changed behind its back.
    model = tiny_model(decoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["c_attn"]})
    model.train()
    model.encoder.train()  # frozen: must go back to eval
    model.decoder.eval()  # LoRA-adapted: must go back to train
    model.prefix_adapter.mlp[1].eval()  # a head's submodule: must go back to train
    model.train()
    assert not any(m.training for m in model.encoder.modules())
    assert all(m.training for m in model.decoder.modules())
    assert all(m.training for m in model.prefix_adapter.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())


def test_unfrozen_backbone_trains_and_gets_gradients(batch):
    model = tiny_model(freeze_decoder=False)
    model.train()
    assert model.decoder.training and not model.encoder.training
    model(**batch).loss.backward()
    assert model.decoder.get_input_embeddings().weight.grad is not None
    assert all(p.grad is None for p in model.encoder.parameters())


def test_loss_falls_when_overfitting_a_handful_of_pairs(batch):
    model = tiny_model(seed=1)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses[::10]


def test_generate_respects_max_new_tokens_and_returns_only_summary_tokens(batch):
    model = tiny_model().eval()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    exact = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6)
    assert exact.shape == (batch["input_ids"].shape[0], 6)
    assert model.generate(**inputs, max_new_tokens=3).shape[1] <= 3


def test_max_length_limits_summary_tokens_like_max_new_tokens(batch):
    model = tiny_model().eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert model.generate(ids, mask, max_length=7, min_new_tokens=7).shape[1] == 7
    assert model.generate(ids, mask, max_new_tokens=5, min_new_tokens=5).shape[1] == 5


def test_greedy_generation_is_deterministic_and_sampling_follows_the_seed(batch):
    model = tiny_model().eval()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "min_new_tokens": 5}
    torch.testing.assert_close(model.generate(**inputs, max_new_tokens=5), model.generate(**inputs, max_new_tokens=5))
    sample = {"do_sample": True, "temperature": 1.5, "top_k": 50, "top_p": 0.95, "max_new_tokens": 8}
    torch.manual_seed(0)
    first = model.generate(**inputs, **sample)
    torch.manual_seed(0)
    torch.testing.assert_close(first, model.generate(**inputs, **sample))


def test_generate_honours_beams_and_repetition_penalty(batch):
    model = tiny_model().eval()
    inputs = {"input_ids": batch["input_ids"][:2], "attention_mask": batch["attention_mask"][:2]}
    beams = model.generate(**inputs, num_beams=3, num_return_sequences=2, max_new_tokens=4)
    assert beams.shape[0] == 4 and beams.shape[1] <= 4
    penalized = model.generate(**inputs, repetition_penalty=50.0, max_new_tokens=8, min_new_tokens=8)
    for row in penalized.tolist():
        assert len(set(row)) == len(row)  # a huge penalty forbids repeating any token


def test_generation_config_of_the_model_is_used_by_default(batch):
    model = tiny_model().eval()
    model.generation_config.max_new_tokens = 2
    model.generation_config.min_new_tokens = 2
    assert model.generate(batch["input_ids"], batch["attention_mask"]).shape[1] == 2


def test_generate_decodes_a_given_latent_like_the_text_it_came_from(batch):
    model = tiny_model().eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    latent = model.reason(model.encode(ids, mask))
    torch.testing.assert_close(
        model.generate(latent=latent, max_new_tokens=5), model.generate(ids, mask, max_new_tokens=5)
    )
    with pytest.raises(ValueError, match="latent"):
        model.generate(latent=torch.zeros(2, 7))


def test_save_and_reload_give_identical_logits_and_generations(tmp_path, batch, processor):
    model = tiny_model(pooling="attention", pooling_num_queries=2, middle_model="transformer")
    model.eval()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()

    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert isinstance(reloaded, LatentSpaceForConditionalGeneration)
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    generated = model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=6)
    torch.testing.assert_close(
        reloaded.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=6), generated
    )

    tokenizers = LatentSpaceProcessor.from_pretrained(tmp_path)
    assert (
        tokenizers.encoder_tokenizer(PAIRS[0][0])["input_ids"] == processor.encoder_tokenizer(PAIRS[0][0])["input_ids"]
    )
    assert tokenizers.batch_decode(generated) == processor.batch_decode(generated)


def test_saved_config_carries_auto_map_and_loads_with_trust_remote_code(tmp_path, batch):
    model = tiny_model(middle_model="gru").eval()
    model.save_pretrained(tmp_path)
    auto_map = AutoConfig.from_pretrained(tmp_path).auto_map
    assert auto_map["AutoModelForSeq2SeqLM"] == "modeling_latent_space.LatentSpaceForConditionalGeneration"
    expected = model.generate(batch["input_ids"][:1], batch["attention_mask"][:1], max_new_tokens=4, min_new_tokens=4)
    # A fresh interpreter outside the repo cannot import `modeling`: the code must come from the checkpoint.
    script = textwrap.dedent(
        f"""
        import torch
        from transformers import AutoModelForSeq2SeqLM
        model = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        ids = torch.tensor({batch["input_ids"][:1].tolist()})
        print(model.generate(ids, torch.ones_like(ids), max_new_tokens=4, min_new_tokens=4).tolist())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path.parent)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(expected.tolist())


def test_from_encoder_decoder_pretrained_loads_backbones_and_routes_kwargs(tmp_path):
    encoder_dir, decoder_dir = save_tiny_backbones(tmp_path)
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder_dir, decoder_dir, latent_dim=8, prefix_len=3, pooling="cls", dtype=torch.bfloat16
    )
    assert (model.config.latent_dim, model.config.prefix_len, model.config.pooling) == (8, 3, "cls")
    assert model.config.encoder_name_or_path == str(encoder_dir)
    assert model.decoder.get_input_embeddings().weight.dtype == torch.bfloat16
    assert model.compression.mlp[0].weight.dtype == torch.float32  # new heads stay in full precision
    reference = AutoModelForCausalLM.from_pretrained(decoder_dir, dtype=torch.bfloat16)
    torch.testing.assert_close(model.decoder.lm_head.weight, reference.lm_head.weight)
    ids = torch.tensor([[2, 10, 11, 3]])
    assert model.generate(ids, max_new_tokens=3, min_new_tokens=3).shape == (1, 3)


def _assert_causal_and_consistent_with_generate(model, batch) -> None:
    """Teacher forcing must see only earlier summary tokens, exactly as generation does."""
    model.eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    generated = model.generate(ids, mask, max_new_tokens=5, min_new_tokens=5)
    logits = model(input_ids=ids, attention_mask=mask, labels=generated).logits
    logits[..., model.config.eos_token_id] = float("-inf")  # min_new_tokens kept EOS out of the generation
    assert torch.equal(logits.argmax(-1), generated)
    changed = generated.clone()
    changed[:, 3:] = (changed[:, 3:] + 7) % model.config.decoder.vocab_size
    changed_logits = model(input_ids=ids, attention_mask=mask, labels=changed).logits
    torch.testing.assert_close(
        changed_logits[:, :4], model(input_ids=ids, attention_mask=mask, labels=generated).logits[:, :4]
    )


def test_soft_prompt_starts_at_the_scale_of_the_decoder_token_embeddings(tmp_path, batch):
    encoder_dir, decoder_dir = save_tiny_backbones(tmp_path)
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, decoder_dir).eval()
    token_rms = model.decoder.get_input_embeddings().weight.pow(2).mean().sqrt()
    latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
    prompt_rms = model.prefix_adapter(latent).pow(2).mean().sqrt()
    assert 0.5 < float(prompt_rms / token_rms) < 2.0

    # Without the norm, heads initialised the transformers way (std 0.02) write a prompt the decoder barely sees.
    plain = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder_dir, decoder_dir, prefix_layer_norm=False, head_init="normal"
    ).eval()
    assert plain.prefix_adapter.norm is None
    plain_latent = plain.reason(plain.encode(batch["input_ids"], batch["attention_mask"]))
    assert float(plain.prefix_adapter(plain_latent).pow(2).mean().sqrt() / token_rms) < 0.1


@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
def test_pretrained_backbones_keep_their_attention_masks(tmp_path, batch, decoder):
    # Regression: building the config around loaded backbones once reset their attention implementation to None,
    # which dropped the decoder's causal mask, so training saw the summary it had to predict.
    encoder_dir, decoder_dir = save_tiny_backbones(tmp_path, decoder=decoder)
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, decoder_dir)
    assert model.encoder.config._attn_implementation is not None
    assert model.decoder.config._attn_implementation is not None
    _assert_causal_and_consistent_with_generate(model, batch)


@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
def test_teacher_forcing_is_causal_and_matches_greedy_generation(batch, decoder):
    _assert_causal_and_consistent_with_generate(tiny_model(decoder=decoder), batch)


def test_modernbert_encoder_with_llama_decoder(batch):
    model = tiny_model(encoder="modernbert", decoder="llama", pooling="attention").eval()
    assert model(**batch).logits.shape[-1] == 256
    assert model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=3).shape[1] <= 3


def test_lora_adapters_train_with_the_heads_and_survive_save_load(tmp_path, batch):
    model = tiny_model(decoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["c_attn"]})
    model.train()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any("decoder" in n and "lora_" in n for n in trainable)
    assert not any(n.startswith("decoder") and "lora_" not in n for n in trainable)
    assert model.decoder.training  # an adapted backbone trains (LoRA dropout is live)
    model(**batch).loss.backward()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    optimizer.step()
    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)


def test_lora_adapters_on_half_precision_backbones_are_float32(tmp_path, batch):
    # Regression: adapters came out in the backbones' fp16 (and in the compute dtype of 4-bit backbones), which fp16
    # mixed-precision training refuses ("Attempting to unscale FP16 gradients"), so the qlora recipe failed.
    encoder_dir, decoder_dir = save_tiny_backbones(tmp_path)
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder_dir,
        decoder_dir,
        dtype=torch.float16,
        encoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["query", "value"]},
        decoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["c_attn"]},
    )
    assert model.decoder.get_input_embeddings().weight.dtype == torch.float16
    trainable = {name: p.dtype for name, p in model.named_parameters() if p.requires_grad}
    assert any("encoder" in n and "lora_" in n for n in trainable) and any("decoder" in n for n in trainable)
    assert set(trainable.values()) == {torch.float32}
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    scaler.scale(model(**batch).loss.float()).backward()
    scaler.unscale_(optimizer)  # raised ValueError for fp16 adapters
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad and "lora_B" in n)


def test_unknown_pooling_or_middle_model_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown pooling 'max'"):
        tiny_config(pooling="max")
    with pytest.raises(ValueError, match="Unknown middle_model 'lstm'"):
        tiny_config(middle_model="lstm")
    with pytest.raises(ValueError, match="middle_num_heads"):
        tiny_config(middle_model="transformer", middle_num_heads=5)
    with pytest.raises(ValueError, match="target_modules"):
        tiny_config(decoder_lora={"r": 4})
    with pytest.raises(ValueError, match="`pooling_num_queries` must be a positive integer, got 0"):
        tiny_config(pooling="attention", pooling_num_queries=0)


def test_wrong_kinds_of_backbone_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="decoder must be a causal LM"):
        LatentSpaceForConditionalGeneration(
            LatentSpaceConfig.from_encoder_decoder_configs(tiny_encoder_config(), tiny_encoder_config("modernbert"))
        )
    with pytest.raises(ValueError, match="encoder must be an encoder-only model"):
        LatentSpaceConfig.from_encoder_decoder_configs(T5Config(d_model=16, num_layers=1), tiny_decoder_config())
    encoder_dir, _ = save_tiny_backbones(tmp_path, encoder="modernbert")
    with pytest.raises(ValueError, match="decoder must be a causal LM"):
        LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, encoder_dir)


def test_empty_inputs_and_missing_labels_are_clear_errors(processor):
    model = tiny_model()
    with pytest.raises(ValueError, match="non-empty"):
        model.encode(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        model(input_ids=torch.tensor([[2, 5, 3]]))
    with pytest.raises(ValueError, match="Empty dialogue at position"):
        processor(["anna : hi", "   "])


def test_decoder_tokenizer_without_pad_token_pads_with_eos():
    processor = tiny_processor()
    assert processor.decoder_tokenizer.pad_token_id == processor.decoder_tokenizer.eos_token_id
    assert processor.pad_token_id == processor.eos_token_id


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_cached_encoder_states_give_the_same_loss_as_running_the_encoder(batch, pooling):
    model = tiny_model(pooling=pooling).eval()
    with torch.no_grad():
        states = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    replayed = model(
        input_ids=None, attention_mask=batch["attention_mask"], labels=batch["labels"], encoder_hidden_states=states
    )
    torch.testing.assert_close(replayed.loss, model(**batch).loss)


# ----------------------------------------------------------------------------------------------------------------------
# Head scale: pooled LayerNorm and fan-in initialisation
# ----------------------------------------------------------------------------------------------------------------------


def test_pooled_layer_norm_makes_the_idea_vector_independent_of_the_encoder_scale(batch):
    model = tiny_model().eval()
    states = model.encoder_token_states(batch["input_ids"], batch["attention_mask"])
    mask = batch["attention_mask"]
    latent = model.encode(None, mask, encoder_hidden_states=states)
    torch.testing.assert_close(
        model.encode(None, mask, encoder_hidden_states=10 * states), latent, atol=1e-4, rtol=1e-4
    )

    plain = tiny_model(pooled_layer_norm=False).eval()
    assert plain.compression.norm is None
    unnormed = plain.encode(None, mask, encoder_hidden_states=states)
    assert not torch.allclose(plain.encode(None, mask, encoder_hidden_states=10 * states), unnormed, atol=1e-3)


def test_fan_in_init_keeps_the_fresh_soft_prompt_dependent_on_the_dialogue(batch):
    # With transformers' std 0.02 each head layer shrinks its input ~3x, so the part of the fresh soft prompt that
    # depends on the dialogue is tiny next to what one optimizer step moves the biases: training first learns one
    # average prompt. Fan-in init keeps that part at the input's scale.
    def spread(model) -> float:
        """Mean distance of each dialogue's un-normalised soft prompt from their mean."""
        with torch.no_grad():
            latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
            raw = model.prefix_adapter.mlp(latent.view(latent.shape[0], 1, -1)).flatten(1)
        return float((raw - raw.mean(0)).norm(dim=1).mean())

    fan_in = tiny_model().eval()
    layers = [layer for layer in fan_in.modules() if isinstance(layer, torch.nn.Linear)]
    for layer in filter(fan_in._is_head_mlp_layer, layers):
        assert abs(float(layer.weight.std()) * layer.in_features**0.5 - 1.0) < 0.25
    normal = tiny_model(head_init="normal").eval()
    assert spread(fan_in) > 10 * spread(normal)


def test_checkpoints_saved_before_pooled_layer_norm_load_without_it(tmp_path):
    model = tiny_model(pooled_layer_norm=False)
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    del saved["pooled_layer_norm"]  # what a checkpoint written before the option existed holds
    config_file.write_text(json.dumps(saved))
    reloaded = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.config.pooled_layer_norm is False and reloaded.compression.norm is None
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor)
    # New models get it, and their checkpoints say so (a config.json without the key now means "saved before").
    tiny_model().save_pretrained(tmp_path / "new")
    assert json.loads((tmp_path / "new" / "config.json").read_text())["pooled_layer_norm"] is True


def test_unknown_head_init_is_refused():
    with pytest.raises(ValueError, match="Unknown head_init 'xavier'"):
        tiny_config(head_init="xavier")


def test_fsdp_wrap_list_leaves_embedding_blocks_to_the_root_unit():
    # accelerate's FSDP2 wraps every `_no_split_modules` class, then shards get_input_embeddings() on its own: the
    # encoder's word embeddings must not sit inside an already wrapped BertEmbeddings/ModernBertEmbeddings.
    for encoder in ("bert", "modernbert"):
        model = tiny_model(encoder=encoder)
        assert not any(name.endswith("Embeddings") for name in model._no_split_modules), model._no_split_modules
        assert {"GPT2Block", "LatentSpacePrefixAdapter"} <= set(model._no_split_modules)


def test_a_model_whose_class_fsdp_swapped_saves_as_its_own_class(tmp_path):
    # FSDP2 turns the model into a subclass defined in torch; a checkpoint saved from it must still name and ship
    # this repository's code, or it would not load with trust_remote_code=True from the Hub.
    from tests.fsdp_like_wrapper import ShardedModule, fully_shard_like

    model = fully_shard_like(tiny_model())
    model.save_pretrained(tmp_path)
    assert isinstance(model, ShardedModule)  # the wrapper's class is back after saving
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForSeq2SeqLM"] == "modeling_latent_space.LatentSpaceForConditionalGeneration"
    assert (tmp_path / "modeling_latent_space.py").is_file()
    assert not (tmp_path / "fsdp_like_wrapper.py").exists()
    reloaded = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor)
