"""
Are a dialogue's speakers in the pooled encoder features? A linear multi-label probe over the demo's 50 names, trained
full-batch on the segment means of `data/demo/train.jsonl` and scored on `validation.jsonl`: the share of the
probe's top two names that are speakers, and of dialogues with both speakers in its top two. It separates what the
features hold from what the model's heads learn to read out of them (BENCHMARKS, "The CPU demo").

    python benchmarks/speaker_probe.py --layers 0 -1 --segments 4 --steps 20 100
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def speakers(dialogue: str) -> set[str]:
    return {line.split(":", 1)[0] for line in dialogue.split("\n") if ":" in line}


def encode(path: Path, tokenizer, encoder, names: list[str], max_length: int):
    """Every hidden state of the encoder for each dialogue, its attention mask, and the speakers as a 0/1 matrix."""
    rows = [json.loads(line) for line in path.open()]
    batch = tokenizer([r["dialogue"] for r in rows], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")  # fmt: skip
    states = []
    with torch.no_grad():
        for start in range(0, len(rows), 100):
            window = slice(start, start + 100)
            out = encoder(input_ids=batch["input_ids"][window], attention_mask=batch["attention_mask"][window],
                          output_hidden_states=True)  # fmt: skip
            states.append(torch.stack(out.hidden_states))
    labels = torch.zeros(len(rows), len(names))
    for row, example in enumerate(rows):
        for name in speakers(example["dialogue"]):
            labels[row, names.index(name)] = 1.0
    return torch.cat(states, 1), batch["attention_mask"], labels


def segment_means(states: torch.Tensor, mask: torch.Tensor, segments: int) -> torch.Tensor:
    """The real tokens cut into `segments` equal stretches, each mean-pooled, as `pooling: segments` does."""
    pooled = []
    for row, length in enumerate(mask.sum(1).tolist()):
        bounds = [(s * length // segments, max((s + 1) * length // segments, s * length // segments + 1))
                  for s in range(segments)]  # fmt: skip
        pooled.append(torch.stack([states[row, a:b].mean(0) for a, b in bounds]))
    return torch.stack(pooled)  # (rows, segments, hidden)


def probe(train_x, train_y, valid_x, valid_y, steps: int, lr: float) -> tuple[float, float]:
    torch.manual_seed(0)
    linear = torch.nn.Linear(train_x.shape[1], train_y.shape[1])
    optimizer = torch.optim.AdamW(linear.parameters(), lr=lr, weight_decay=0.05)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(linear(train_x), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        hits = valid_y.gather(1, linear(valid_x).topk(2, -1).indices)
    return hits.mean().item(), (hits.sum(1) == 2).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="backbones/all-MiniLM-L6-v2")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, -1], help="hidden_states index (0: embeddings).")
    parser.add_argument("--segments", type=int, nargs="+", default=[4])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 100], help="Full-batch AdamW steps.")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max_length", type=int, default=128)
    args = parser.parse_args()
    sys.path.insert(0, str(DEMO))
    from generate_demo_data import PEOPLE

    names = [person.name for person in PEOPLE]
    tokenizer, encoder = AutoTokenizer.from_pretrained(args.encoder), AutoModel.from_pretrained(args.encoder).eval()
    train = encode(DEMO / "train.jsonl", tokenizer, encoder, names, args.max_length)
    valid = encode(DEMO / "validation.jsonl", tokenizer, encoder, names, args.max_length)
    print("layer | segments | features | steps | speakers in top 2 | both speakers in top 2")
    for layer, segments in itertools.product(args.layers, args.segments):
        pooled = [segment_means(split[0][layer], split[1], segments) for split in (train, valid)]
        # "layernorm": each pooled vector normalised (pooled_layer_norm); "+ standardised": then each feature scaled
        # by its training-set mean and spread, as pooled_batch_norm does with batch statistics
        normed = [F.layer_norm(x, x.shape[-1:]).flatten(1) for x in pooled]
        mean, std = normed[0].mean(0), normed[0].std(0) + 1e-5
        variants = {"layernorm": normed, "layernorm + standardised": [(x - mean) / std for x in normed]}
        for (label, (train_x, valid_x)), steps in itertools.product(variants.items(), args.steps):
            share, both = probe(train_x, train[2], valid_x, valid[2], steps, args.lr)
            print(f"{layer} | {segments} | {label} | {steps} | {share:.1%} | {both:.1%}", flush=True)


if __name__ == "__main__":
    main()
