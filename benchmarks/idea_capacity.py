#!/usr/bin/env python
"""
How much a pre-trained idea space carries: autoencoding checkpoints (recipes/offline/pretrain.yaml) regenerate
held-out chat windows from their own latents, by window length and by number of idea vectors.

    python benchmarks/idea_capacity.py outputs/offline-pretrain [more checkpoints ...] \
        --file data/chitchat/heldout.jsonl --lengths 32 64 128 256 --output benchmarks/results/idea_capacity.json

Each window is cut to its first L decoder tokens (windows shorter than L are skipped, so every row of a length
holds exactly L tokens). Per checkpoint and length: teacher-forced exact-match token accuracy, ROUGE-L of the greedy
regeneration against the window, and speaker-name recall (share of the window's speakers named in the regeneration).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.speakers import speaker_recall  # noqa: E402
from modeling import LatentSpaceProcessor  # noqa: E402
from training.evaluation import rouge_scores  # noqa: E402


def cut_windows(texts: list[str], processor: LatentSpaceProcessor, length: int, limit: int) -> list[str]:
    """The first `length` decoder tokens of each window long enough, as text (at most `limit` windows)."""
    tokenizer = processor.decoder_tokenizer
    cut = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) >= length:
            cut.append(tokenizer.decode(ids[:length]))
        if len(cut) == limit:
            break
    return cut


@torch.no_grad()
def measure(model, processor: LatentSpaceProcessor, texts: list[str], length: int, batch_size: int) -> dict:
    """Token accuracy under teacher forcing, then greedy regeneration scored by ROUGE-L and speaker recall."""
    device = next(model.parameters()).device
    tokenizer = processor.decoder_tokenizer
    correct = total = 0
    regenerated: list[str] = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        inputs = processor(batch, max_source_length=length + 16, padding=True, return_tensors="pt").to(device)
        targets = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in batch]
        width = max(map(len, targets))
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, ids in enumerate(targets):
            labels[row, : len(ids)] = torch.tensor(ids)
        labels = labels.to(device)
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels).logits
        real = labels != -100
        correct += int(((logits.argmax(-1) == labels) & real).sum())
        total += int(real.sum())
        output = model.generate(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], max_new_tokens=length + 8
        )
        regenerated.extend(processor.batch_decode(output))
    rouge = rouge_scores(regenerated, texts)
    return {
        "length": length,
        "windows": len(texts),
        "token_accuracy": round(100 * correct / max(total, 1), 2),
        "rougeL": rouge["rougeL"],
        "speaker_recall": round(
            100 * sum(speaker_recall(r, t) for r, t in zip(regenerated, texts, strict=True)) / len(texts), 2
        ),
        "example": {"window": texts[0], "regenerated": regenerated[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="Autoencoding checkpoints (folders).")
    parser.add_argument("--file", required=True, help="Held-out windows (JSONL with a dialogue column).")
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--max_samples", type=int, default=200, help="Windows per length.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--output", help="Where to write the JSON result.")
    args = parser.parse_args()
    missing = [p for p in [args.file, *args.checkpoints] if not Path(p).exists()]
    if missing:
        sys.exit(f"Not found: {', '.join(missing)}")
    if any(length < 1 for length in args.lengths):
        sys.exit("--lengths must be positive.")

    texts = [json.loads(line)["dialogue"] for line in Path(args.file).read_text().splitlines() if line.strip()]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = []
    for checkpoint in args.checkpoints:
        model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).to(device).eval()
        processor = LatentSpaceProcessor.from_pretrained(checkpoint)
        ideas = model.config.num_idea_vectors
        for length in tqdm(args.lengths, desc=f"{Path(checkpoint).name} ({ideas} ideas)"):
            windows = cut_windows(texts, processor, length, args.max_samples)
            if not windows:
                continue
            start = time.perf_counter()
            row = measure(model, processor, windows, length, args.batch_size)
            row.update(
                checkpoint=checkpoint,
                num_idea_vectors=ideas,
                pooling=model.config.pooling,
                seconds=round(time.perf_counter() - start, 1),
            )
            results.append(row)
            print(
                f"{Path(checkpoint).name:<24} ideas {ideas:>3}  L {length:>4}  windows {row['windows']:>4}  "
                f"token acc {row['token_accuracy']:6.2f}  R-L {row['rougeL']:6.2f}  speakers {row['speaker_recall']:6.2f}"
            )
        del model
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
