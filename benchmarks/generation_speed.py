#!/usr/bin/env python
"""
Generation speed (BENCHMARKS.md table 3): summaries/s and latency of one batch (32 dialogues of 256 tokens, 64 new
tokens each, greedy) written three ways with the same random-weight GPT-2 small decoder:

    latent prefix             ModernBERT-base encodes the dialogue -> heads -> 11-vector soft prompt -> decoder
    latent prefix, cached z   the same from a ready idea vector (decode only: what the encoder costs is the gap)
    token space               the decoder prompted with the raw dialogue (256 tokens), as prompting an LM would

`min_new_tokens` = `max_new_tokens`, so every row writes exactly the same number of tokens. GPU rows run the model
in fp16, CPU rows in fp32. Latency is the median of `--repeats` timed batches after `--warmup` untimed ones.

`--batch_sizes 32,256` times each batch size. `--decodings` picks how each path decodes (comma-separated):

    dynamic    `generate` with the default (dynamic) KV cache
    static     `generate` with transformers' static KV cache, with which it compiles the decoder's forward on a GPU
    compiled   the compiled static-cache loop (modeling/latent_space/compiled_decoding.py): the whole decoding step,
               argmax and EOS bookkeeping included, in one CUDA graph (`generate(decoding="compiled")`)

(the compilations fall in the warm-up batches). `--cache_implementations dynamic,static` is the older spelling of
`--decodings dynamic,static`. `--shapes offline` times the offline recipe's backbones (all-MiniLM-L6-v2 encoder +
SmolLM2-135M-Instruct decoder, random weights from their configs, the heads of recipes/offline/frozen.yaml) instead of
the seed's (ModernBERT-base + GPT-2 small).

    python benchmarks/generation_speed.py --devices cuda,cpu --output benchmarks/results/generation_speed.json
    python benchmarks/generation_speed.py --devices cuda --batch_sizes 32,256 --decodings static,compiled
    python benchmarks/generation_speed.py --devices cuda --batch_sizes 32,256 --decodings static,compiled \
        --shapes offline
    python benchmarks/generation_speed.py --tiny --devices cpu --repeats 1 --warmup 1    # dry run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import shapes  # noqa: E402
from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration  # noqa: E402
from modeling.latent_space.compiled_decoding import compiled_decoder, compiled_generate  # noqa: E402

GIB = 2**30
DECODINGS = ("dynamic", "static", "compiled")
# Backbones and head settings per --shapes: the seed's (measured in BENCHMARKS table 3 and section 5) and the offline
# recipe's (recipes/offline/frozen.yaml: heads and prefix length; the heads barely change the time).
SHAPES = {
    "seed": ("modernbert-base", "gpt2", {}),
    "offline": (
        "minilm-l6",
        "smollm2-135m",
        {
            "pooling": "mean",
            "latent_dim": 256,
            "compression_hidden_dims": [512],
            "middle_model": "mlp",
            "middle_hidden_dim": 512,
            "middle_num_layers": 3,
            "prefix_len": 10,
            "prefix_hidden_dim": 1024,
        },
    ),
}


def build_model(encoder: str, decoder: str, device: torch.device, dtype: torch.dtype, heads: dict | None = None):
    enc_cfg, dec_cfg = shapes.encoder_config(encoder), shapes.decoder_config(decoder)
    torch.manual_seed(0)
    config = LatentSpaceConfig.from_encoder_decoder_configs(enc_cfg, dec_cfg, **(heads or {}))
    with torch.device(device):
        model = LatentSpaceForConditionalGeneration(config)
    return model.to(dtype).eval()


def time_calls(fn, device: torch.device, warmup: int, repeats: int) -> tuple[list[float], torch.Tensor]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times, out


def bench_device(args, device: torch.device):
    """Yields the rows of each (batch size, cache) setting as soon as it is timed, so a time limit keeps the rest."""
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = build_model(args.encoder, args.decoder, device, dtype, SHAPES[args.shapes][2])
    if args.step_attention:  # every later compiled call (latent and raw prompt alike) reuses this loop
        compiled_decoder(model.decoder, step_attention=args.step_attention)
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        first_outputs: dict[str, tuple[str, torch.Tensor]] = {}  # per path: the first decoding's tokens
        for decoding in args.decodings.split(","):
            yield bench_setting(args, model, device, dtype, batch_size, decoding, first_outputs)


def bench_setting(
    args, model, device: torch.device, dtype, batch_size: int, decoding: str, first_outputs: dict
) -> list[dict]:
    enc_vocab, dec_vocab = model.config.encoder.vocab_size, model.config.decoder.vocab_size
    generator = torch.Generator().manual_seed(0)
    shape = (batch_size, args.source_length)
    enc_ids = torch.randint(5, enc_vocab, shape, generator=generator).to(device)
    dec_ids = torch.randint(5, dec_vocab, shape, generator=generator).to(device)
    mask = torch.ones(shape, dtype=torch.long, device=device)
    lengths = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    cache = "dynamic" if decoding == "dynamic" else "static"
    latent_options = {"decoding": "compiled"} if decoding == "compiled" else {}
    if decoding == "static":
        lengths["cache_implementation"] = "static"
    with torch.no_grad():
        latent = model.reason(model.encode(enc_ids, mask))
    eos = model.config.eos_token_id
    token_space = compiled_generate if decoding == "compiled" else lambda decoder, **kw: decoder.generate(**kw)

    paths = {
        "latent prefix": lambda: model.generate(input_ids=enc_ids, attention_mask=mask, **latent_options, **lengths),
        "latent prefix, cached z": lambda: model.generate(latent=latent, **latent_options, **lengths),
        "token space": lambda: token_space(
            model.decoder, input_ids=dec_ids, attention_mask=mask, do_sample=False, pad_token_id=eos, **lengths
        ),
    }
    warmup = args.warmup if device.type == "cuda" else args.cpu_warmup
    repeats = args.repeats if device.type == "cuda" else args.cpu_repeats
    rows = []
    for name, fn in paths.items():
        if args.paths and name not in args.paths.split(","):
            continue
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            times, out = time_calls(fn, device, warmup, repeats)
        new_tokens = out.shape[1] - (dec_ids.shape[1] if name == "token space" else 0)
        median = statistics.median(times)
        row = {
            "path": name,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
            "device_type": device.type,
            "threads": torch.get_num_threads(),
            "dtype": str(dtype).replace("torch.", ""),
            "batch_size": batch_size,
            "decoding": decoding,
            "cache_implementation": cache,
            "shapes": args.shapes,
            "source_length": args.source_length,
            "new_tokens": int(new_tokens),
            "prompt_length": args.source_length if name == "token space" else model.config.prefix_len + 1,
            "latency_s_median": round(median, 4),
            "latency_s_min": round(min(times), 4),
            "latency_s_max": round(max(times), 4),
            "summaries_per_s": round(batch_size / median, 1),
            "new_tokens_per_s": round(batch_size * new_tokens / median, 1),
            "repeats": repeats,
        }
        if device.type == "cuda":
            row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / GIB, 3)
        print(
            f"{row['device_type']:>4} b{batch_size:<4} {decoding:8} {name:26} {row['latency_s_median'] * 1000:9.1f} ms "
            f"{row['summaries_per_s']:9.1f}"
            f" summaries/s  ({new_tokens} new tokens, {repeats} repeats)",
            flush=True,
        )
        # The share of tokens equal to the first decoding's (greedy: 1.0 unless half-precision kernels tip a tie).
        reference_decoding, reference = first_outputs.setdefault(name, (decoding, out))
        if reference_decoding != decoding and reference.shape == out.shape:
            row["same_tokens_as"] = reference_decoding
            row["token_agreement"] = round(float((reference == out).float().mean()), 4)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--devices", default="cuda,cpu", help="Comma-separated: cuda, cpu (cuda is skipped if absent)."
    )
    parser.add_argument(
        "--shapes",
        choices=sorted(SHAPES),
        default="seed",
        help="seed: ModernBERT-base + GPT-2 small; offline: all-MiniLM-L6-v2 + SmolLM2-135M (random weights).",
    )
    parser.add_argument("--encoder", default=None, help="A name of benchmarks/shapes.py (default: from --shapes).")
    parser.add_argument("--decoder", default=None, help="A name of benchmarks/shapes.py (default: from --shapes).")
    parser.add_argument("--batch_sizes", default="32", help="Comma-separated batch sizes, e.g. 32,256.")
    parser.add_argument(
        "--cache_implementations",
        default="dynamic",
        help="dynamic (the default KV cache) and/or static, comma-separated (the older spelling of --decodings).",
    )
    parser.add_argument(
        "--decodings",
        default=None,
        help=f"Comma-separated, of {', '.join(DECODINGS)} (default: --cache_implementations).",
    )
    parser.add_argument("--paths", default=None, help="Only these paths (comma-separated names), e.g. 'token space'.")
    parser.add_argument("--source_length", type=int, default=256)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2, help="Untimed batches first, on GPU.")
    parser.add_argument("--repeats", type=int, default=10, help="Timed batches on GPU.")
    parser.add_argument("--cpu_warmup", type=int, default=1)
    parser.add_argument("--cpu_repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="Tiny backbones of the same families: a dry run.")
    parser.add_argument(
        "--step_attention",
        choices=["eager", "sdpa"],
        default=None,
        help="Attention of the compiled loop's decoding steps (CompiledDecoder's step_attention; default: the decoder's).",
    )
    parser.add_argument("--output", help="Where to write the JSON results.")
    args = parser.parse_args()
    args.decodings = args.decodings or args.cache_implementations
    unknown = [name for name in args.decodings.split(",") if name not in DECODINGS]
    if unknown:
        parser.error(f"Unknown decodings {unknown}: choose from {', '.join(DECODINGS)}.")
    args.encoder = args.encoder or SHAPES[args.shapes][0]
    args.decoder = args.decoder or SHAPES[args.shapes][1]
    if args.tiny:
        args.encoder, args.decoder = shapes.TINY[args.encoder], shapes.TINY[args.decoder]

    meta = {
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "encoder": args.encoder,
        "decoder": args.decoder,
        "shapes": args.shapes,
    }
    rows = []
    for name in args.devices.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            print("CUDA is not available: skipping the GPU rows.")
            continue
        for setting_rows in bench_device(args, torch.device(name)):
            rows.extend(setting_rows)
            if args.output:
                Path(args.output).parent.mkdir(parents=True, exist_ok=True)
                Path(args.output).write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")

    print(
        f"\n{'device':>6} {'batch':>5} {'decoding':8} {'path':26} {'latency ms':>11} {'summaries/s':>12} {'new tok/s':>10} "
        f"{'threads':>7}"
    )
    for row in rows:
        print(
            f"{row['device_type']:>6} {row['batch_size']:5d} {row['decoding']:8} {row['path']:26} "
            f"{row['latency_s_median'] * 1000:11.1f} "
            f"{row['summaries_per_s']:12.1f} {row['new_tokens_per_s']:10.1f} {row['threads']:7d}"
        )
    print_ratios(rows)


def print_ratios(rows: list[dict]) -> None:
    """Per device, batch and decoding: each latent path's summaries/s over the raw-dialogue prompt's."""
    speed = {(r["device_type"], r["batch_size"], r["decoding"], r["path"]): r["summaries_per_s"] for r in rows}
    print()
    for (device, batch, decoding, path), value in speed.items():
        raw = speed.get((device, batch, decoding, "token space"))
        if path != "token space" and raw:
            print(f"{device:>6} b{batch:<4} {decoding:8} {path:26} {value / raw:5.2f}x the raw-dialogue prompt")


if __name__ == "__main__":
    main()
