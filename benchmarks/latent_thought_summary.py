#!/usr/bin/env python
"""
The latent-thought table: accuracy, generated tokens and latent steps of each GSM8K recipe's run, beside the anchor.

    python benchmarks/latent_thought_summary.py OUTDIR [--baseline EARLIER/summary.json]

Reads OUTDIR/<run>/eval_results.json for the four recipes and any other run there (variants such as ablations,
after them), and OUTDIR/scale_*.json; prints a Markdown table and writes OUTDIR/summary.json and OUTDIR/summary.md,
with the issue's target checked: the better latent method reaching at least 80 % of CoT's accuracy with at most 40 %
of its generated positions (written tokens + latent steps, as the anchor counts Coconut's thoughts), and beating
no-CoT. `--baseline` takes the reference rows (CoT and no-CoT) that OUTDIR lacks from an earlier run's summary.json,
their source naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RECIPES = ("no_cot", "cot", "coconut", "latent_mixing")
ANCHOR = {  # Hao et al. 2024 (Coconut), GPT-2 on GSM8k-Aug (385k problems): accuracy %, generated tokens
    "no_cot": (16.5, None),
    "cot": (42.9, 25.0),
    "coconut": (34.1, 8.2),
    "latent_mixing": (None, None),
}


def run_names(out: Path) -> list[str]:
    """The four recipes, then every other run folder of OUTDIR (variants), sorted."""
    others = sorted(
        d.name
        for d in out.iterdir()
        if d.is_dir()
        and d.name not in RECIPES
        and ((d / "eval_results.json").is_file() or (d / "source.txt").is_file())
    )
    return [*RECIPES, *others]


def load(out: Path, baseline: Path | None = None) -> dict[str, dict]:
    earlier = json.loads(baseline.read_text())["rows"] if baseline else {}
    rows = {}
    for name in run_names(out):
        path = out / name / "eval_results.json"
        rows[name] = json.loads(path.read_text()) if path.is_file() else {}
        source = out / name / "source.txt"
        rows[name]["source"] = source.read_text().strip() if source.is_file() else ""
        if name in ("no_cot", "cot") and "accuracy" not in rows[name] and "accuracy" in earlier.get(name, {}):
            rows[name] = {**earlier[name], "source": f"{earlier[name].get('source', '')} [from {baseline}]"}
    return rows


def verdict(rows: dict[str, dict]) -> dict:
    cot, no_cot = rows["cot"], rows["no_cot"]
    latent = [
        r for r in rows if r not in ("no_cot", "cot") and not r.endswith("_fallback_check") and "accuracy" in rows[r]
    ]
    if "accuracy" not in cot or not latent:
        return {"checked": False, "why": "CoT or both latent runs missing"}
    best = max(latent, key=lambda r: rows[r]["accuracy"])
    b = rows[best]
    accuracy_share = b["accuracy"] / cot["accuracy"] if cot["accuracy"] else None  # None: CoT got nothing right
    steps_share = b["mean_total_steps"] / cot["mean_total_steps"] if cot["mean_total_steps"] else None
    return {
        "checked": True,
        "better_latent_method": best,
        "accuracy_share_of_cot": None if accuracy_share is None else round(accuracy_share, 3),
        "positions_share_of_cot": None if steps_share is None else round(steps_share, 3),
        "beats_no_cot": "accuracy" in no_cot and b["accuracy"] > no_cot["accuracy"],
        "target_met": accuracy_share is not None
        and steps_share is not None
        and accuracy_share >= 0.8
        and steps_share <= 0.4
        and b["accuracy"] > no_cot.get("accuracy", 0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--baseline", type=Path, help="an earlier run's summary.json, for CoT / no-CoT rows OUTDIR lacks"
    )
    args = parser.parse_args(argv)
    rows = load(args.out, args.baseline)
    lines = [
        "| recipe | accuracy % | mean generated tokens | mean latent steps | positions (tokens + latent) | "
        "examples/s | rows | anchor accuracy % | anchor tokens | result from |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for recipe, r in rows.items():
        anchor_accuracy, anchor_tokens = ANCHOR.get(recipe, (None, None))
        if "accuracy" in r:
            cells = [
                f"{100 * r['accuracy']:.1f}",
                f"{r['mean_generated_tokens']:.1f}",
                f"{r['mean_latent_steps']:.1f}",
                f"{r['mean_total_steps']:.1f}",
                f"{r['examples_per_second']:.1f}",
                str(r["num_examples"]),
            ]
        else:
            cells = ["failed"] + [""] * 5
        anchor = [f"{anchor_accuracy}" if anchor_accuracy else "-", f"{anchor_tokens}" if anchor_tokens else "-"]
        lines.append(f"| {recipe} | " + " | ".join(cells + anchor + [r.get("source", "")]) + " |")
    scale = []
    for path in sorted(args.out.glob("scale_*.json")):
        s = json.loads(path.read_text())
        scale.append(s)
        lines.append(
            f"\nscale row ({Path(s['recipe']).stem}, {s['decoder']}, LoRA r={s['lora']['r']}, {s['dtype']}, "
            f"{s['max_steps']} steps): peak allocated {s.get('peak_allocated_gib', 'n/a')} GiB, "
            f"reserved {s.get('peak_reserved_gib', 'n/a')} GiB"
        )
    check = verdict(rows)
    lines.append(f"\ntarget check: {json.dumps(check)}")
    text = "\n".join(lines)
    (args.out / "summary.md").write_text(text + "\n")
    (args.out / "summary.json").write_text(json.dumps({"rows": rows, "scale": scale, "check": check}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
