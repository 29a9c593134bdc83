"""
A cache of a frozen encoder's outputs, computed once before training and replayed every epoch.

With `mean` or `cls` pooling the cache keeps only the pooled vector per example (stored as a length-1 sequence, which
pools to itself); with `attention` pooling it keeps the token states, since the pooling itself is trained.

With a `cache_dir` the states are also kept on disk, under a key made of everything they depend on (the encoder's
weights, the tokenized dialogues, the pooling, the layer read and the autocast), so the next stage of a multi-stage
recipe on the same data and encoder loads them instead of encoding again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from data_collators import DataCollatorForLatentPrefix
from data_collators.data_collator_latent_prefix import bucket_length

logger = logging.getLogger(__name__)


class CachedEncoderDataset(TorchDataset):
    """The tokenized dataset, each example carrying its cached `encoder_hidden_states` ([length, hidden])."""

    def __init__(self, dataset, states: list[torch.Tensor]):
        self.dataset, self.states = dataset, states

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "encoder_hidden_states": self.states[index]}


@dataclass
class DataCollatorWithEncoderCache:
    """Pads cached encoder states (and their mask) and lets the wrapped collator build the labels; batches without
    cached states (evaluation) go to the wrapped collator unchanged."""

    collator: DataCollatorForLatentPrefix
    # Token states (attention pooling) vary in length and take the collator's source buckets; pooled vectors do not.
    bucket_states: bool = False

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not all("encoder_hidden_states" in f for f in features):
            return self.collator(features)  # evaluation and prediction batches run the encoder as usual
        batch = self.collator([{k: v for k, v in f.items() if k != "encoder_hidden_states"} for f in features])
        states = [f["encoder_hidden_states"] for f in features]
        length = max(s.shape[0] for s in states)
        if self.bucket_states:
            length = bucket_length(length, self.collator.source_buckets, what="dialogue")
        padded = states[0].new_zeros((len(states), length, states[0].shape[-1]))
        mask = torch.zeros((len(states), length), dtype=torch.long)
        for row, s in enumerate(states):
            padded[row, : s.shape[0]] = s
            mask[row, : s.shape[0]] = 1
        batch.pop("input_ids")
        batch.update({"encoder_hidden_states": padded, "attention_mask": mask})
        return batch


def _autocast(training_args):
    device_type = training_args.device.type
    if training_args.fp16:
        return torch.autocast(device_type, dtype=torch.float16)
    if training_args.bf16:
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def compute_encoder_cache(model, dataset, collator, training_args, batch_size: int = 64) -> list[torch.Tensor]:
    """Runs the frozen encoder once over the dataset, under the same autocast as training; states kept on CPU."""
    device = training_args.device
    was_training = model.training
    model.to(device).eval()
    keep_tokens = model.config.pooling == "attention"
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator)
    states: list[torch.Tensor] = []
    for batch in tqdm(loader, desc="Caching frozen encoder outputs", disable=not training_args.should_log):
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        with _autocast(training_args):
            hidden = model.encoder_token_states(ids, mask)
        if keep_tokens:
            states.extend(h[: int(m.sum())].cpu() for h, m in zip(hidden, mask, strict=True))
        else:
            # Pooling the pooled vectors again gives them back (one token per mean or segment), so keep only those.
            pooled = model.pooler(hidden.float(), mask)
            states.extend(p.cpu() for p in pooled)
    model.train(was_training)
    return states


def cache_key(model, dataset, training_args) -> str:
    """A digest of everything the cached states depend on: equal keys, equal states."""
    digest = hashlib.sha256()
    config = model.config
    settings = {
        "pooling": config.pooling,
        "num_idea_vectors": config.num_idea_vectors,
        "encoder_layer": config.encoder_layer,
        "encoder": type(model.encoder).__name__,  # its weights, hashed below, say which one
        "autocast": "fp16" if training_args.fp16 else "bf16" if training_args.bf16 else "none",
        "device": training_args.device.type,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in model.encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for row in dataset:
        digest.update(json.dumps([row["input_ids"], row.get("attention_mask")]).encode())
    return digest.hexdigest()[:24]


def load_or_compute_encoder_cache(
    model, dataset, collator, training_args, cache_dir: str | None
) -> list[torch.Tensor]:
    """`compute_encoder_cache`, read from / written to `cache_dir` when one is given (written whole, then renamed)."""
    if cache_dir is None:
        return compute_encoder_cache(model, dataset, collator, training_args)
    path = Path(cache_dir) / f"encoder-states-{cache_key(model, dataset, training_args)}.pt"
    if path.is_file():
        logger.info(f"Encoder outputs of these {len(dataset)} examples read from {path}.")
        return torch.load(path, weights_only=True)
    states = compute_encoder_cache(model, dataset, collator, training_args)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(states, partial)
    partial.replace(path)
    logger.info(f"Encoder outputs kept in {path} for later runs on the same data and encoder.")
    return states


def attach_feature_cache(
    model, dataset, collator: DataCollatorForLatentPrefix, training_args, cache_dir: str | None = None
):
    """Returns (cached dataset, collator) for the Trainer; refuses when the encoder is not frozen."""
    if model.config.pooling == "memory":
        raise ValueError(
            "use_feature_cache cannot serve `memory` pooling: the encoder reads trained memory embeddings, so its "
            "outputs change during training. Turn the cache off."
        )
    if any(p.requires_grad for p in model.encoder.parameters()):
        raise ValueError(
            "use_feature_cache needs a frozen encoder without LoRA: its outputs would change during training. "
            "Set freeze_encoder: true and drop encoder_lora, or turn the cache off."
        )
    states = load_or_compute_encoder_cache(model, dataset, collator, training_args, cache_dir)
    logger.info(
        f"Cached encoder outputs for {len(states)} training examples "
        f"({sum(s.numel() for s in states) * states[0].element_size() / 2**20:.1f} MiB)."
    )
    return CachedEncoderDataset(dataset, states), DataCollatorWithEncoderCache(
        collator, bucket_states=model.config.pooling == "attention"
    )
