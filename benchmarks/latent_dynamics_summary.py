#!/usr/bin/env python
"""
One summary of `benchmarks/latent_dynamics_gpu.sh`'s results: accuracy by task x model x length (every
`<OUTDIR>/<run>/results.json` of run_sequence_tasks.py), the recurrence speeds and the attention memory curve
(`<OUTDIR>/speed.json`). Printed as markdown tables and written to `<OUTDIR>/summary.md`.

    python benchmarks/latent_dynamics_summary.py OUTDIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def accuracy_table(outdir: Path, metric: str = "accuracy") -> str:
    """`metric` of every run by length; runs without it (e.g. `all_sequence_accuracy` when not asked) are left out."""
    runs = sorted(outdir.glob("*/results.json"))
    if metric != "accuracy":
        runs = [
            run
            for run in runs
            if any(metric in m for r in json.loads(run.read_text())["models"].values() for m in r["lengths"].values())
        ]
    lengths = sorted(
        {int(n) for run in runs for m in json.loads(run.read_text())["models"].values() for n in m["lengths"]}
    )
    lines = ["| run | task | model | parameters | " + " | ".join(map(str, lengths)) + " |"]
    lines.append("|" + " --- |" * (len(lengths) + 4))
    for run in runs:
        summary = json.loads(run.read_text())
        for name, result in summary["models"].items():
            cells = []
            for length in lengths:
                metrics = result["lengths"].get(str(length)) or result["lengths"].get(length)
                cells.append(f"{metrics[metric]:.3f}" if metrics and metric in metrics else "")
            lines.append(
                f"| {run.parent.name} | {summary['task']} | {name} | {result['parameters']:,} | "
                + " | ".join(cells)
                + " |"
            )
    if metric != "accuracy":
        return "\n".join(lines)
    missing = sorted(
        p.parent.name
        for p in outdir.glob("*/train.log")
        if p.parent.name != "speed" and not (p.parent / "results.json").exists()
    )
    if missing:
        lines.append(f"\nNo results (timed out or failed; see their train.log): {', '.join(missing)}")
    return "\n".join(lines)


def speed_tables(outdir: Path) -> str:
    path = outdir / "speed.json"
    if not path.exists():
        return "No speed.json (the speed stage timed out or failed; see speed.log)."
    speed = json.loads(path.read_text())
    lines = [f"Device: {speed['device']}", "", "| recurrence impl | s / fwd+bwd | tokens/s | max abs diff vs loop |"]
    lines.append("| --- | ---: | ---: | ---: |")
    for row in speed["recurrence"]:
        if "error" in row:
            lines.append(f"| {row['impl']} | {row['error'][:80]} | | |")
        else:
            lines.append(
                f"| {row['impl']} | {row['seconds_fwd_bwd']:.3f} | {row['tokens_per_s']:,.0f} | {row['max_abs_diff_vs_loop']:.1e} |"
            )
    lines += [
        "",
        "| attention | length | batch | peak GiB | tokens/s (fwd+bwd) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in speed["attention"]:
        memory = f"{row['peak_memory_gib']:.3f}" if "peak_memory_gib" in row else "-"
        rate = f"{row['tokens_per_s']:,.0f}" if "tokens_per_s" in row else row.get("error", "-")
        lines.append(f"| {row['attention']} | {row['length']} | {row['batch']} | {memory} | {rate} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--no_speed", action="store_true", help="Accuracy tables only (a window without speed.json).")
    args = parser.parse_args()
    outdir = Path(args.outdir)
    text = "## Accuracy on scored positions\n\n" + accuracy_table(outdir)
    every = accuracy_table(outdir, "all_sequence_accuracy")
    if every.count("\n") > 1:
        text += (
            "\n\n## Sequences with every predictable position right (runs with `--eval_all_positions true`)\n\n"
            "A model that gets the scored positions right by predicting their answer everywhere fails here.\n\n"
            + every
        )
    if not args.no_speed:
        text += "\n\n## Speed and memory\n\n" + speed_tables(outdir)
    (outdir / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
