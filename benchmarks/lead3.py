#!/usr/bin/env python
"""
Lead-3 baseline: the first three turns of each dialogue as its "summary", scored with the repo's offline ROUGE.

    python benchmarks/lead3.py --input_file ../shared/data/samsum/validation.jsonl --output benchmarks/results/lead3.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics import ROUGE_KEYS  # noqa: E402
from metrics.speakers import speaker_scores  # noqa: E402
from training.data import load_raw_splits  # noqa: E402
from training.evaluation import rouge_scores  # noqa: E402


def lead_turns(dialogue: str, turns: int = 3) -> str:
    """The first `turns` non-empty lines of a dialogue."""
    return "\n".join([line.strip() for line in dialogue.splitlines() if line.strip()][:turns])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input_file", required=True, help="JSONL with dialogue and summary columns.")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--output", help="Where to write the JSON result.")
    args = parser.parse_args()
    if not Path(args.input_file).is_file():
        sys.exit(f"{args.input_file} does not exist (the shared data lives in ../shared/data beside the repo).")
    data = load_raw_splits(data_files={"validation": args.input_file}, splits=("validation",))["validation"]
    predictions = [lead_turns(d, args.turns) for d in data["dialogue"]]
    result = {"baseline": f"lead-{args.turns}", "input_file": args.input_file, "num_samples": len(data)}
    result.update(rouge_scores(predictions, data["summary"]))
    result.update(speaker_scores(predictions, data["dialogue"]))
    print(" | ".join(f"{k} {result[k]:.2f}" for k in (*ROUGE_KEYS, "first_name_is_speaker")))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
