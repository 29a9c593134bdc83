"""Several idea vectors (segments pooling), a fixed decoder prompt around the soft prompt, the pooled encoder layer."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from modeling import LatentSpaceConfig
from tests.tiny_backbones import (
    PAIRS,
    tiny_batch,
    tiny_config,
    tiny_decoder_config,
    tiny_encoder_config,
    tiny_model,
    tiny_processor,
)
from training.model_setup import decoder_prompt_ids

HIDDEN = tiny_encoder_config("bert").hidden_size


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    return tiny_batch()


def test_segments_pooling_means_consecutive_stretches_of_the_real_tokens():
    model = tiny_model(pooling="segments", num_idea_vectors=3, prefix_len=6).eval()
    states = torch.randn(2, 6, HIDDEN)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    pooled = model.pooler(states, mask)
    assert pooled.shape == (2, 3, HIDDEN)
    full, padded = states[0], states[1]
    torch.testing.assert_close(pooled[0], torch.stack([full[0:2].mean(0), full[2:4].mean(0), full[4:6].mean(0)]))
    # 4 real tokens in 3 stretches: token i goes to stretch floor(3 * i / 4) -> [0, 1], [2], [3]; padding is ignored.
    torch.testing.assert_close(pooled[1], torch.stack([padded[0:2].mean(0), padded[2], padded[3]]))


def test_several_idea_vectors_make_one_flat_latent_that_generate_decodes(batch):
    model = tiny_model(pooling="segments", num_idea_vectors=2, prefix_len=4).eval()
    assert model.config.latent_size == 2 * model.config.latent_dim
    latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
    assert latent.shape == (len(PAIRS), model.config.latent_size)
    assert model.prefix_embeddings(latent).shape == (len(PAIRS), 4 + 1, model.config.decoder_hidden_size)
    from_text = model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=5)
    torch.testing.assert_close(model.generate(latent=latent, max_new_tokens=5), from_text)
    with pytest.raises(ValueError, match=f"batch_size, {model.config.latent_size}"):
        model.generate(latent=latent[:, : model.config.latent_dim])


def test_each_idea_vector_writes_only_its_own_soft_prompt_vectors(batch):
    model = tiny_model(pooling="segments", num_idea_vectors=2, prefix_len=4).eval()
    latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
    edited = latent.clone()
    edited[:, model.config.latent_dim :] += 1.0  # change the second idea only
    before, after = model.prefix_embeddings(latent), model.prefix_embeddings(edited)
    torch.testing.assert_close(after[:, :2], before[:, :2])  # the first idea's two vectors
    assert not torch.allclose(after[:, 2:4], before[:, 2:4])


def test_fixed_prompt_tokens_surround_the_soft_prompt(batch):
    model = tiny_model(prompt_prefix_ids=[5, 6], prompt_suffix_ids=[7]).eval()
    latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
    prompt = model.prefix_embeddings(latent)
    embed = model.decoder.get_input_embeddings()
    assert prompt.shape[1] == 2 + model.config.prefix_len + 1  # the suffix ends the prompt: no start token after it
    torch.testing.assert_close(prompt[0, :2], embed(torch.tensor([5, 6])))
    torch.testing.assert_close(prompt[0, -1], embed(torch.tensor(7)))
    torch.testing.assert_close(prompt[:, 2:-1], model.prefix_adapter(latent))
    generated = model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=4)
    assert generated.shape == (len(PAIRS), 4)


def test_save_and_reload_keep_ideas_prompt_and_encoder_layer(tmp_path, batch):
    model = tiny_model(
        pooling="segments",
        num_idea_vectors=2,
        prefix_len=4,
        prompt_prefix_ids=[5],
        prompt_suffix_ids=[7, 8],
        encoder_layer=1,
    ).eval()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert (reloaded.config.num_idea_vectors, reloaded.config.prompt_suffix_ids, reloaded.config.encoder_layer) == (
        2,
        [7, 8],
        1,
    )
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)


def test_encoder_layer_chooses_which_hidden_states_are_pooled(batch):
    ids, mask = batch["input_ids"], batch["attention_mask"]
    embeddings_model = tiny_model(encoder_layer=0).eval()
    with torch.no_grad():
        hidden_states = embeddings_model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    torch.testing.assert_close(embeddings_model.encoder_token_states(ids, mask), hidden_states.hidden_states[0])
    torch.testing.assert_close(tiny_model().eval().encoder_token_states(ids, mask), hidden_states.last_hidden_state)


def test_cached_pooled_segments_replay_to_the_same_loss(batch):
    """The feature cache keeps only the pooled vectors of mean/segments pooling; pooling them again is lossless."""
    model = tiny_model(pooling="segments", num_idea_vectors=2, prefix_len=4).eval()
    with torch.no_grad():
        states = model.encoder_token_states(batch["input_ids"], batch["attention_mask"])
        pooled = model.pooler(states, batch["attention_mask"])
        replayed = model(labels=batch["labels"], encoder_hidden_states=pooled)
    torch.testing.assert_close(replayed.loss, model(**batch).loss)


def test_a_loaded_checkpoint_keeps_its_backbones_frozen_and_lora_trainable(tmp_path):
    model = tiny_model(decoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["c_attn"]})
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    trainable = {name for name, param in reloaded.named_parameters() if param.requires_grad}
    assert trainable == {name for name, param in model.named_parameters() if param.requires_grad}
    assert not any(name.startswith("encoder.") for name in trainable)
    assert all("lora_" in name for name in trainable if name.startswith("decoder."))


def test_decoder_prompt_template_splits_at_the_idea_slot():
    tokenizer = tiny_processor().decoder_tokenizer
    ids = decoder_prompt_ids("summarize: {idea} summary:", tokenizer)
    assert ids["prompt_prefix_ids"] == tokenizer("summarize: ", add_special_tokens=False)["input_ids"]
    assert ids["prompt_suffix_ids"] == tokenizer(" summary:", add_special_tokens=False)["input_ids"]
    assert decoder_prompt_ids("{idea}", tokenizer) == {"prompt_prefix_ids": None, "prompt_suffix_ids": None}
    with pytest.raises(ValueError, match=r"\{idea\} exactly once"):
        decoder_prompt_ids("no slot here", tokenizer)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"num_idea_vectors": 2, "pooling": "mean", "prefix_len": 4},
            "set pooling to 'segments', 'attention' or 'memory'",
        ),
        ({"num_idea_vectors": 2, "pooling": "segments", "prefix_len": 5}, "multiple of num_idea_vectors"),
        ({"num_idea_vectors": 2, "pooling": "attention", "pooling_num_queries": 3, "prefix_len": 4}, "one query"),
        ({"encoder_layer": 9}, "`encoder_layer` must be between"),
        ({"prompt_prefix_ids": ["a"]}, "list of decoder token ids"),
    ],
)
def test_bad_idea_and_prompt_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**kwargs)


def test_attention_pooling_with_several_ideas_uses_one_query_per_idea():
    config = LatentSpaceConfig.from_encoder_decoder_configs(
        tiny_encoder_config("bert"), tiny_decoder_config("gpt2"), pooling="attention", num_idea_vectors=3, prefix_len=6
    )
    assert (config.pooled_vectors, config.pooled_size, config.latent_size) == (3, HIDDEN, 3 * config.latent_dim)
