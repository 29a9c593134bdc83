#!/usr/bin/env python
"""
Does information flow through the idea vector? Train the heads to memorize a few training pairs, then score the same
summaries with each dialogue's own latent and with another dialogue's latent (shifted by one).

    python benchmarks/memorization_check.py --encoder backbones/all-MiniLM-L6-v2 \
        --decoder backbones/SmolLM2-135M-Instruct --train_file ../shared/data/samsum/train.jsonl --rows 32

If the soft prompt carried no dialogue-specific information, the two losses would stay equal; a model that memorizes
through its latent drives the first towards 0 while the second rises. A clear split rules out a broken latent path
(a cache, mask or shape bug) when validation ROUGE is poor: the limit is then generalization, not plumbing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_collators import DataCollatorForLatentPrefix  # noqa: E402
from modeling import LatentSpaceForConditionalGeneration, LatentSpaceProcessor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--decoder", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--config", default="{}", help='Config fields as JSON, e.g. \'{"pooling": "attention"}\'.')
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not Path(args.train_file).is_file():
        sys.exit(f"{args.train_file} does not exist (the shared data lives in ../shared/data beside the repo).")

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = {"head_dropout": 0.0, **json.loads(args.config)}
    model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(args.encoder, args.decoder, **config)
    model.to(device)
    processor = LatentSpaceProcessor.from_encoder_decoder_pretrained(args.encoder, args.decoder)
    with open(args.train_file) as f:
        rows = [json.loads(line) for line in f][: args.rows]
    features = [
        {
            **processor.encoder_tokenizer(row["dialogue"], truncation=True, max_length=256),
            "labels": processor.tokenize_targets([row["summary"]], 64)[0],
        }
        for row in rows
    ]
    collator = DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer)
    batch = {key: value.to(device) for key, value in collator(features).items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate)

    print(f"{'step':>5} {'train loss':>11} {'own latent':>11} {'other latent':>13}")
    for step in range(args.steps + 1):
        model.train()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 100 == 0:
            model.eval()
            with torch.no_grad():
                latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
                own = model(labels=batch["labels"], latent=latent).loss.item()
                other = model(labels=batch["labels"], latent=latent.roll(1, dims=0)).loss.item()
            print(f"{step:>5} {loss.item():>11.3f} {own:>11.3f} {other:>13.3f}", flush=True)
    generated = model.generate(batch["input_ids"][:3], batch["attention_mask"][:3], max_new_tokens=40)
    for row, text in zip(rows[:3], processor.batch_decode(generated, skip_special_tokens=True), strict=True):
        print(f"reference: {row['summary']}\ngenerated: {text}")


if __name__ == "__main__":
    main()
