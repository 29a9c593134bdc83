"""
The idea's direct routes into the decoder, beside the soft prompt: `latent_to_embeddings` (added to every token
embedding the decoder reads, as Optimus) and `latent_to_logits` (added to its last hidden state before the LM head).
"""

from __future__ import annotations

import pytest
import torch

from modeling import LatentSpaceForConditionalGeneration
from tests.test_modeling_latent_space import _assert_causal_and_consistent_with_generate
from tests.tiny_backbones import tiny_batch, tiny_model

ROUTES = {"latent_to_embeddings": "latent_embedding", "latent_to_logits": "latent_logits"}


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    return tiny_batch()


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


def test_bag_of_words_loss_is_the_target_tokens_log_probability_under_the_route(batch):
    model = _randomised(
        tiny_model(decoder="llama", latent_to_logits=True, bag_of_words_loss_weight=0.5), "latent_to_logits"
    )
    plain = tiny_model(decoder="llama", latent_to_logits=True)
    plain.load_state_dict(model.state_dict())
    out, plain_out = model(**batch), plain.eval()(**batch)
    assert plain_out.bag_of_words_loss is None
    latent, labels = out.latent_out, batch["labels"]
    log_probs = (model.latent_logits(latent) @ model.decoder.lm_head.weight.T).log_softmax(-1)
    target_log_probs = [log_probs[row, labels[row][labels[row] != -100]] for row in range(len(labels))]
    expected = -torch.cat(target_log_probs).sum() / (labels != -100).sum()
    torch.testing.assert_close(out.bag_of_words_loss, expected)
    torch.testing.assert_close(out.loss, plain_out.loss + 0.5 * expected)


def test_bag_of_words_loss_falls_towards_its_floor_on_a_handful_of_pairs(batch):
    # One distribution per row cannot give every target token probability 1: the floor is the entropy of each row's
    # token counts, weighted by its number of tokens.
    labels = batch["labels"]
    floor = 0.0
    for row in labels:
        counts = torch.unique(row[row != -100], return_counts=True)[1].float()
        floor -= (counts * (counts / counts.sum()).log()).sum().item()
    floor /= (labels != -100).sum().item()
    model = tiny_model(decoder="llama", latent_to_logits=True, bag_of_words_loss_weight=1.0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(60):
        out = model(**batch)
        out.bag_of_words_loss.backward()  # the auxiliary loss alone: it trains the route and the heads under it
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.bag_of_words_loss.item())
    assert losses[-1] - floor < 0.5 * (losses[0] - floor)


def test_bag_of_words_loss_needs_the_logits_route():
    with pytest.raises(ValueError, match="latent_to_logits"):
        tiny_model(bag_of_words_loss_weight=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        tiny_model(latent_to_logits=True, bag_of_words_loss_weight=-1.0)


def test_decoder_loss_weight_zero_trains_the_route_without_running_the_decoder(batch, monkeypatch):
    model = tiny_model(decoder="llama", latent_to_logits=True, bag_of_words_loss_weight=2.0, decoder_loss_weight=0.0)

    def no_decoder_pass(*args, **kwargs):
        raise AssertionError("the decoder ran in the bag-of-words stage")

    monkeypatch.setattr(model.decoder, "forward", no_decoder_pass)
    out = model(**batch)
    assert out.logits is None
    torch.testing.assert_close(out.loss, 2.0 * out.bag_of_words_loss)
    out.loss.backward()
    assert model.latent_logits.weight.grad.abs().sum() > 0  # the route and the heads under it learn
    assert all(p.grad is None for p in model.prefix_adapter.parameters())  # the soft prompt is not built


def test_decoder_loss_weight_scales_the_summary_cross_entropy(batch):
    full = tiny_model(decoder="llama").eval()
    half = tiny_model(decoder="llama", decoder_loss_weight=0.5).eval()
    torch.testing.assert_close(half(**batch).loss, 0.5 * full(**batch).loss)


def test_a_loss_of_zero_weights_everywhere_is_refused():
    with pytest.raises(ValueError, match="nothing would be trained"):
        tiny_model(decoder_loss_weight=0.0)
    with pytest.raises(ValueError, match="decoder_loss_weight"):
        tiny_model(latent_to_logits=True, bag_of_words_loss_weight=1.0, decoder_loss_weight=-1.0)


def test_route_coverage_takes_the_routes_bias_back_from_tokens_already_written(batch):
    covered = _randomised(
        tiny_model(decoder="llama", latent_to_logits=True, latent_logits_coverage=True), "latent_to_logits"
    )
    plain = tiny_model(decoder="llama", latent_to_logits=True).eval()
    plain.load_state_dict(covered.state_dict())
    labels = batch["labels"].clone()
    labels[0, 2] = labels[0, 0]  # a token written twice is taken back once
    out = covered(**{**batch, "labels": labels})
    plain_logits = plain(**{**batch, "labels": labels}).logits
    route = covered.latent_logits(out.latent_out) @ covered.decoder.lm_head.weight.T
    expected = plain_logits.clone()
    for row in range(len(labels)):
        for t in range(labels.shape[1]):
            for token in {int(v) for v in labels[row, :t] if v != -100}:
                expected[row, t, token] -= route[row, token]
    torch.testing.assert_close(out.logits, expected)


def test_route_coverage_generates_what_teacher_forcing_scores(batch):
    model = _randomised(
        tiny_model(decoder="llama", latent_to_logits=True, latent_logits_coverage=True), "latent_to_logits"
    )
    _assert_causal_and_consistent_with_generate(model, batch)
    plain = tiny_model(decoder="llama", latent_to_logits=True).eval()
    plain.load_state_dict(model.state_dict())
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert not torch.equal(model.generate(ids, mask, max_new_tokens=8), plain.generate(ids, mask, max_new_tokens=8))


def test_route_coverage_needs_the_route_and_refuses_the_compiled_loop(batch):
    with pytest.raises(ValueError, match="latent_to_logits"):
        tiny_model(latent_logits_coverage=True)
    model = tiny_model(decoder="llama", latent_to_logits=True, latent_logits_coverage=True).eval()
    with pytest.raises(ValueError, match="logits processor"):
        model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=3, decoding="compiled")
