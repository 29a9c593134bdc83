#!/usr/bin/env python
"""
Token-space baselines for BENCHMARKS.md table 1: the same decoder reads the dialogue itself, as a chat prompt.

    # zero-shot: the instruct decoder prompted with each dialogue
    python benchmarks/token_space_baseline.py --decoder backbones/SmolLM2-135M-Instruct \
        --validation_file ../shared/data/samsum/validation.jsonl --output benchmarks/results/zero_shot.json

    # LoRA fine-tune on "dialogue -> summary" prompts, with the data and budget of recipes/offline/lora.yaml
    python benchmarks/token_space_baseline.py --decoder backbones/SmolLM2-135M-Instruct \
        --train_file ../shared/data/samsum/train.jsonl ../shared/data/dialogsum/train.jsonl \
        --validation_file ../shared/data/samsum/validation.jsonl --epochs 2 \
        --output_dir outputs/token-space-lora --output benchmarks/results/token_space_lora.json

    # prompt tuning: the decoder stays frozen, 10 trained soft-prompt vectors go before the chat prompt
    python benchmarks/token_space_baseline.py ... --method prompt_tuning --learning_rate 1e-2

    # the LoRA model as a teacher (sequence-level distillation): after training, write summaries for unlabelled
    # dialogues, a JSONL of {id, dialogue, summary} that a latent recipe lists as one more train_file
    python benchmarks/token_space_baseline.py ... --label_file data/chitchat/train.jsonl \
        --label_output data/chitchat/teacher_summaries.jsonl --label_batch_size 256

The latent models compress the dialogue into one 256-d vector; these baselines give the decoder every dialogue token,
so the gap between them is what the bottleneck costs (or gains) at this decoder size and data budget. Prompt tuning is
the frozen-decoder case: a trained soft prompt, like the latent models', but with every dialogue token beside it, so it
bounds from above what a frozen decoder steered by a soft prompt can reach.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics import ROUGE_KEYS  # noqa: E402
from metrics.speakers import speaker_scores  # noqa: E402
from training.data import load_raw_splits  # noqa: E402
from training.evaluation import rouge_scores  # noqa: E402

INSTRUCTION = "Summarize this dialogue in one or two sentences.\n\n"


def prompt_ids(tokenizer: PreTrainedTokenizerBase, dialogue: str, max_source_length: int) -> list[int]:
    """The chat prompt around the dialogue (cut to `max_source_length` tokens, as the latent models see it)."""
    dialogue_ids = tokenizer(dialogue, add_special_tokens=False)["input_ids"][:max_source_length]
    messages = [{"role": "user", "content": INSTRUCTION + tokenizer.decode(dialogue_ids)}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)


def training_example(
    tokenizer: PreTrainedTokenizerBase, dialogue: str, summary: str, max_source_length: int, max_target_length: int
) -> dict[str, list[int]]:
    """Prompt + summary + end-of-turn; only the summary and its end token are targets."""
    prompt = prompt_ids(tokenizer, dialogue, max_source_length)
    target = tokenizer(summary, add_special_tokens=False)["input_ids"][:max_target_length] + [tokenizer.eos_token_id]
    return {
        "input_ids": prompt + target,
        "attention_mask": [1] * (len(prompt) + len(target)),
        "labels": [-100] * len(prompt) + target,
    }


@torch.no_grad()
def generate_summaries(
    model, tokenizer: PreTrainedTokenizerBase, dialogues: list[str], args: argparse.Namespace
) -> list[str]:
    """Greedy summaries, batched with left padding, longest prompts first."""
    model.eval()
    tokenizer.padding_side = "left"
    prompts = [prompt_ids(tokenizer, d, args.max_source_length) for d in dialogues]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    summaries: list[str] = [""] * len(prompts)
    for start in tqdm(range(0, len(order), args.batch_size), desc="Generating"):
        positions = order[start : start + args.batch_size]
        batch = tokenizer.pad({"input_ids": [prompts[i] for i in positions]}, return_tensors="pt").to(model.device)
        output = model.generate(
            **batch,
            max_new_tokens=args.max_new_tokens,
            no_repeat_ngram_size=args.no_repeat_ngram_size,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        texts = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        for position, text in zip(positions, texts, strict=True):
            summaries[position] = text.strip()
    return summaries


def with_adapter(model, args: argparse.Namespace):
    """The decoder wrapped for training: LoRA on its attention, or (frozen) with a trained soft prompt in front."""
    from peft import LoraConfig, PromptTuningConfig, get_peft_model

    if args.method == "prompt_tuning":
        adapter = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=args.num_virtual_tokens)
    else:
        adapter = LoraConfig(
            r=args.lora_r,
            lora_alpha=2 * args.lora_r,
            lora_dropout=0.05,
            target_modules=["q_proj", "v_proj"],
            task_type="CAUSAL_LM",
        )
    return get_peft_model(model, adapter)


def fine_tune(model, tokenizer: PreTrainedTokenizerBase, args: argparse.Namespace):
    """Trains the adapter with the stock Trainer on prompt -> summary pairs."""
    model = with_adapter(model, args)
    train = load_raw_splits(data_files={"train": args.train_file}, splits=("train",))["train"]
    features = train.map(
        lambda row: training_example(
            tokenizer, row["dialogue"], row["summary"], args.max_source_length, args.max_target_length
        ),
        remove_columns=train.column_names,
        desc="Tokenizing prompts",
    )
    tokenizer.padding_side = "right"
    training_args = TrainingArguments(
        output_dir=args.output_dir,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=8,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_steps=30,
        lr_scheduler_type="cosine",
        logging_steps=20,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
    )
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, pad_to_multiple_of=8)
    trainer = Trainer(model=model, args=training_args, train_dataset=features, data_collator=collator)
    result = trainer.train()
    return model, result.metrics, len(features)


def write_teacher_labels(model, tokenizer: PreTrainedTokenizerBase, args: argparse.Namespace) -> dict:
    """Sequence-level distillation data: the trained model's greedy summaries of unlabelled dialogues."""
    rows = [json.loads(line) for line in Path(args.label_file).read_text().splitlines() if line.strip()]
    rows = rows[: args.label_max_rows] if args.label_max_rows else rows
    if hasattr(model, "merge_and_unload") and args.method == "lora":
        model = model.merge_and_unload()  # one matrix per layer again: faster generation, same outputs
    start = time.perf_counter()
    labelling = argparse.Namespace(**{**vars(args), "batch_size": args.label_batch_size})
    summaries = generate_summaries(model, tokenizer, [row["dialogue"] for row in rows], labelling)
    seconds = time.perf_counter() - start
    Path(args.label_output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.label_output, "w") as handle:
        for row, summary in zip(rows, summaries, strict=True):
            if summary:  # an empty summary teaches nothing
                record = {"id": row["id"], "dialogue": row["dialogue"], "summary": summary, "source": "teacher"}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"Wrote {len(rows)} teacher summaries to {args.label_output} in {seconds:.0f} s")
    return {"file": args.label_file, "output": args.label_output, "rows": len(rows), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", required=True, help="Causal LM folder or Hub id (an instruct model).")
    parser.add_argument("--validation_file", required=True)
    parser.add_argument("--train_file", nargs="+", help="Fine-tune on these files first (else zero-shot).")
    parser.add_argument("--method", choices=["lora", "prompt_tuning"], default="lora", help="What trains.")
    parser.add_argument("--num_virtual_tokens", type=int, default=10, help="Soft-prompt length of prompt tuning.")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--learning_rate", type=float, default=5e-4)
    parser.add_argument("--lora_r", type=int, default=8)
    parser.add_argument("--max_source_length", type=int, default=256)
    parser.add_argument("--max_target_length", type=int, default=64)
    parser.add_argument("--max_new_tokens", type=int, default=60)
    parser.add_argument("--no_repeat_ngram_size", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_samples", type=int)
    parser.add_argument("--output_dir", default="outputs/token-space-lora")
    parser.add_argument("--output", help="Where to write the JSON result.")
    parser.add_argument(
        "--label_file", help="Unlabelled dialogues (JSONL with id, dialogue) for the model to summarize."
    )
    parser.add_argument("--label_output", help="Where the teacher summaries of --label_file go (JSONL).")
    parser.add_argument("--label_batch_size", type=int, default=128, help="Generation batch size for labelling.")
    parser.add_argument("--label_max_rows", type=int, help="Summarize only the first N rows of --label_file.")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for path in [args.validation_file, *(args.train_file or []), *([args.label_file] if args.label_file else [])]:
        if not Path(path).is_file():
            sys.exit(f"{path} does not exist (the shared data lives in ../shared/data beside the repo).")
    if bool(args.label_file) != bool(args.label_output):
        sys.exit("--label_file and --label_output go together.")

    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.decoder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.decoder, dtype=torch.float32)
    result: dict = {"baseline": "token-space zero-shot", "decoder": args.decoder, "seed": args.seed}
    if args.train_file:
        start = time.perf_counter()
        model, train_metrics, rows = fine_tune(model, tokenizer, args)
        result.update(
            baseline="token-space LoRA" if args.method == "lora" else "token-space prompt tuning",
            train_files=args.train_file,
            train_rows=rows,
            epochs=args.epochs,
            train_loss=round(train_metrics["train_loss"], 4),
            train_seconds=round(time.perf_counter() - start, 1),
            learning_rate=args.learning_rate,
        )
        if args.method == "lora":
            result["lora"] = {"r": args.lora_r, "alpha": 2 * args.lora_r, "target_modules": ["q_proj", "v_proj"]}
        else:
            result["num_virtual_tokens"] = args.num_virtual_tokens

    validation = load_raw_splits(data_files={"validation": args.validation_file}, splits=("validation",))
    validation = validation["validation"]
    if args.max_samples:
        validation = validation.select(range(min(args.max_samples, len(validation))))
    start = time.perf_counter()
    predictions = generate_summaries(model, tokenizer, validation["dialogue"], args)
    seconds = time.perf_counter() - start
    result.update(rouge_scores(predictions, validation["summary"]))
    result.update(speaker_scores(predictions, validation["dialogue"]))
    result.update(
        validation_file=args.validation_file,
        num_samples=len(predictions),
        generation_seconds=round(seconds, 1),
        examples=[
            {"reference": r, "prediction": p} for r, p in zip(validation["summary"][:3], predictions[:3], strict=True)
        ],
    )
    print(
        " | ".join(f"{k} {result[k]:.2f}" for k in (*ROUGE_KEYS, "first_name_is_speaker")),
        f"| gen_len {result['gen_len']:.1f}",
    )
    if args.label_file:
        result["labels"] = write_teacher_labels(model, tokenizer, args)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
