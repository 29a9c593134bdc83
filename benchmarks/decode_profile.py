#!/usr/bin/env python
"""
Where does a compiled decoding step spend its time? Issue 17's batch-256 target is missed because a step of the
compiled loop costs about 4.2 ms for SmolLM2-135M shapes at batch 256 (BENCHMARKS section 5), some ten times what its
arithmetic needs. This profiles the `decoding="compiled"` path from cached idea vectors (decode only) and prints
whether CUDA graphs were used (inductor's `cudagraph_skips` counter), the wall time per step, and the kernels that
take the GPU's time.

    python benchmarks/decode_profile.py --shapes offline --batch_size 256       # GPU
    python benchmarks/decode_profile.py --shapes offline --batch_size 2 --tiny  # CPU dry run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import shapes  # noqa: E402
from benchmarks.generation_speed import SHAPES, build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", choices=sorted(SHAPES), default="offline")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--rows", type=int, default=20, help="Kernels to list.")
    parser.add_argument("--tiny", action="store_true", help="Tiny backbones on the CPU (a dry run).")
    args = parser.parse_args()

    device = torch.device("cpu" if args.tiny else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA GPU visible: run with --tiny for a CPU dry run.")
    encoder, decoder, heads = SHAPES[args.shapes]
    if args.tiny:
        encoder, decoder = shapes.TINY.get(encoder, encoder), shapes.TINY.get(decoder, decoder)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = build_model(encoder, decoder, device, dtype, heads)
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(args.batch_size, model.config.latent_size, generator=generator).to(device, dtype)
    lengths = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens, "decoding": "compiled"}

    def decode() -> torch.Tensor:
        out = model.generate(latent=latent, **lengths)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    from torch._dynamo.utils import counters

    for _ in range(3):  # compile, record the CUDA graphs, then a replay
        decode()
    start = time.perf_counter()
    decode()
    wall = time.perf_counter() - start
    skips = dict(counters["inductor"].get("cudagraph_skips", {})) if "inductor" in counters else {}
    print(f"{args.shapes} shapes, batch {args.batch_size}, {args.new_tokens} new tokens: {wall * 1e3:.1f} ms")
    print(f"  {wall * 1e3 / args.new_tokens:.2f} ms per step; inductor counters: {dict(counters['inductor'])}")
    print(f"  cudagraph skips: {skips or 'none'}")

    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profile:
        decode()
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(profile.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=70))


if __name__ == "__main__":
    main()
