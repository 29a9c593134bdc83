"""`pooled_batch_norm`: each pooled feature standardised over the batch before the compression MLP."""

from __future__ import annotations

import pytest
import torch

from modeling import LatentSpaceForConditionalGeneration
from tests.tiny_backbones import tiny_batch, tiny_model


def _standardized_input(model: LatentSpaceForConditionalGeneration, batch: dict) -> torch.Tensor:
    seen = []
    handle = model.compression.mlp.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        model(**batch)
    finally:
        handle.remove()
    return seen[0]


def test_off_by_default_and_on_it_standardises_each_feature_over_the_batch():
    assert tiny_model().compression.standardize is None
    batch = tiny_batch()
    model = tiny_model(pooling="segments", num_idea_vectors=2, pooled_batch_norm=True).train()
    features = _standardized_input(model, batch).flatten(0, -2)  # every pooled vector of the batch
    torch.testing.assert_close(features.mean(0), torch.zeros(features.shape[1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.var(0, unbiased=False), torch.ones(features.shape[1]), atol=1e-3, rtol=0)


def test_running_statistics_are_learned_used_at_inference_and_saved(tmp_path):
    batch = tiny_batch()
    model = tiny_model(decoder="llama", pooling="segments", num_idea_vectors=2, pooled_batch_norm=True)
    standardize = model.compression.standardize
    assert not standardize.running_mean.any()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert standardize.running_mean.any() and int(standardize.num_batches_tracked) == 3
    model.eval()
    # At inference a dialogue is standardised with the running statistics, not by the batch it comes in.
    alone = model(**{key: value[:1] for key, value in batch.items()}).logits
    torch.testing.assert_close(model(**batch).logits[:1], alone)
    model.save_pretrained(tmp_path)
    reloaded = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded.compression.standardize.running_var, standardize.running_var)
    torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits)
    torch.testing.assert_close(reloaded.generate(**batch, max_new_tokens=5), model.generate(**batch, max_new_tokens=5))


def test_a_training_batch_of_one_pooled_vector_is_refused_with_a_clear_error():
    model = tiny_model(pooled_batch_norm=True).train()
    one_row = {key: value[:1] for key, value in tiny_batch().items()}
    with pytest.raises(ValueError, match="per_device_train_batch_size >= 2"):
        model(**one_row)
    model.eval()(**one_row)  # inference reads the running statistics: one dialogue is fine
