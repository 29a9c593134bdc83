"""
The idea's direct routes into the decoder, beside the soft prompt: `latent_to_embeddings` (added to every token
embedding the decoder reads, as Optimus) and `latent_to_logits` (added to its last hidden state before the LM head).
"""

from __future__ import annotations

import pytest
import torch

from data_collators import DataCollatorForLatentPrefix
from modeling import LatentSpaceForConditionalGeneration
from tests.test_modeling_latent_space import _assert_causal_and_consistent_with_generate
from tests.tiny_backbones import PAIRS, tiny_model, tiny_processor

ROUTES = {"latent_to_embeddings": "latent_embedding", "latent_to_logits": "latent_logits"}


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    processor = tiny_processor()
    encoded = processor([d for d, _ in PAIRS], [s for _, s in PAIRS])
    features = [{key: encoded[key][i] for key in encoded} for i in range(len(PAIRS))]
    return DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer)(features)


def _randomised(model: LatentSpaceForConditionalGeneration, route: str) -> LatentSpaceForConditionalGeneration:
    with torch.no_grad():
        getattr(model, ROUTES[route]).weight.normal_(std=0.5)
    return model.eval()


@pytest.mark.parametrize("route", ROUTES)
def test_a_route_starts_at_zero_so_the_model_equals_the_plain_one(batch, route):
    plain = tiny_model(decoder="llama").eval()
    routed = tiny_model(decoder="llama", **{route: True}).eval()
    assert getattr(plain, ROUTES[route]) is None
    assert not getattr(routed, ROUTES[route]).weight.any()
    missing, unexpected = routed.load_state_dict(plain.state_dict(), strict=False)
    assert missing == [f"{ROUTES[route]}.weight"] and not unexpected
    torch.testing.assert_close(routed(**batch).logits, plain(**batch).logits)


@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
@pytest.mark.parametrize("route", ROUTES)
def test_generation_reads_the_idea_as_teacher_forcing_does(batch, route, decoder):
    model = _randomised(tiny_model(decoder=decoder, **{route: True}), route)
    ids = torch.tensor([[3, 4, 5]])
    decoder_alone = model.decoder(ids).logits
    _assert_causal_and_consistent_with_generate(model, batch)
    # The hooks are gone after generation: the decoder is its own again.
    torch.testing.assert_close(model.decoder(ids).logits, decoder_alone)


@pytest.mark.parametrize("route", ROUTES)
def test_a_route_changes_what_is_written_and_beams_see_their_own_row(batch, route):
    model = _randomised(tiny_model(decoder="llama", **{route: True}), route)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    latent = model.reason(model.encode(ids, mask))
    one_by_one = [model.generate(latent=latent[i : i + 1], num_beams=3, max_new_tokens=6) for i in range(len(latent))]
    together = model.generate(latent=latent, num_beams=3, max_new_tokens=6)
    for i, alone in enumerate(one_by_one):
        assert together[i, : alone.shape[1]].tolist() == alone[0].tolist()
    logits = model(latent=latent, labels=together).logits
    with torch.no_grad():
        getattr(model, ROUTES[route]).weight.zero_()
    assert not torch.allclose(model(latent=latent, labels=together).logits, logits)


def test_both_routes_train_and_survive_save_and_reload(tmp_path, batch):
    model = tiny_model(decoder="llama", latent_to_embeddings=True, latent_to_logits=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert model.latent_embedding.weight.any() and model.latent_logits.weight.any()
    model.eval().save_pretrained(tmp_path)
    reloaded = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.latent_to_embeddings and reloaded.config.latent_to_logits
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)
    torch.testing.assert_close(reloaded.generate(**batch, max_new_tokens=5), model.generate(**batch, max_new_tokens=5))
