#!/usr/bin/env python
"""
CALM student against its teacher: generation speed and quality on held-out text.

    python benchmarks/calm_generation.py --model outputs/calm-student \
        --teacher backbones/SmolLM2-135M-Instruct --validation_file outputs/calm-corpus/validation.jsonl \
        --batch_sizes 1 32 --max_new_tokens 128 --output outputs/calm_generation.json

Speed (both greedy, no EOS stop, so both write exactly `--max_new_tokens` tokens from the same contexts): tokens/s,
latency per token (wall time of a batch / tokens per row), autoregressive steps (student: one per K tokens; teacher:
one per token) and the throughput ratio, at each batch size.
Quality: BrierLM (CALM's likelihood-free score: for each held-out context two sampled continuations x1, x2 and the
true one y give the unbiased estimate I(x1=y) + I(x2=y) - I(x1=x2) of the Brier score of the first n tokens, n=1..4;
BrierLM is 100 x their geometric mean) for student and teacher at temperature 1; the teacher's perplexity of the
student's sampled continuations (and of its own, and of the true text, for scale); a few samples.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import modeling  # noqa: F401,E402  (registers CALM with the Auto classes)
from training.calm_data import read_texts  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def held_out_contexts(
    texts: list[str], tokenizer, context_tokens: int, continuation_tokens: int, count: int, seed: int
):
    """(context ids, true continuation ids) from texts long enough for both, in a seeded order."""
    rows = []
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    for index in order:
        ids = tokenizer(texts[index], add_special_tokens=False)["input_ids"]
        if len(ids) >= context_tokens + continuation_tokens:
            rows.append((ids[:context_tokens], ids[context_tokens : context_tokens + continuation_tokens]))
        if len(rows) == count:
            break
    if len(rows) < count:
        raise ValueError(f"Only {len(rows)} held-out texts have {context_tokens + continuation_tokens} tokens.")
    return rows


def student_generate(student, ids: torch.Tensor, new_tokens: int, **sampling) -> tuple[torch.Tensor, int]:
    out = student.generate(input_ids=ids, max_new_tokens=new_tokens, stop_at_eos=False, **sampling)
    return out.sequences, out.ar_steps


def teacher_generate(teacher, ids: torch.Tensor, new_tokens: int, **sampling) -> tuple[torch.Tensor, int]:
    temperature = sampling.get("temperature", 0.0)
    kwargs: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": sampling.get("top_p", 1.0), "top_k": 0}
    if sampling.get("seed") is not None:
        torch.manual_seed(sampling["seed"])
    out = teacher.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=teacher.config.eos_token_id
        if teacher.config.pad_token_id is None
        else teacher.config.pad_token_id,
        **kwargs,
    )
    return out[:, ids.shape[1] :], new_tokens


def time_generation(fn, model, contexts, batch_size: int, new_tokens: int, repeats: int, device) -> dict[str, float]:
    """Greedy generation of `new_tokens` for `repeats` batches of `batch_size` contexts (after one warm-up batch)."""
    batches = [contexts[(i * batch_size) % len(contexts) :][:batch_size] for i in range(repeats + 1)]
    batches = [b if len(b) == batch_size else (b + contexts)[:batch_size] for b in batches]
    seconds = steps = 0.0
    for number, batch in enumerate(batches):
        ids = torch.tensor([c for c, _ in batch], device=device)
        synchronize(device)
        start = time.perf_counter()
        _, ar_steps = fn(model, ids, new_tokens, temperature=0.0)
        synchronize(device)
        if number > 0:  # the first batch warms up kernels and caches
            seconds += time.perf_counter() - start
            steps += ar_steps
    tokens = repeats * batch_size * new_tokens
    return {
        "tokens_per_second": tokens / seconds,
        "latency_ms_per_token": 1000 * seconds / (repeats * new_tokens),
        "ar_steps": steps / repeats,
        "seconds": seconds,
    }


def brier_scores(fn, model, contexts, device, batch_size: int, seed: int) -> dict[str, float]:
    """Brier-1..4 and BrierLM from two temperature-1 samples of 4 tokens per context."""
    n_max = 4
    sums = [0.0] * n_max
    for start in range(0, len(contexts), batch_size):
        batch = contexts[start : start + batch_size]
        ids = torch.tensor([c for c, _ in batch], device=device)
        first, _ = fn(model, ids, n_max, temperature=1.0, top_p=1.0, seed=seed + start)
        second, _ = fn(model, ids, n_max, temperature=1.0, top_p=1.0, seed=seed + start + 1_000_003)
        truth = torch.tensor([y[:n_max] for _, y in batch], device=device)
        for n in range(1, n_max + 1):
            x1, x2, y = first[:, :n], second[:, :n], truth[:, :n]
            hit = (x1 == y).all(-1).float() + (x2 == y).all(-1).float() - (x1 == x2).all(-1).float()
            sums[n - 1] += float(hit.sum())
    brier = [s / len(contexts) for s in sums]
    positive = all(b > 0 for b in brier)
    brier_lm = 100 * math.exp(sum(math.log(b) for b in brier) / n_max) if positive else 0.0
    return {**{f"brier_{n}": b for n, b in enumerate(brier, start=1)}, "brier_lm": brier_lm}


@torch.no_grad()
def teacher_perplexity(teacher, contexts, continuations: torch.Tensor, device, batch_size: int) -> float:
    """exp(mean NLL) the teacher gives `continuations` after their contexts (tokens after an EOS are skipped)."""
    total = count = 0.0
    eos = teacher.config.eos_token_id
    for start in range(0, len(contexts), batch_size):
        ctx = torch.tensor([c for c, _ in contexts[start : start + batch_size]], device=device)
        cont = continuations[start : start + batch_size].to(device)
        ids = torch.cat((ctx, cont), dim=1)
        logits = teacher(input_ids=ids).logits[:, ctx.shape[1] - 1 : -1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), cont, reduction="none")
        keep = torch.ones_like(cont, dtype=torch.bool)
        if eos is not None:
            after_eos = (cont == eos).int().cumsum(-1) - (cont == eos).int()
            keep = after_eos == 0
        total += float((nll * keep).sum())
        count += float(keep.sum())
    return math.exp(total / max(count, 1))


def run(
    student,
    teacher,
    tokenizer,
    texts: list[str],
    device: torch.device,
    batch_sizes: list[int],
    max_new_tokens: int = 128,
    context_tokens: int = 64,
    repeats: int = 5,
    brier_contexts: int = 256,
    quality_contexts: int = 32,
    temperature: float = 0.8,
    top_p: float = 0.9,
    num_samples: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    k = student.config.patch_size
    if context_tokens % k:
        raise ValueError(f"--context_tokens ({context_tokens}) must be a multiple of K={k}.")
    needed = max(max(batch_sizes), brier_contexts, quality_contexts)
    contexts = held_out_contexts(texts, tokenizer, context_tokens, max(max_new_tokens, 4), needed, seed)
    result: dict[str, Any] = {"K": k, "max_new_tokens": max_new_tokens, "context_tokens": context_tokens, "speed": {}}
    for batch_size in batch_sizes:
        row = {}
        for name, fn, model in (("student", student_generate, student), ("teacher", teacher_generate, teacher)):
            row[name] = time_generation(fn, model, contexts, batch_size, max_new_tokens, repeats, device)
        row["throughput_ratio"] = row["student"]["tokens_per_second"] / row["teacher"]["tokens_per_second"]
        row["ar_step_reduction"] = row["teacher"]["ar_steps"] / row["student"]["ar_steps"]
        result["speed"][f"batch_{batch_size}"] = row
        print(
            f"batch {batch_size}: student {row['student']['tokens_per_second']:.1f} tok/s "
            f"({row['student']['ar_steps']:.0f} steps), teacher {row['teacher']['tokens_per_second']:.1f} tok/s "
            f"({row['teacher']['ar_steps']:.0f} steps), ratio {row['throughput_ratio']:.2f}",
            flush=True,
        )
    quality_batch = min(32, max(batch_sizes))
    brier_set = contexts[:brier_contexts]
    result["brier"] = {
        "contexts": len(brier_set),
        "student": brier_scores(student_generate, student, brier_set, device, quality_batch, seed),
        "teacher": brier_scores(teacher_generate, teacher, brier_set, device, quality_batch, seed),
    }
    quality = contexts[:quality_contexts]
    ids = torch.tensor([c for c, _ in quality], device=device)
    sampling = {"temperature": temperature, "top_p": top_p, "seed": seed}
    student_out, _ = student_generate(student, ids, max_new_tokens, **sampling)
    teacher_out, _ = teacher_generate(teacher, ids, max_new_tokens, **sampling)
    truth = torch.tensor([y[:max_new_tokens] for _, y in quality])
    result["teacher_perplexity"] = {
        "sampling": sampling,
        "contexts": len(quality),
        "of_student_continuations": teacher_perplexity(teacher, quality, student_out, device, quality_batch),
        "of_teacher_continuations": teacher_perplexity(teacher, quality, teacher_out, device, quality_batch),
        "of_true_continuations": teacher_perplexity(teacher, quality, truth, device, quality_batch),
    }
    result["samples"] = [
        {
            "context": tokenizer.decode(quality[i][0]),
            "student": tokenizer.decode(student_out[i], skip_special_tokens=True),
            "teacher": tokenizer.decode(teacher_out[i], skip_special_tokens=True),
            "truth": tokenizer.decode(quality[i][1][:max_new_tokens]),
        }
        for i in range(min(num_samples, len(quality)))
    ]
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"K={result['K']}, {result['max_new_tokens']} new tokens after {result['context_tokens']} context tokens",
        "| batch | model | tokens/s | ms/token | AR steps | throughput ratio |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["speed"].items():
        for model in ("student", "teacher"):
            r = row[model]
            ratio = f"{row['throughput_ratio']:.2f}" if model == "student" else ""
            lines.append(
                f"| {name[6:]} | {model} | {r['tokens_per_second']:.1f} | {r['latency_ms_per_token']:.2f} | "
                f"{r['ar_steps']:.0f} | {ratio} |"
            )
    b = result["brier"]
    lines += [
        "",
        f"| model | Brier-1 | Brier-2 | Brier-3 | Brier-4 | BrierLM ({b['contexts']} contexts) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model in ("student", "teacher"):
        s = b[model]
        lines.append(
            f"| {model} | {s['brier_1']:.4f} | {s['brier_2']:.4f} | {s['brier_3']:.4f} | {s['brier_4']:.4f} | "
            f"{s['brier_lm']:.2f} |"
        )
    p = result["teacher_perplexity"]
    lines.append(
        f"\nTeacher perplexity of continuations: student {p['of_student_continuations']:.1f}, teacher "
        f"{p['of_teacher_continuations']:.1f}, true text {p['of_true_continuations']:.1f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="CALM student folder.")
    parser.add_argument("--teacher", default="backbones/SmolLM2-135M-Instruct")
    parser.add_argument("--validation_file", required=True, help="Held-out texts (.jsonl with a text column).")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--max_new_tokens", type=int, default=128)
    parser.add_argument("--context_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="Timed batches per batch size (after one warm-up).")
    parser.add_argument("--brier_contexts", type=int, default=256)
    parser.add_argument("--quality_contexts", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.8, help="Sampling for the perplexity check.")
    parser.add_argument("--top_p", type=float, default=0.9)
    parser.add_argument("--num_samples", type=int, default=5)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 (default: bfloat16 on CUDA).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file for the results.")
    args = parser.parse_args(argv)
    for path in (args.model, args.validation_file):
        if not Path(path).exists():
            parser.error(f"{path} does not exist.")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    student = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype).to(device).eval()
    teacher = AutoModelForCausalLM.from_pretrained(args.teacher, dtype=dtype).to(device).eval()
    texts = read_texts(args.validation_file)
    result = run(
        student, teacher, tokenizer, texts, device, args.batch_sizes, args.max_new_tokens, args.context_tokens,
        args.repeats, args.brier_contexts, args.quality_contexts, args.temperature, args.top_p, args.num_samples,
        args.seed,
    )  # fmt: skip
    result["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result["dtype"] = str(dtype)
    table = format_table(result)
    print(table)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps({**result, "table": table}, indent=2))
    return result


if __name__ == "__main__":
    main()
