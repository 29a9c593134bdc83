#!/usr/bin/env python
"""
Fine-tune a latent-space summarizer with the stock Seq2SeqTrainer.

    python run_summarization.py recipes/samsum/frozen.yaml [--any_argument value ...]
    accelerate launch --config_file recipes/accelerate/ddp.yaml run_summarization.py recipes/samsum/lora.yaml

The recipe fills the model, data and Seq2SeqTrainingArguments dataclasses; command-line arguments override it.
"""

from __future__ import annotations

import training  # noqa: F401  # isort: skip  (first: hides a false bitsandbytes warning, see training/__init__.py)

import json
import logging
import sys
from pathlib import Path

from transformers import set_seed

from data_collators import DataCollatorForLatentPrefix
from training.arguments import load_recipe, parse_args
from training.callbacks import TimeBudgetCallback
from training.data import (
    check_columns,
    check_data_files,
    drop_empty_dialogues,
    load_raw_splits,
    select_rows,
    tokenize_split,
)
from training.evaluation import build_compute_metrics, decode_generated
from training.feature_cache import attach_feature_cache
from training.fixed_shapes import LengthGroupedSeq2SeqTrainer, compiled_graphs, configure_compile, sequence_lengths
from training.hub import push_output_dir
from training.model_card import write_model_card
from training.model_setup import build_model_and_processor, count_parameters
from training.script_setup import find_checkpoint, setup_logging

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, training_args = parse_args(argv)
    setup_logging(training_args, logger)
    logger.info(f"Model arguments: {model_args}")
    logger.info(f"Data arguments: {data_args}")
    logger.info(f"Training arguments: {training_args}")
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # pushed at the end, with the model card, and without failing at start offline

    # Local files are read once before any backbone loads, so a broken line fails in seconds and says where.
    wanted = {"train": training_args.do_train, "validation": training_args.do_eval, "test": training_args.do_predict}
    data_files = {"train": data_args.train_file, "validation": data_args.validation_file, "test": data_args.test_file}
    check_data_files(
        {split: files for split, files in data_files.items() if wanted[split]},
        [data_args.text_column, data_args.summary_column],
        data_args.id_column,
    )
    # Compiling with per-batch padding recompiles for every new length: refused here, before anything loads.
    configure_compile(
        training_args.torch_compile, data_args.source_buckets, data_args.target_buckets, data_args.compile_shapes
    )
    checkpoint = find_checkpoint(training_args, data_args)
    set_seed(training_args.seed)
    model, processor = build_model_and_processor(model_args)
    # Saved with the encoder tokenizer, so inference (run_eval.py, LatentSpaceInference) cuts dialogues as training did.
    processor.encoder_tokenizer.model_max_length = data_args.max_source_length
    trainable, total = count_parameters(model)
    logger.info(f"Trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)")

    # -- data --------------------------------------------------------------------------------------------------------
    raw = load_raw_splits(
        data_args.dataset_name,
        data_args.dataset_config_name,
        data_files,
        splits=tuple(split for split, needed in wanted.items() if needed),
    )
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples}
    limits["test"] = data_args.max_predict_samples
    splits, tokenized = {}, {}
    for split, needed in wanted.items():
        if not needed:
            continue
        if split not in raw:
            raise ValueError(
                f"A {split} split is needed (do_{'eval' if split == 'validation' else split}) but none was given."
            )
        check_columns(raw[split], split, [data_args.text_column, data_args.summary_column])
        dataset = select_rows(raw[split], limits[split])
        splits[split] = drop_empty_dialogues(
            dataset, data_args.text_column, split, data_args.preprocessing_num_workers
        )
        with training_args.main_process_first(desc=f"tokenizing {split}"):
            tokenized[split] = tokenize_split(
                splits[split],
                processor,
                split,
                data_args.text_column,
                data_args.summary_column,
                data_args.max_source_length,
                data_args.max_target_length,
                data_args.preprocessing_num_workers,
            )

    collator = DataCollatorForLatentPrefix(
        processor.encoder_tokenizer,
        processor.decoder_tokenizer,
        pad_to_multiple_of=data_args.pad_to_multiple_of,
        max_target_length=data_args.max_target_length,
        source_buckets=data_args.source_buckets,
        target_buckets=data_args.target_buckets,
    )
    cached = data_args.use_feature_cache and "train" in tokenized
    if cached:
        tokenized["train"], collator = attach_feature_cache(
            model, tokenized["train"], collator, training_args, data_args.feature_cache_dir
        )
    train_lengths = None
    if "train" in tokenized and training_args.train_sampling_strategy == "group_by_length":
        # Grouped by what costs: the summary once the encoder's outputs are cached, else the dialogue.
        by = "labels" if cached else "input_ids"
        train_lengths = sequence_lengths(tokenized["train"], by)
        logger.info(f"Training batches grouped by the length of their {'summaries' if cached else 'dialogues'}.")

    trainer = LengthGroupedSeq2SeqTrainer(
        train_lengths=train_lengths,
        model=model,
        args=training_args,
        train_dataset=tokenized.get("train"),
        eval_dataset=tokenized.get("validation"),
        data_collator=collator,
        processing_class=processor,
        compute_metrics=build_compute_metrics(processor) if training_args.predict_with_generate else None,
        callbacks=[TimeBudgetCallback(data_args.max_train_minutes)] if data_args.max_train_minutes else None,
    )

    # -- train, evaluate, predict ----------------------------------------------------------------------------------
    metrics: dict[str, float] = {}
    if training_args.do_train:
        graphs_before = compiled_graphs()
        result = trainer.train(resume_from_checkpoint=checkpoint)
        if training_args.torch_compile:
            result.metrics["train_compiled_graphs"] = compiled_graphs() - graphs_before
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update({f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()})
    examples: list[dict[str, str]] = []
    if training_args.do_eval:
        eval_metrics = trainer.evaluate(metric_key_prefix="eval")
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
        examples = example_summaries(trainer, tokenized["validation"], splits["validation"], data_args, processor)
    if training_args.do_predict:
        prediction = trainer.predict(tokenized["test"], metric_key_prefix="predict")
        trainer.log_metrics("predict", prediction.metrics)
        trainer.save_metrics("predict", prediction.metrics)
        metrics.update(prediction.metrics)
        if trainer.is_world_process_zero() and training_args.predict_with_generate:
            write_predictions(
                Path(training_args.output_dir) / "generated_predictions.jsonl",
                splits["test"],
                decode_generated(prediction.predictions, processor),
                data_args,
            )

    # -- card and hub -------------------------------------------------------------------------------------------------
    if trainer.is_world_process_zero():
        recipe = load_recipe(argv[0]) if argv and argv[0].endswith((".yaml", ".yml")) else {}
        write_model_card(
            training_args.output_dir,
            model_name=training_args.hub_model_id or Path(training_args.output_dir).name,
            config=model.config,
            dataset_name=data_args.dataset_name,
            data_files=local_data_files(data_args, wanted) if not data_args.dataset_name else None,
            recipe={"recipe": recipe, "command_line": argv[1:] if recipe else argv},
            metrics=metrics,
            trainable_parameters=trainable,
            total_parameters=total,
            examples=examples,
        )
        print_examples(examples)
        if push_to_hub:
            if not model.config.save_backbones:
                # Lean saves point at backbone folders on this machine; a pushed model must load anywhere.
                model.keep_backbones_in_checkpoints(True)
                trainer.save_model()
            push_output_dir(training_args)
    return metrics


def local_data_files(data_args, wanted: dict[str, bool]) -> dict[str, list[str]]:
    """For the card: the local files each split used came from (the card maps known corpora to Hub datasets)."""
    files = {
        "train": data_args.train_file or [],
        "validation": [data_args.validation_file],
        "test": [data_args.test_file],
    }
    return {split: [f for f in files[split] if f] for split, needed in wanted.items() if needed}


def example_summaries(trainer, tokenized, raw, data_args, processor, count: int = 3) -> list[dict[str, str]]:
    """A few validation summaries for the log and the model card."""
    count = min(count, len(tokenized))
    if count == 0 or not trainer.args.predict_with_generate:
        return []
    prediction = trainer.predict(tokenized.select(range(count)), metric_key_prefix="examples")
    texts = decode_generated(prediction.predictions, processor)
    return [
        {
            "dialogue": raw[i][data_args.text_column],
            "reference": raw[i][data_args.summary_column],
            "prediction": texts[i],
        }
        for i in range(count)
    ]


def print_examples(examples: list[dict[str, str]]) -> None:
    """A few validation summaries on stdout whatever the log level: the quickest check that training worked."""
    for number, example in enumerate(examples, start=1):
        print(f"\n--- validation example {number} ---")
        print(f"DIALOGUE:\n{example['dialogue']}")
        print(f"REFERENCE: {example['reference']}")
        print(f"GENERATED: {example['prediction']}")


def write_predictions(path: Path, raw, predictions: list[str], data_args) -> None:
    with path.open("w") as handle:
        for i, prediction in enumerate(predictions):
            row = raw[i]
            record = {
                "id": row.get(data_args.id_column, i) if data_args.id_column else i,
                "dialogue": row[data_args.text_column],
                "reference": row[data_args.summary_column],
                "prediction": prediction,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    logger.info(f"Wrote {len(predictions)} predictions to {path}")


if __name__ == "__main__":
    main()
