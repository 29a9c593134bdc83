#!/usr/bin/env python
"""
The middle stage of `make demo`: train a pre-trained checkpoint's heads on the bag-of-words loss alone, at a large
batch, from cached encoder states (no decoder pass, so about a minute on 2 CPU cores), and save the result for the
summary stage to continue from. Its motive (BENCHMARKS, "The CPU demo", session 11): a readout of the pooled features
learns a summary's names far better at batch 64 than at the demo's batch 8, and a decoder pass at batch 64 costs a
CPU 8 times the step. It prints, on the validation rows, how often the `latent_to_logits` route ranks all of a
reference summary's names (the demo's 50) above the others, before and during training.

    python scripts/bow_warmup.py outputs/demo-pretrain outputs/demo-pretrain-bow --epochs 20 --batch_size 64
    python run_summarization.py recipes/demo/demo.yaml   # continues from outputs/demo-pretrain-bow
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "data" / "demo"))

from generate_demo_data import PEOPLE  # noqa: E402
from transformers import AutoModelForSeq2SeqLM  # noqa: E402

from benchmarks.demo_names import people  # noqa: E402
from modeling import LatentSpaceProcessor  # noqa: E402

DEMO = REPO / "data" / "demo"


def read_rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (DEMO / f"{split}.jsonl").open()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="A latent-space checkpoint with the latent_to_logits route.")
    parser.add_argument("output", type=Path, help="Where to write the warmed-up checkpoint (a copy of the input).")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--max_source_length", type=int, default=128)
    parser.add_argument("--max_target_length", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.checkpoint / "config.json").is_file():
        raise SystemExit(f"{args.checkpoint} is not a checkpoint folder (no config.json).")

    torch.manual_seed(args.seed)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.checkpoint)
    if model.latent_logits is None:
        raise SystemExit(f"{args.checkpoint} has no latent_to_logits route: the bag-of-words loss reads it.")
    processor = LatentSpaceProcessor.from_pretrained(args.checkpoint)
    encoder_tokenizer, decoder_tokenizer = processor.encoder_tokenizer, processor.decoder_tokenizer
    train, valid = read_rows("train"), read_rows("validation")

    def states(rows: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = encoder_tokenizer([r["dialogue"] for r in rows], padding=True, truncation=True,
                                  max_length=args.max_source_length, return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            return model.encoder_token_states(batch["input_ids"], batch["attention_mask"]), batch["attention_mask"]

    def labels(rows: list[dict]) -> torch.Tensor:
        ids = [decoder_tokenizer(r["summary"] + decoder_tokenizer.eos_token, add_special_tokens=False)["input_ids"]
               for r in rows]  # fmt: skip
        ids = [row[: args.max_target_length] for row in ids]
        width = max(map(len, ids))
        return torch.tensor([row + [-100] * (width - len(row)) for row in ids])

    names = [person.name for person in PEOPLE]
    name_tokens = torch.tensor(
        [decoder_tokenizer(" " + name, add_special_tokens=False)["input_ids"][0] for name in names]
    )

    def route_names_right(hidden: torch.Tensor, mask: torch.Tensor, rows: list[dict]) -> float:
        """Share of rows whose reference names are exactly the route's top-k names (k = how many it names)."""
        model.eval()
        with torch.no_grad():
            shift = model.latent_shifts(model.reason(model.encode(None, mask, hidden)))[1]
            scores = (shift @ model.decoder.get_output_embeddings().weight.T)[:, name_tokens]
        right = total = 0
        for row, row_scores in zip(rows, scores, strict=True):
            wanted = {names.index(name) for name in people(row["summary"])}
            if wanted:
                total += 1
                right += set(row_scores.topk(len(wanted)).indices.tolist()) == wanted
        return right / max(total, 1)

    start = time.perf_counter()
    train_states, train_mask = states(train)
    valid_states, valid_mask = states(valid)
    train_labels = labels(train)
    print(f"encoder states cached in {time.perf_counter() - start:.0f} s; route names right before: "
          f"{route_names_right(valid_states, valid_mask, valid):.1%}", flush=True)  # fmt: skip
    heads = [
        p for name, p in model.named_parameters() if p.requires_grad and not name.startswith(("encoder.", "decoder."))
    ]
    optimizer = torch.optim.AdamW(heads, lr=args.learning_rate, weight_decay=0.01)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for index in torch.randperm(len(train), generator=generator).split(args.batch_size):
            latent = model.reason(model.encode(None, train_mask[index], train_states[index]))
            loss = model.bag_of_words_loss(latent, train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 5 == 0 or epoch == args.epochs:
            right = route_names_right(valid_states, valid_mask, valid)
            print(f"epoch {epoch}: bag-of-words loss {loss.item():.3f}, route names right {right:.1%} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    shutil.copytree(args.checkpoint, args.output, dirs_exist_ok=True)
    model.save_pretrained(args.output)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
