#!/usr/bin/env python
"""
Build the CALM family's offline text corpus: `train.jsonl` and `validation.jsonl` (`{"text", "source"}` rows).

    python scripts/build_calm_corpus.py --output_dir outputs/calm-corpus                      # chitchat + shared data
    python scripts/build_calm_corpus.py --output_dir outputs/calm-corpus --teacher_samples 2000  # + teacher text

Sources: the `chitchat-dataset` package's 7,168 chat conversations (2% held out by a hash of their id), and the
GSM8K, SAMSum and DialogSum files of `--data_dir` (train files to train, validation files held out). With
`--teacher_samples N` the teacher also writes N texts, each continuing the first `--teacher_prompt_tokens` tokens of a
random training text by sampling (`--teacher_temperature`, `--teacher_top_p`); they go to train only.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.calm_data import build_corpus, read_texts, teacher_texts  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--data_dir", default="../shared/data", help="Shared data folder ('none' to skip it).")
    parser.add_argument("--no_chitchat", action="store_true", help="Leave the chitchat-dataset conversations out.")
    parser.add_argument("--chitchat_validation_share", type=float, default=0.02)
    parser.add_argument("--max_chitchat", type=int, default=None, help="Use only the first N conversations.")
    parser.add_argument("--teacher", default="backbones/SmolLM2-135M-Instruct")
    parser.add_argument("--teacher_samples", type=int, default=0)
    parser.add_argument("--teacher_prompt_tokens", type=int, default=32)
    parser.add_argument("--teacher_max_new_tokens", type=int, default=128)
    parser.add_argument("--teacher_temperature", type=float, default=1.0)
    parser.add_argument("--teacher_top_p", type=float, default=0.95)
    parser.add_argument("--teacher_batch_size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    data_dir = None if args.data_dir == "none" else args.data_dir
    if data_dir is not None and not Path(data_dir).is_dir():
        parser.error(f"--data_dir {data_dir} does not exist (pass 'none' to build from chitchat-dataset alone).")
    summary = build_corpus(
        args.output_dir, data_dir, not args.no_chitchat, args.chitchat_validation_share, args.max_chitchat
    )
    if args.teacher_samples > 0:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.teacher)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        teacher = AutoModelForCausalLM.from_pretrained(
            args.teacher, dtype=torch.bfloat16 if device == "cuda" else torch.float32
        ).to(device)
        train_path = Path(args.output_dir) / "train.jsonl"
        prompts = random.Random(args.seed).sample(read_texts(train_path), args.teacher_samples)
        texts = teacher_texts(
            teacher,
            tokenizer,
            prompts,
            args.teacher_prompt_tokens,
            args.teacher_max_new_tokens,
            args.teacher_temperature,
            args.teacher_top_p,
            args.teacher_batch_size,
            args.seed,
        )
        with train_path.open("a") as handle:
            for text in texts:
                handle.write(json.dumps({"text": text, "source": "teacher"}, ensure_ascii=False) + "\n")
        summary["train"]["teacher"] = len(texts)
        summary["teacher_sampling"] = {
            "prompt_tokens": args.teacher_prompt_tokens,
            "max_new_tokens": args.teacher_max_new_tokens,
            "temperature": args.teacher_temperature,
            "top_p": args.teacher_top_p,
            "prompts_from": "random training texts",
        }
        (Path(args.output_dir) / "corpus_info.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
