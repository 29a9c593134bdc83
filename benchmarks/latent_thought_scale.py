#!/usr/bin/env python
"""
The scale row of the latent-thought recipes: does a 1B Llama-shaped decoder fit a 12 GB card with LoRA at fp16?

Writes a random-weight decoder of Llama-3.2-1B's shape (with SmolLM2's tokenizer) to a folder, then trains a recipe
for a few steps with `run_reasoning.py` at the recipe's batch and accumulation, LoRA on the attention projections,
and reports the peak GPU memory (`torch.cuda.max_memory_allocated` / `max_memory_reserved`) as JSON.

    python benchmarks/latent_thought_scale.py --recipe recipes/gsm8k/coconut.yaml --output scale_coconut.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LLAMA_1B = dict(
    vocab_size=128256,
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=64,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
TINY = dict(
    LLAMA_1B,
    vocab_size=49280,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
)
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def write_random_decoder(folder: Path, shape: dict, tokenizer_from: str) -> Path:
    """Random weights in fp16 (built on the GPU when there is one: seconds, not minutes) and the given tokenizer."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**shape)).to(torch.float16 if device == "cuda" else torch.float32)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(folder)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/gsm8k/coconut.yaml")
    parser.add_argument("--output", required=True, help="JSON file for the result.")
    parser.add_argument("--folder", default="/tmp/latent_thought_llama1b", help="Where the random decoder goes.")
    parser.add_argument("--tokenizer", default="backbones/SmolLM2-135M-Instruct")
    parser.add_argument("--max_steps", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="A tiny decoder instead (CPU smoke test).")
    args, extra = parser.parse_known_args(argv)  # anything else goes to run_reasoning.py (--max_train_samples 256)

    import run_reasoning

    folder = Path(args.folder)
    start = time.perf_counter()
    if not (folder / "config.json").is_file():
        write_random_decoder(folder, TINY if args.tiny else LLAMA_1B, args.tokenizer)
    built = time.perf_counter() - start
    run_argv = [
        args.recipe,
        *(
            "--decoder_name_or_path",
            str(folder),
            "--decoder_dtype",
            "float16" if torch.cuda.is_available() else "float32",
        ),
        *("--decoder_lora", json.dumps(LORA), "--max_steps", str(args.max_steps), "--do_eval", "false"),
        *("--save_strategy", "no", "--logging_steps", "1", "--output_dir", str(folder) + "-run"),
        *("--overwrite_output_dir", "true", "--report_to", "none"),
        *extra,
    ]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    metrics = run_reasoning.main(run_argv)
    result = {
        "recipe": args.recipe,
        "decoder": "random Llama-3.2-1B shape" if not args.tiny else "tiny random Llama (smoke)",
        "shape": TINY if args.tiny else LLAMA_1B,
        "lora": LORA,
        "dtype": "float16" if torch.cuda.is_available() else "float32",
        "max_steps": args.max_steps,
        "extra_arguments": extra,
        "build_seconds": round(built, 1),
        "train_seconds": round(time.perf_counter() - start, 1),
        "trainable_parameters_note": "LoRA adapters only",
        "train_loss": metrics.get("train_loss"),
    }
    if torch.cuda.is_available():
        result["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        result["device"] = torch.cuda.get_device_name()
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
