#!/usr/bin/env python
"""
Evaluate a trained latent-space summarizer: generate summaries for a split, score them with ROUGE, time it.

    python run_eval.py --model_name_or_path outputs/samsum-frozen --validation_file data/demo/validation.jsonl

Writes `predictions.jsonl` (id, dialogue, reference, prediction) and `eval_results.json` (ROUGE, mean length, the
share of summaries whose first named person speaks in the dialogue, speaker recall, throughput) to --output_dir (default: the model folder) and prints a short table.
"""

from __future__ import annotations

import training  # noqa: F401  # isort: skip  (first: hides a false bitsandbytes warning, see training/__init__.py)

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM, set_seed

from inference.latent_space_inference import check_checkpoint, default_max_source_length
from metrics import ROUGE_KEYS
from metrics.speakers import speaker_scores
from modeling import LatentSpaceProcessor
from training.arguments import parse_args
from training.data import check_columns, check_data_files, drop_empty_dialogues, load_raw_splits, select_rows
from training.evaluation import rouge_scores

logger = logging.getLogger(__name__)


@dataclass
class EvalArguments:
    model_name_or_path: str = field(metadata={"help": "A trained latent-space checkpoint: folder or Hub id."})
    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset (e.g. samsum)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    validation_file: str | None = field(default=None, metadata={"help": "Local json/jsonl/csv validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Local json/jsonl/csv test file."})
    split: str | None = field(default=None, metadata={"help": "validation or test (default: whichever is given)."})
    text_column: str = field(default="dialogue", metadata={"help": "Column holding the dialogue."})
    summary_column: str = field(default="summary", metadata={"help": "Column holding the reference summary."})
    id_column: str | None = field(default="id", metadata={"help": "Column with example ids."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate only this many rows."})
    max_source_length: int | None = field(
        default=None, metadata={"help": "Dialogue tokens kept (default: the length the checkpoint was trained with)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Dialogues per generation batch."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Summary length limit (model default)."})
    num_beams: int | None = field(default=None, metadata={"help": "Beam search width (default: the model's own)."})
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy/beam decoding."})
    temperature: float | None = field(default=None, metadata={"help": "Sampling temperature."})
    top_p: float | None = field(default=None, metadata={"help": "Nucleus sampling mass."})
    top_k: int | None = field(default=None, metadata={"help": "Top-k sampling."})
    repetition_penalty: float | None = field(default=None, metadata={"help": "Repetition penalty."})
    no_repeat_ngram_size: int | None = field(
        default=None, metadata={"help": "Forbid repeating n-grams of this size (model default)."}
    )
    cache_implementation: str | None = field(
        default=None,
        metadata={"help": "static: a fixed-size KV cache, with which generate compiles the decoding step on a GPU."},
    )
    decoding: str = field(
        default="generate",
        metadata={
            "help": "generate (transformers' generate, every setting) or compiled (a static-cache loop whose whole "
            "decoding step is one CUDA graph on a GPU: the same greedy tokens, much less host work; greedy or "
            "temperature/top_k/top_p sampling only). Use a large --batch_size (e.g. 256) with it on a GPU.",
            "choices": ["generate", "compiled"],
        },
    )
    output_dir: str | None = field(default=None, metadata={"help": "Where results go (default: the model folder)."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 ... (default: cuda if available)."})
    fp16: bool = field(default=False, metadata={"help": "Run the model in float16 (GPU)."})
    seed: int = field(default=42, metadata={"help": "Seed for sampling."})

    def __post_init__(self) -> None:
        if self.decoding not in ("generate", "compiled"):
            raise ValueError(f"`decoding` must be generate or compiled, got {self.decoding!r}.")
        if self.decoding == "compiled" and self.cache_implementation not in (None, "static"):
            raise ValueError("`decoding compiled` decodes over a static cache: leave `cache_implementation` unset.")
        if self.max_source_length is not None and self.max_source_length < 1:
            raise ValueError(f"`max_source_length` must be at least 1, got {self.max_source_length}.")

    def generation_kwargs(self) -> dict:
        names = (
            "max_new_tokens",
            "num_beams",
            "temperature",
            "top_p",
            "top_k",
            "repetition_penalty",
            "no_repeat_ngram_size",
            "cache_implementation",
        )
        kwargs = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        if self.do_sample:
            kwargs["do_sample"] = True
        if self.decoding == "compiled":
            kwargs.pop("cache_implementation", None)
            kwargs["decoding"] = "compiled"
        return kwargs


def choose_split(args: EvalArguments) -> tuple[str, dict[str, str]]:
    files = {"validation": args.validation_file, "test": args.test_file}
    files = {split: path for split, path in files.items() if path}
    if args.split is not None:
        return args.split, files
    if len(files) == 1:
        return next(iter(files)), files
    if args.dataset_name is None and not files:
        raise ValueError("Nothing to evaluate: give --validation_file, --test_file or --dataset_name (with --split).")
    return "validation" if "validation" in files or not files else "test", files


def main(argv: list[str] | None = None) -> dict[str, float]:
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s", level=logging.INFO, stream=sys.stdout)
    (args,) = parse_args(argv, classes=(EvalArguments,))
    split, files = choose_split(args)
    set_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    columns = [args.text_column, args.summary_column]
    # Checked before the model loads: a broken line fails in seconds and says where.
    check_data_files({split: files.get(split)}, columns, args.id_column)
    check_checkpoint(args.model_name_or_path)
    model = (
        AutoModelForSeq2SeqLM.from_pretrained(args.model_name_or_path, dtype=torch.float16 if args.fp16 else None)
        .to(device)
        .eval()
    )
    processor = LatentSpaceProcessor.from_pretrained(args.model_name_or_path)
    max_source_length = args.max_source_length
    if max_source_length is None:
        max_source_length = default_max_source_length(model, processor)

    raw = load_raw_splits(args.dataset_name, args.dataset_config_name, files, splits=(split,))
    if split not in raw:
        raise ValueError(f"The data has no {split!r} split; it has {list(raw)}.")
    check_columns(raw[split], split, columns + ([args.id_column] if args.id_column else []))
    dataset = drop_empty_dialogues(select_rows(raw[split], args.max_samples), args.text_column, split)

    predictions: list[str] = []
    generated_tokens, start = 0, time.perf_counter()
    for first in tqdm(range(0, len(dataset), args.batch_size), desc=f"Summarizing {split}"):
        rows = dataset[first : first + args.batch_size]
        inputs = processor(
            rows[args.text_column], max_source_length=max_source_length, padding=True, return_tensors="pt"
        ).to(device)
        output = model.generate(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], **args.generation_kwargs()
        )
        generated_tokens += int((output != processor.pad_token_id).sum())
        predictions.extend(processor.batch_decode(output))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    references = dataset[args.summary_column]
    results = rouge_scores(predictions, references)
    results.update(speaker_scores(predictions, dataset[args.text_column]))
    results.update(
        {
            "num_samples": len(predictions),
            "seconds": round(seconds, 3),
            "summaries_per_second": round(len(predictions) / seconds, 3),
            "generated_tokens_per_second": round(generated_tokens / seconds, 3),
            "split": split,
            "model": str(args.model_name_or_path),
            "device": str(device),
            "max_source_length": max_source_length,
            "generation": args.generation_kwargs(),
        }
    )

    output_dir = Path(args.output_dir or (args.model_name_or_path if Path(args.model_name_or_path).is_dir() else "."))
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "predictions.jsonl").open("w") as handle:
        for i, (row_dialogue, reference, prediction) in enumerate(
            zip(dataset[args.text_column], references, predictions, strict=True)
        ):
            row_id = dataset[i][args.id_column] if args.id_column else i
            record = {"id": row_id, "dialogue": row_dialogue, "reference": reference, "prediction": prediction}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    (output_dir / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n{'metric':<28}{'value':>10}")
    for key in (
        *ROUGE_KEYS,
        "gen_len",
        "first_name_is_speaker",
        "summaries_per_second",
        "generated_tokens_per_second",
    ):
        print(f"{key:<28}{results[key]:>10.2f}")
    print(
        f"\n{len(predictions)} {split} summaries -> {output_dir / 'predictions.jsonl'}, {output_dir / 'eval_results.json'}"
    )
    return results


if __name__ == "__main__":
    main()
