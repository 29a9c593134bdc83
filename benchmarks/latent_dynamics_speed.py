#!/usr/bin/env python
"""
Speed and memory of the latent-dynamics model's two long-sequence parts.

1. The recurrence at 8K tokens, forward + backward: the reference loop, the hoisted loop and the compiled chunks,
   with each one's largest difference from the reference (they must give the same outputs).
2. A training step (forward + backward) of the decoder by sequence length, chunked vs full vs fused (SDPA) attention:
   peak memory (`torch.cuda.max_memory_allocated`, or none on CPU) and tokens/s.

    python benchmarks/latent_dynamics_speed.py --device cuda --output speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling import LatentDynamicsConfig, LatentDynamicsForCausalLM  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recurrence_length", type=int, default=8192)
    parser.add_argument("--recurrence_batch", type=int, default=8)
    parser.add_argument("--hidden_size", type=int, default=64)
    parser.add_argument("--impls", default="loop,hoisted,compiled", help="Recurrence implementations to time.")
    parser.add_argument("--recurrence_chunk", type=int, default=32, help="Steps per compiled call.")
    parser.add_argument("--lengths", default="256,512,1024,2048,4096,8192", help="Lengths of the attention sweep.")
    parser.add_argument("--attention", default="chunked,full,sdpa")
    parser.add_argument("--batch", type=int, default=2, help="Batch of the attention sweep.")
    parser.add_argument("--chunk_size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=None, help="JSON file for the results.")
    return parser.parse_args()


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn, device: str, repeats: int) -> float:
    fn()  # warm-up (and compilation)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def recurrence_speed(args) -> list[dict]:
    config = LatentDynamicsConfig(hidden_size=args.hidden_size, recurrence_chunk=args.recurrence_chunk)
    dynamics = LatentDynamicsForCausalLM(config).dynamics.to(args.device)
    z = torch.randn(args.recurrence_batch, args.recurrence_length, args.hidden_size, device=args.device)
    with torch.no_grad():
        reference = dynamics(z, impl="loop")
    rows = []
    for impl in args.impls.split(","):

        def step(impl=impl):
            inputs = z.detach().requires_grad_(True)
            dynamics(inputs, impl=impl).square().mean().backward()

        try:
            start = time.perf_counter()
            seconds = time_call(step, args.device, args.repeats)
            first_call = time.perf_counter() - start - seconds * args.repeats
            with torch.no_grad():
                difference = (dynamics(z, impl=impl) - reference).abs().max().item()
            row = {"impl": impl, "seconds_fwd_bwd": seconds, "first_call_seconds": first_call}
            row |= {"max_abs_diff_vs_loop": difference, "tokens_per_s": z.shape[0] * z.shape[1] / seconds}
        except Exception as error:  # a backend that fails (no compiler) is reported, the others still run
            row = {"impl": impl, "error": f"{type(error).__name__}: {error}"[:300]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def attention_sweep(args) -> list[dict]:
    rows = []
    for attention in args.attention.split(","):
        for length in (int(v) for v in args.lengths.split(",")):
            config = LatentDynamicsConfig(
                hidden_size=args.hidden_size,
                sequence_mixer="none",
                attention=attention,
                chunk_size=args.chunk_size,
                vocab_size=64,
            )
            model = LatentDynamicsForCausalLM(config).to(args.device)
            input_ids = torch.randint(0, 64, (args.batch, length), device=args.device)

            def step(model=model, input_ids=input_ids):
                model(input_ids, labels=input_ids).loss.backward()

            row = {"attention": attention, "length": length, "batch": args.batch}
            try:
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                seconds = time_call(step, args.device, args.repeats)
                row |= {"seconds_fwd_bwd": seconds, "tokens_per_s": args.batch * length / seconds}
                if args.device.startswith("cuda"):
                    row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            except torch.OutOfMemoryError:
                row["error"] = "out of memory"
            del model
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    args = parse()
    torch.manual_seed(0)
    results = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu", "args": vars(args)}
    results["recurrence"] = recurrence_speed(args)
    results["attention"] = attention_sweep(args)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))
    print("\n| recurrence impl | s / fwd+bwd | tokens/s | max |diff| vs loop |\n| --- | ---: | ---: | ---: |")
    for row in results["recurrence"]:
        if "error" in row:
            print(f"| {row['impl']} | {row['error'][:60]} | | |")
        else:
            print(
                f"| {row['impl']} | {row['seconds_fwd_bwd']:.3f} | {row['tokens_per_s']:,.0f} | "
                f"{row['max_abs_diff_vs_loop']:.1e} |"
            )
    print("\n| attention | length | peak GiB | tokens/s |\n| --- | ---: | ---: | ---: |")
    for row in results["attention"]:
        memory = f"{row['peak_memory_gib']:.2f}" if "peak_memory_gib" in row else "-"
        speed = f"{row['tokens_per_s']:,.0f}" if "tokens_per_s" in row else row.get("error", "-")
        print(f"| {row['attention']} | {row['length']} | {memory} | {speed} |")


if __name__ == "__main__":
    main()
