#!/usr/bin/env python
"""
The summary table of a quality GPU job (`quality_gpu.sh`, `quality_long_gpu.sh`): one row per `eval-*/eval_results.json`
under OUTDIR (best ROUGE-L first), the teacher's row when `teacher.json` is there, then the training results of each
`*-all_results.json`. With `--best`, the best run's name is also written to OUTDIR/best.txt.

    python benchmarks/quality_summary.py OUTDIR [--best] | tee OUTDIR/summary.txt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TRAIN_KEYS = ("epoch", "train_loss", "eval_loss", "train_samples_per_second", "train_runtime")


def score_row(name: str, result: dict) -> str:
    return (
        f"{name:<22}{result['rouge1']:7.2f}{result['rouge2']:7.2f}{result['rougeL']:7.2f}{result['rougeLsum']:8.2f}"
        f"{result['gen_len']:6.1f}{result.get('first_name_is_speaker', 0.0):10.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--best", action="store_true", help="Write the best run's name to OUTDIR/best.txt.")
    args = parser.parse_args()
    runs = []
    for path in args.outdir.glob("eval-*/eval_results.json"):
        runs.append((path.parent.name.removeprefix("eval-"), json.loads(path.read_text())))
    runs.sort(key=lambda run: run[1]["rougeL"], reverse=True)
    print(f"{'run':<22}{'R-1':>7}{'R-2':>7}{'R-L':>7}{'R-Lsum':>8}{'len':>6}{'first=spk':>10}")
    for name, result in runs:
        print(score_row(name, result))
    teacher = args.outdir / "teacher.json"
    if teacher.is_file():
        print(score_row("teacher", json.loads(teacher.read_text())))
    for path in sorted(args.outdir.glob("*-all_results.json")):
        result = json.loads(path.read_text())
        print(path.name.removesuffix("-all_results.json"), {k: round(result[k], 4) for k in TRAIN_KEYS if k in result})
    if args.best and runs:
        (args.outdir / "best.txt").write_text(runs[0][0])


if __name__ == "__main__":
    main()
