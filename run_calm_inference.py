#!/usr/bin/env python
"""
Continue a prompt with a trained CALM student, K tokens per autoregressive step, and print the continuation.

    python run_calm_inference.py --model outputs/calm-student --prompt "Once upon a time" --max_new_tokens 64
    python run_calm_inference.py --model outputs/calm-student --prompt "A: hi!" --temperature 0   # greedy

Sampling follows the seed's infer.py: --temperature (0 = greedy), --top_p, --top_k (0 = off), --seed.
"""

from __future__ import annotations

import argparse
import json
import sys

from inference.calm_inference import SAMPLING_DEFAULTS, CalmInference, check_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A student folder as run_calm.py saves it, or a Hub id.")
    parser.add_argument("--prompt", required=True, help="Text to continue (\\n for line breaks).")
    parser.add_argument("--max_new_tokens", type=int, default=SAMPLING_DEFAULTS["max_new_tokens"])
    parser.add_argument("--temperature", type=float, default=SAMPLING_DEFAULTS["temperature"])
    parser.add_argument("--top_p", type=float, default=SAMPLING_DEFAULTS["top_p"])
    parser.add_argument("--top_k", type=int, default=SAMPLING_DEFAULTS["top_k"])
    parser.add_argument("--seed", type=int, default=SAMPLING_DEFAULTS["seed"])
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available).")
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: as saved).")
    parser.add_argument("--json", action="store_true", help="Print a JSON object (text, tokens, AR steps).")
    args = parser.parse_args(argv)
    try:
        check_settings(args.max_new_tokens, args.temperature, args.top_p, args.top_k, args.seed)
    except ValueError as error:
        parser.error(str(error))
    if not args.prompt:
        parser.error("--prompt must not be empty.")
    prompt = args.prompt.replace("\\n", "\n")
    try:
        calm = CalmInference.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    result = calm.generate(
        prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
        top_k=args.top_k, seed=args.seed,
    )  # fmt: skip
    if args.json:
        print(json.dumps({"prompt": prompt, **result._asdict(), "compression_factor": calm.patch_size}))
    else:
        print(prompt + result.text)
        print(
            f"[{result.num_tokens} tokens in {result.ar_steps} autoregressive steps, K={calm.patch_size}]",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
