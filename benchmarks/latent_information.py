#!/usr/bin/env python
"""
How much of a dialogue reaches the decoder through a trained model's idea vector, on rows it trained on and on rows
it never saw? Scores each reference summary (mean cross-entropy a token) three ways:

- own: with the latent of its own dialogue;
- other: with the latent of another dialogue of the same file (latents shifted by one row);
- mean: with the mean latent of the file (an "average dialogue").

    python benchmarks/latent_information.py outputs/offline-frozen \
        --file train=../shared/data/samsum/train.jsonl --file validation=../shared/data/samsum/validation.jsonl

`other - own` is what the latent tells the decoder about this dialogue in particular. A large gap on training rows
and a small one on validation rows means the heads memorize their training dialogues instead of learning a mapping
that transfers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_collators import DataCollatorForLatentPrefix  # noqa: E402
from inference import LatentSpaceInference  # noqa: E402


@torch.no_grad()
def score_file(lsi: LatentSpaceInference, path: Path, rows: int, batch_size: int, max_target_length: int) -> dict:
    with open(path) as f:
        records = [json.loads(line) for line in f][:rows]
    model, processor = lsi.model, lsi.processor
    collator = DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer)
    latents, labels = [], []
    for start in tqdm(range(0, len(records), batch_size), desc=f"Encoding {path.name}"):
        chunk = records[start : start + batch_size]
        latents.append(lsi.get_latent([r["dialogue"] for r in chunk]).reshape(len(chunk), -1))
        labels.extend(processor.tokenize_targets([r["summary"] for r in chunk], max_target_length))
    latent = torch.cat(latents)
    variants = {"own": latent, "other": latent.roll(1, dims=0), "mean": latent.mean(0, keepdim=True).expand_as(latent)}
    totals = {name: 0.0 for name in variants}
    tokens = 0
    for start in range(0, len(records), batch_size):
        batch = collator([{"input_ids": [0], "labels": ids} for ids in labels[start : start + batch_size]])
        target = batch["labels"].to(lsi.device)
        count = int((target != -100).sum())
        tokens += count
        for name, z in variants.items():
            z_batch = z[start : start + batch_size].to(lsi.device)
            totals[name] += model(labels=target, latent=z_batch).loss.item() * count
    result = {name: round(total / tokens, 4) for name, total in totals.items()}
    result.update(rows=len(records), target_tokens=tokens, other_minus_own=round(result["other"] - result["own"], 4))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_name_or_path")
    parser.add_argument("--file", action="append", required=True, help="NAME=PATH of a JSON Lines file (repeatable).")
    parser.add_argument("--rows", type=int, default=200, help="First rows of each file to score.")
    parser.add_argument("--batch_size", type=int, default=25)
    parser.add_argument("--max_target_length", type=int, default=64)
    parser.add_argument("--output", help="Write the numbers to this JSON file too.")
    args = parser.parse_args()

    files = {}
    for item in args.file:
        name, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            sys.exit(f"--file {item!r}: give NAME=PATH of an existing file (the shared data is in ../shared/data).")
        files[name] = Path(path)
    lsi = LatentSpaceInference.from_pretrained(args.model_name_or_path)
    lsi.model.eval()
    results = {"model": args.model_name_or_path, "unit": "mean cross-entropy per summary token (nats)"}
    for name, path in files.items():
        results[name] = score_file(lsi, path, args.rows, args.batch_size, args.max_target_length)
        print(f"{name:>12}: " + ", ".join(f"{k} {v}" for k, v in results[name].items()), flush=True)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
