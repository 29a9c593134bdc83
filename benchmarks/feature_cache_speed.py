#!/usr/bin/env python
"""
What the frozen-encoder feature cache buys on this machine: the same short training run with the cache off and on.

    python benchmarks/feature_cache_speed.py recipes/offline/frozen.yaml --max_train_samples 160 \
        --output benchmarks/results/feature_cache_cpu.json

Both runs see the same rows in the same order from the same seed, so their logged losses should agree to float
rounding (the cache pools each dialogue once, in larger batches); the training step time is what changes. The cache's
one-off cost (one encoder pass over the training rows) is reported apart: it is paid once, the saving every epoch.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import run_summarization  # noqa: E402


def train_once(recipe: str, use_cache: bool, output_dir: str, max_train_samples: int) -> dict:
    argv = [
        recipe,
        "--use_feature_cache", str(use_cache).lower(),
        "--max_train_samples", str(max_train_samples),
        "--num_train_epochs", "1",
        "--logging_steps", "1",
        "--do_eval", "false",
        "--save_strategy", "no",
        "--output_dir", output_dir,
        "--overwrite_output_dir", "true",
    ]  # fmt: skip
    start = time.perf_counter()
    metrics = run_summarization.main(argv)
    wall = time.perf_counter() - start
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return {
        "use_feature_cache": use_cache,
        "train_runtime_s": metrics["train_runtime"],
        "train_samples_per_second": metrics["train_samples_per_second"],
        "wall_s": round(wall, 1),
        "losses": losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="A recipe with a frozen encoder, e.g. recipes/offline/frozen.yaml.")
    parser.add_argument("--max_train_samples", type=int, default=160)
    parser.add_argument("--output", help="Where to write the JSON result.")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for use_cache in (False, True):
            runs.append(train_once(args.recipe, use_cache, f"{scratch}/cache-{use_cache}", args.max_train_samples))
    off, on = runs
    max_loss_diff = max(abs(a - b) for a, b in zip(off["losses"], on["losses"], strict=True))
    result = {
        "recipe": args.recipe,
        "max_train_samples": args.max_train_samples,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "runs": runs,
        "training_speedup": round(on["train_samples_per_second"] / off["train_samples_per_second"], 3),
        "cache_build_s": round(on["wall_s"] - on["train_runtime_s"] - (off["wall_s"] - off["train_runtime_s"]), 1),
        "max_abs_loss_difference": max_loss_diff,
    }
    print(f"{'feature cache':<15}{'samples/s':>10}{'train s':>9}{'wall s':>8}")
    for run in runs:
        label = "on" if run["use_feature_cache"] else "off"
        print(
            f"{label:<15}{run['train_samples_per_second']:>10.2f}{run['train_runtime_s']:>9.1f}{run['wall_s']:>8.1f}"
        )
    print(
        f"training speed-up x{result['training_speedup']}, cache built in ~{result['cache_build_s']} s, "
        f"largest difference between the logged losses {max_loss_diff:.2e}"
    )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
