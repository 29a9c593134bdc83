"""
Does leading padding give NaN gradients? One forward and backward of a causal LM on a batch whose short row is
padded either before its text (leading: the padded positions attend to nothing) or in the middle (after its first
tokens, as Coconut's alignment now pads), under bf16 autocast, once per SDPA backend. Prints one line per case and
writes JSON. This is the check behind issue 14's Coconut NaN gradients (BENCHMARKS, "Latent-thought reasoning").

    python benchmarks/padding_nan_check.py --decoder backbones/SmolLM2-135M-Instruct --output nan.json
"""

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modeling.latent_thought.modeling_latent_thought import positions_from_mask  # noqa: E402

BACKENDS = {
    "default": None,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}


def padded_batch(long: int, short: int, layout: str, vocab: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of `long` columns: one full, one with `short` tokens padded `leading` or in the `middle`."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, vocab, (2, long), generator=generator)
    mask = torch.ones(2, long, dtype=torch.long)
    pad = long - short
    if layout == "leading":
        mask[1, :pad] = 0
    else:  # the first 8 tokens, then the padding, then the rest
        mask[1, 8 : 8 + pad] = 0
    return ids.to(device), mask.to(device)


def run_case(model, ids, mask, backend) -> dict:
    model.zero_grad(set_to_none=True)
    labels = ids.masked_fill(mask == 0, -100)
    try:
        context = sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext()
        with context, torch.autocast(ids.device.type, dtype=torch.bfloat16):
            loss = model(
                input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask), labels=labels
            ).loss
        loss.backward()
    except RuntimeError as error:  # a backend that does not support this case
        return {"error": str(error).splitlines()[0][:160]}
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    finite = all(bool(torch.isfinite(g).all()) for g in grads)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])).item()
    return {"loss": loss.item(), "grads_finite": finite, "grad_norm": norm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", default="backbones/SmolLM2-135M-Instruct")
    parser.add_argument("--long", type=int, default=320)
    parser.add_argument("--shorts", default="300,200,100,20")
    parser.add_argument("--output")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(args.decoder, attn_implementation="sdpa").to(device)
    results = []
    for short in [int(s) for s in args.shorts.split(",")]:
        for layout in ("leading", "middle"):
            ids, mask = padded_batch(args.long, short, layout, model.config.vocab_size, device)
            for name, backend in BACKENDS.items():
                if device == "cpu" and name == "cudnn":
                    continue
                result = {"padding": args.long - short, "layout": layout, "backend": name}
                result.update(run_case(model, ids, mask, backend))
                print(json.dumps(result), flush=True)
                results.append(result)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(
                {
                    "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                    "torch": torch.__version__,
                    "results": results,
                },
                handle,
                indent=1,
            )


if __name__ == "__main__":
    main()
