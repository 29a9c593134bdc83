#!/usr/bin/env python
"""
Fine-tune a causal LM to reason in latent space (embedding mixing or Coconut's continuous thoughts) with the stock
Trainer, then measure answer accuracy.

    python run_reasoning.py recipes/gsm8k/coconut.yaml [--any_argument value ...]
    accelerate launch --config_file recipes/accelerate/ddp.yaml run_reasoning.py recipes/gsm8k/latent_mixing.yaml

The recipe fills the model, data and TrainingArguments dataclasses; command-line arguments override it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, Trainer, TrainingArguments, set_seed

from modeling import LatentThoughtForCausalLM, LatentThoughtScheduleCallback
from training.arguments import load_recipe, parse_args
from training.data import check_columns, load_raw_splits, select_rows
from training.hub import push_output_dir
from training.model_setup import count_parameters
from training.reasoning import (
    DataCollatorForLatentThought,
    ReasoningDataArguments,
    ReasoningModelArguments,
    predict_problems,
    render_reasoning_card,
    tokenize_problems,
    write_jsonl,
)
from training.script_setup import find_checkpoint, setup_logging

logger = logging.getLogger(__name__)
ARGUMENT_CLASSES = (ReasoningModelArguments, ReasoningDataArguments, TrainingArguments)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "auto": "auto"}


def build_model(model_args: ReasoningModelArguments):
    """A trained checkpoint (its tokenizer beside it), or a pretrained decoder wrapped with new special tokens."""
    fields = model_args.config_fields()
    load_kwargs = {}
    if model_args.decoder_dtype:
        load_kwargs["dtype"] = DTYPES[model_args.decoder_dtype]
    if model_args.attn_implementation:
        load_kwargs["attn_implementation"] = model_args.attn_implementation
    if model_args.model_name_or_path:
        model = LatentThoughtForCausalLM.from_pretrained(model_args.model_name_or_path, **load_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
        for name, value in fields.items():
            if name == "decoder_lora" and value != model.config.decoder_lora:
                raise ValueError("`decoder_lora` cannot change on a trained checkpoint: start from the decoder.")
            setattr(model.config, name, value)
        model.config.validate_architecture()
    else:
        model, tokenizer = LatentThoughtForCausalLM.from_decoder_pretrained(
            model_args.decoder_name_or_path, **fields, **load_kwargs
        )
    return model, tokenizer


def main(argv: list[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, training_args = parse_args(argv, ARGUMENT_CLASSES)
    setup_logging(training_args, logger)
    logger.setLevel(training_args.get_process_log_level())
    logging.getLogger("training").setLevel(training_args.get_process_log_level())
    logger.info(f"Model arguments: {model_args}")
    logger.info(f"Data arguments: {data_args}")
    logger.info(f"Training arguments: {training_args}")
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # pushed at the end, with the model card, and without failing at start offline
    if training_args.do_train and not data_args.train_file:
        raise ValueError("do_train needs --train_file.")
    if training_args.do_eval and not data_args.validation_file:
        raise ValueError("do_eval needs --validation_file.")
    if training_args.do_predict and not data_args.test_file:
        raise ValueError("do_predict needs --test_file.")

    checkpoint = find_checkpoint(training_args, data_args)
    set_seed(training_args.seed)
    model, tokenizer = build_model(model_args)
    trainable, total = count_parameters(model)
    logger.info(f"Trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)")
    logger.info(
        f"Schedule {model.config.schedule}: reasoning {'on' if model.config.use_reasoning else 'off (no-CoT)'}, "
        f"mixing ratio {model.config.mixing_ratio}, Coconut stage {model.config.latent_stage}"
    )

    # -- data --------------------------------------------------------------------------------------------------------
    wanted = {"train": training_args.do_train, "validation": training_args.do_eval, "test": training_args.do_predict}
    files = {"train": data_args.train_file, "validation": data_args.validation_file, "test": data_args.test_file}
    raw = load_raw_splits(data_files={s: f for s, f in files.items() if wanted[s]}, splits=tuple(files))
    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_predict_samples,
    }
    splits = {}
    for split, needed in wanted.items():
        if needed:
            check_columns(raw[split], split, [data_args.question_column, data_args.answer_column])
            splits[split] = select_rows(raw[split], limits[split])
    train_dataset = None
    if training_args.do_train:
        with training_args.main_process_first(desc="tokenizing train"):
            train_dataset = tokenize_problems(splits["train"], tokenizer, model.config, data_args, "train")

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=DataCollatorForLatentThought(tokenizer.pad_token_id, data_args.pad_to_multiple_of),
        processing_class=tokenizer,
        callbacks=[LatentThoughtScheduleCallback()],
    )

    # -- train, evaluate, predict ----------------------------------------------------------------------------------
    metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        train_metrics = dict(result.metrics)
        if torch.cuda.is_available():
            train_metrics["train_peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        trainer.log_metrics("train", train_metrics)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()
        metrics.update({f"train_{k}" if not k.startswith("train") else k: v for k, v in train_metrics.items()})
    output_dir = Path(training_args.output_dir)
    generate_kwargs = {"max_new_tokens": model_args.max_new_tokens, **model_args.generation_kwargs}
    for split, prefix in (("validation", "eval"), ("test", "predict")):
        if split not in splits or not trainer.is_world_process_zero():
            continue
        records, split_metrics = predict_problems(
            trainer.model,
            tokenizer,
            list(splits[split]),
            data_args,
            training_args.per_device_eval_batch_size,
            **generate_kwargs,
        )
        split_metrics = {"split": split, **split_metrics, "schedule": model.config.schedule}
        output_dir.mkdir(parents=True, exist_ok=True)
        write_jsonl(output_dir / ("predictions.jsonl" if split == "validation" else "test_predictions.jsonl"), records)
        results_name = "eval_results.json" if split == "validation" else "predict_results.json"
        (output_dir / results_name).write_text(json.dumps(split_metrics, indent=2) + "\n")
        logger.info(f"{split}: {json.dumps(split_metrics)}")
        metrics.update({f"{prefix}_{k}": v for k, v in split_metrics.items() if isinstance(v, (int, float))})
        if split == "validation":
            metrics.update({k: v for k, v in split_metrics.items() if isinstance(v, (int, float))})
            for record in records[:3]:
                print(f"\n--- {split} example {record['id']} ---\nQUESTION: {record['question']}")
                print(f"GENERATED: {record['prediction']!r} (latent steps {record['latent_steps']})")
                print(f"ANSWER: {record['predicted_answer']} (reference {record['reference_answer']})")

    # -- card and hub -------------------------------------------------------------------------------------------------
    if trainer.is_world_process_zero():
        recipe = load_recipe(argv[0]) if argv and argv[0].endswith((".yaml", ".yml")) else {}
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "README.md").write_text(
            render_reasoning_card(
                model_name=training_args.hub_model_id or output_dir.name,
                config=model.config,
                dataset_name=Path(data_args.validation_file or data_args.train_file or "data").parent.name,
                recipe={"recipe": recipe, "command_line": argv[1:] if recipe else argv},
                metrics=metrics,
                trainable_parameters=trainable,
                total_parameters=total,
            )
        )
        if push_to_hub:
            push_output_dir(training_args)
    return metrics


if __name__ == "__main__":
    main()
