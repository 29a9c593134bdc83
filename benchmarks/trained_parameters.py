#!/usr/bin/env python
"""
Moves a trained checkpoint between machines without its frozen backbones: `export` writes only what trained (heads,
memory embeddings, LoRA adapters) in fp16 shards plus the config and tokenizers; `rebuild` puts them back on the
local copies of the backbones and saves an ordinary full checkpoint.

    python benchmarks/trained_parameters.py export outputs/offline-summarize /tmp/lean --max_shard_mb 15
    python benchmarks/trained_parameters.py rebuild /tmp/lean outputs/offline-summarize

Rebuilding needs the backbones the config names (e.g. `backbones/SmolLM2-135M-Instruct`) at the same paths.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSeq2SeqLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration, LatentSpaceProcessor  # noqa: E402
from training.model_setup import HEAD_FIELDS, LOSS_FIELDS  # noqa: E402

EXTRA_FIELDS = ("prompt_prefix_ids", "prompt_suffix_ids", "use_decoder_start_token")


def export(checkpoint: Path, destination: Path, max_shard_mb: float) -> None:
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint)
    trained = {name: p.detach().half().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    destination.mkdir(parents=True, exist_ok=True)
    shard, shard_bytes, index = {}, 0, 0
    for name, tensor in trained.items():
        size = tensor.numel() * tensor.element_size()
        if shard and shard_bytes + size > max_shard_mb * 2**20:
            save_file(shard, destination / f"trained-{index}.safetensors")
            shard, shard_bytes, index = {}, 0, index + 1
        shard[name], shard_bytes = tensor, shard_bytes + size
    save_file(shard, destination / f"trained-{index}.safetensors")
    model.config.save_pretrained(destination)
    model.generation_config.save_pretrained(destination)
    LatentSpaceProcessor.from_pretrained(checkpoint).save_pretrained(destination)
    count = sum(t.numel() for t in trained.values())
    print(f"Exported {len(trained)} trained tensors ({count:,} values) in {index + 1} shard(s) to {destination}")


def rebuild(lean: Path, destination: Path) -> None:
    config = LatentSpaceConfig.from_pretrained(lean)
    fields = {name: getattr(config, name) for name in (*HEAD_FIELDS, *LOSS_FIELDS, *EXTRA_FIELDS)}
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
        config.encoder_name_or_path, config.decoder_name_or_path, **fields
    )
    trained = {}
    for shard in sorted(lean.glob("trained-*.safetensors")):
        trained.update(load_file(shard))
    own = dict(model.named_parameters())
    unknown = sorted(set(trained) - set(own))
    if unknown:
        raise ValueError(f"{len(unknown)} exported tensors have no place in the rebuilt model, e.g. {unknown[:3]}")
    with torch.no_grad():
        for name, tensor in trained.items():
            own[name].copy_(tensor.to(own[name].dtype))
    untouched = sorted(n for n, p in model.named_parameters() if p.requires_grad and n not in trained)
    if untouched:
        raise ValueError(f"{len(untouched)} trainable tensors were not exported, e.g. {untouched[:3]}")
    model.generation_config = model.generation_config.from_pretrained(lean)
    model.save_pretrained(destination)
    LatentSpaceProcessor.from_pretrained(lean).save_pretrained(destination)
    for extra in ("eval_results.json", "train_results.json", "README.md"):
        if (lean / extra).is_file():
            shutil.copy(lean / extra, destination / extra)
    print(f"Rebuilt {destination} from {lean} ({len(trained)} trained tensors); {json.dumps(fields)[:200]}...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="Write the trained parameters of a checkpoint.")
    out.add_argument("checkpoint", type=Path)
    out.add_argument("destination", type=Path)
    out.add_argument("--max_shard_mb", type=float, default=15.0)
    back = commands.add_parser("rebuild", help="Rebuild a full checkpoint from exported parameters.")
    back.add_argument("lean", type=Path)
    back.add_argument("destination", type=Path)
    args = parser.parse_args()
    if args.command == "export":
        export(args.checkpoint, args.destination, args.max_shard_mb)
    else:
        rebuild(args.lean, args.destination)


if __name__ == "__main__":
    main()
