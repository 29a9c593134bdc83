"""Math word problems for causal-LM reasoners: arguments, GSM8K steps, tokenization, collation, prediction, card."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from metrics.answers import answers_match, extract_answer

from .arguments import _as_mapping
from .model_card import base_model_id

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
STEP_FORMATS = ("equations", "text")
_CALCULATION = re.compile(r"<<([^<>]*)>>")

# -- arguments ---------------------------------------------------------------------------------------------------------


@dataclass
class ReasoningModelArguments:
    """Which causal LM to wrap, how it moves its reasoning into latent space, and how it generates."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A trained latent-thought checkpoint (folder or Hub id) to start from."}
    )
    decoder_name_or_path: str = field(
        default="HuggingFaceTB/SmolLM2-135M-Instruct", metadata={"help": "Causal LM to wrap: Hub id or folder."}
    )
    schedule: str | None = field(default=None, metadata={"help": "none | mixing | coconut (default none)."})
    use_reasoning: bool | None = field(
        default=None, metadata={"help": "Train on <bot> steps <eot> (default); false is the no-CoT baseline."}
    )
    text_phase_fraction: float | None = field(default=None, metadata={"help": "Mixing: training share at ratio 0."})
    latent_phase_fraction: float | None = field(
        default=None, metadata={"help": "Mixing: training share over which the ratio ramps to its maximum."}
    )
    max_mixing_ratio: float | None = field(default=None, metadata={"help": "Mixing: ratio at the end of the ramp."})
    final_mixing_ratio: float | None = field(default=None, metadata={"help": "Mixing: ratio of the mixed phase."})
    latent_norm_matching: bool | None = field(
        default=None, metadata={"help": "RMS-normalise fed-back hidden states to the embedding scale."}
    )
    thoughts_per_step: int | None = field(default=None, metadata={"help": "Coconut: thoughts per replaced step."})
    max_latent_stage: int | None = field(default=None, metadata={"help": "Coconut: last counted stage."})
    epochs_per_stage: float | None = field(default=None, metadata={"help": "Coconut: epochs each stage lasts."})
    max_reasoning_steps: int | None = field(
        default=None, metadata={"help": "Mixing: most mixed positions at generation before <eot> is forced."}
    )
    ce_loss_weight: float | None = field(default=None, metadata={"help": "Weight of the cross-entropy."})
    mse_loss_weight: float | None = field(default=None, metadata={"help": "Weight of the latent MSE."})
    cosine_loss_weight: float | None = field(default=None, metadata={"help": "Weight of the latent 1 - cosine."})
    decoder_lora: str | None = field(
        default=None, metadata={"help": "peft LoraConfig arguments for the decoder, as a mapping (YAML) or JSON."}
    )
    decoder_dtype: str | None = field(
        default=None, metadata={"help": "dtype the decoder loads in: float32 | float16 | bfloat16 (default float32)."}
    )
    attn_implementation: str | None = field(default=None, metadata={"help": "eager | sdpa | flash_attention_2."})
    max_new_tokens: int = field(default=128, metadata={"help": "Written tokens allowed after the latent reasoning."})
    generation_kwargs: str | None = field(
        default=None,
        metadata={"help": "Other GenerationConfig settings as a mapping or JSON, e.g. {num_beams: 4}."},
    )

    def __post_init__(self) -> None:
        self.decoder_lora = _as_mapping(self.decoder_lora, "decoder_lora")
        self.generation_kwargs = _as_mapping(self.generation_kwargs, "generation_kwargs") or {}
        if self.decoder_dtype not in (None, "float32", "float16", "bfloat16", "auto"):
            raise ValueError(
                f"`decoder_dtype` must be float32, float16, bfloat16 or auto, got {self.decoder_dtype!r}."
            )
        if self.max_new_tokens < 1:
            raise ValueError(f"`max_new_tokens` must be at least 1, got {self.max_new_tokens}.")

    def config_fields(self) -> dict[str, Any]:
        """The LatentThoughtConfig fields this run sets (unset ones keep the config's or the checkpoint's)."""
        names = (
            "schedule",
            "use_reasoning",
            "text_phase_fraction",
            "latent_phase_fraction",
            "max_mixing_ratio",
            "final_mixing_ratio",
            "latent_norm_matching",
            "thoughts_per_step",
            "max_latent_stage",
            "epochs_per_stage",
            "max_reasoning_steps",
            "ce_loss_weight",
            "mse_loss_weight",
            "cosine_loss_weight",
            "decoder_lora",
        )
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass
class ReasoningDataArguments:
    """Local JSONL problems with a question and a worked solution ending in `#### N` (GSM8K's layout)."""

    train_file: str | None = field(default=None, metadata={"help": "Training problems (.jsonl/.json/.csv)."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation problems, for accuracy."})
    test_file: str | None = field(default=None, metadata={"help": "Test problems (do_predict)."})
    question_column: str = field(default="question", metadata={"help": "Column holding the problem."})
    answer_column: str = field(default="answer", metadata={"help": "Column holding the worked solution."})
    id_column: str | None = field(default="id", metadata={"help": "Column with example ids (kept in predictions)."})
    step_format: str = field(
        default="equations",
        metadata={
            "help": "equations: each <<a*b=c>> calculation is a step (GSM8k-Aug, as Coconut trains); text: each "
            "solution line, calculator annotations removed."
        },
    )
    max_length: int = field(default=384, metadata={"help": "Longest training sequence; longer rows are dropped."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many validation rows."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only this many test rows."})
    pad_to_multiple_of: int | None = field(default=8, metadata={"help": "Pad batch lengths to a multiple of this."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Start over instead of resuming from the last checkpoint in output_dir."}
    )

    def __post_init__(self) -> None:
        if not any((self.train_file, self.validation_file, self.test_file)):
            raise ValueError("No data: give --train_file and/or --validation_file/--test_file (local JSONL files).")
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path is None:
                continue
            if Path(path).suffix not in (".json", ".jsonl", ".csv"):
                raise ValueError(f"`{name}` must be .json, .jsonl or .csv, got {path}.")
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"`{name}` {path} does not exist (GSM8K lives in ../shared/data/gsm8k/ on this project's machines)."
                )
        if self.step_format not in STEP_FORMATS:
            raise ValueError(f"`step_format` must be one of {', '.join(STEP_FORMATS)}, got {self.step_format!r}.")
        if self.max_length < 8:
            raise ValueError(f"`max_length` must be at least 8, got {self.max_length}.")


# -- GSM8K solutions -> steps and answer -------------------------------------------------------------------------------


def split_solution(solution: str, step_format: str = "equations") -> tuple[list[str], str]:
    """
    `(steps, final answer)` of a GSM8K worked solution. With `equations`, each `<<48/2=24>>` calculation is one step
    (`48/2=24`), the GSM8k-Aug layout Coconut trains on; a solution without calculations falls back to its lines.
    With `text`, each line is a step, annotations removed. The final answer is what follows `####`, normalised.
    """
    body, _, final = solution.rpartition("####")
    if not _:
        body, final = solution, ""
    answer = extract_answer(f"#### {final}") if final.strip() else ""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    if step_format == "equations":
        calculations = [calc.strip() for calc in _CALCULATION.findall(body) if calc.strip()]
        if calculations:
            return calculations, answer or ""
    return [_CALCULATION.sub("", line).strip() for line in lines], answer or ""


# -- tokenization and batches ------------------------------------------------------------------------------------------


def question_ids(tokenizer, question: str) -> list[int]:
    """The prompt: the question and a newline, no special tokens (generation appends <bot> when the model reasons)."""
    return tokenizer(question.strip() + "\n", add_special_tokens=False)["input_ids"]


def encode_example(tokenizer, question: str, steps: list[str], answer: str, config) -> dict[str, list[int]]:
    """
    `question <bot> step1 step2 ... <eot> #### answer <eos>` (no `<bot>`/`<eot>` segment when the config trains
    without reasoning). Labels hide the question and `<bot>`; `step_ids` numbers each step's tokens from 1, which the
    Coconut schedule uses to replace the first steps by thoughts.
    """
    ids = question_ids(tokenizer, question)
    labels, step_ids = [IGNORE_INDEX] * len(ids), [0] * len(ids)
    if config.use_reasoning:
        ids, labels, step_ids = ids + [config.bot_token_id], labels + [IGNORE_INDEX], step_ids + [0]
        for number, step in enumerate(steps, start=1):
            step_tokens = tokenizer(step + "\n", add_special_tokens=False)["input_ids"]
            ids, labels, step_ids = ids + step_tokens, labels + step_tokens, step_ids + [number] * len(step_tokens)
        ids, labels, step_ids = ids + [config.eot_token_id], labels + [config.eot_token_id], step_ids + [0]
    answer_tokens = tokenizer(f"#### {answer}", add_special_tokens=False)["input_ids"] + [config.eos_token_id]
    return {
        "input_ids": ids + answer_tokens,
        "labels": labels + answer_tokens,
        "step_ids": step_ids + [0] * len(answer_tokens),
    }


def tokenize_problems(dataset, tokenizer, config, data_args: ReasoningDataArguments, split: str):
    """Tokenizes a split for training; rows longer than `max_length` are dropped (and counted in the log)."""

    def encode(row):
        steps, answer = split_solution(row[data_args.answer_column], data_args.step_format)
        return encode_example(tokenizer, row[data_args.question_column], steps, answer, config)

    tokenized = dataset.map(encode, remove_columns=dataset.column_names, desc=f"Tokenizing {split}")
    kept = tokenized.filter(lambda row: len(row["input_ids"]) <= data_args.max_length)
    if len(kept) < len(tokenized):
        logger.warning(
            f"{split}: dropped {len(tokenized) - len(kept)} rows longer than {data_args.max_length} tokens."
        )
    if len(kept) == 0:
        raise ValueError(f"Every {split} row is longer than max_length={data_args.max_length}.")
    return kept


@dataclass
class DataCollatorForLatentThought:
    """Right-pads `input_ids` / `labels` / `step_ids`; the model re-aligns rows at `<bot>` when thoughts need it."""

    pad_token_id: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch = {
            "input_ids": torch.full((len(features), length), self.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(features), length), dtype=torch.long),
            "labels": torch.full((len(features), length), IGNORE_INDEX, dtype=torch.long),
            "step_ids": torch.zeros((len(features), length), dtype=torch.long),
        }
        for row, feature in enumerate(features):
            size = len(feature["input_ids"])
            batch["input_ids"][row, :size] = torch.tensor(feature["input_ids"])
            batch["attention_mask"][row, :size] = 1
            batch["labels"][row, :size] = torch.tensor(feature["labels"])
            batch["step_ids"][row, :size] = torch.tensor(feature["step_ids"])
        return batch


# -- prediction --------------------------------------------------------------------------------------------------------


def _written_length(tokens: list[int], eos_token_id: int | None, pad_token_id: int | None) -> int:
    """Tokens the model wrote: up to and including its first EOS, or all of them."""
    if eos_token_id is not None and eos_token_id in tokens:
        return tokens.index(eos_token_id) + 1
    while tokens and tokens[-1] == pad_token_id:
        tokens = tokens[:-1]
    return len(tokens)


@torch.no_grad()
def predict_problems(
    model, tokenizer, rows: list[dict[str, Any]], data_args: ReasoningDataArguments, batch_size: int, **generate_kwargs
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """
    Answers every problem (left-padded batches, the model's latent reasoning, then the written answer) and scores
    it against the reference's `#### N`. Returns the prediction records and the metrics of `eval_results.json`.
    """
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    eos = model.config.eos_token_id
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    for first in tqdm(range(0, len(rows), batch_size), desc="Generating answers", unit="batch"):
        chunk = rows[first : first + batch_size]
        prompts = [question_ids(tokenizer, row[data_args.question_column]) for row in chunk]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        output = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, return_dict_in_generate=True, **generate_kwargs
        )
        for index, row in enumerate(chunk):
            tokens = output.sequences[index].tolist()
            written = tokens[: _written_length(tokens, eos, pad)]
            text = tokenizer.decode(written, skip_special_tokens=True).strip()
            _, reference = split_solution(row[data_args.answer_column], data_args.step_format)
            predicted = extract_answer(text)
            record = {
                "id": row.get(data_args.id_column, first + index) if data_args.id_column else first + index,
                "question": row[data_args.question_column],
                "prediction": text,
                "predicted_answer": predicted,
                "reference_answer": reference,
                "correct": answers_match(predicted, reference),
                "generated_tokens": len(written),
                "latent_steps": int(output.latent_steps[index]),
            }
            if output.reasoning_ids is not None:
                steps = output.reasoning_ids[index][: record["latent_steps"]].tolist()
                record["latent_reasoning_argmax"] = tokenizer.decode(steps, skip_special_tokens=False)
            records.append(record)
    seconds = time.perf_counter() - start
    count = max(len(records), 1)
    metrics = {
        "accuracy": sum(r["correct"] for r in records) / count,
        "mean_generated_tokens": sum(r["generated_tokens"] for r in records) / count,
        "mean_latent_steps": sum(r["latent_steps"] for r in records) / count,
        "mean_total_steps": sum(r["generated_tokens"] + r["latent_steps"] for r in records) / count,
        "examples_per_second": len(records) / seconds if seconds > 0 else 0.0,
        "num_examples": len(records),
    }
    return records, metrics


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    with Path(path).open("w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


# -- model card --------------------------------------------------------------------------------------------------------


def render_reasoning_card(
    model_name: str,
    config,
    dataset_name: str,
    recipe: dict[str, Any],
    metrics: dict[str, float],
    trainable_parameters: int,
    total_parameters: int,
) -> str:
    """README.md for a trained reasoner: front matter with the Hub base model and accuracy, then what it is."""
    base = base_model_id(config.decoder_name_or_path)
    front_matter: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["latent-reasoning", "continuous-thought", config.schedule, "generated_from_trainer"],
        "datasets": [dataset_name],
    }
    if base:
        front_matter["base_model"] = base
    if "accuracy" in metrics:
        front_matter["model-index"] = [
            {
                "name": model_name,
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "Math word problems"},
                        "dataset": {"type": dataset_name, "name": dataset_name, "split": "validation"},
                        "metrics": [{"type": "accuracy", "value": metrics["accuracy"], "name": "Accuracy"}],
                    }
                ],
            }
        ]
    method = {
        "none": "written chain of thought" if config.use_reasoning else "the answer without reasoning (no-CoT)",
        "mixing": (
            f"embedding mixing: at reasoning positions the input mixes the token embedding with the previous hidden "
            f"state (ratio {config.mixing_ratio:g} at the end of training)"
        ),
        "coconut": (
            f"Coconut's continuous thoughts: {config.num_thoughts()} thoughts replace the written steps "
            f"(stage {config.latent_stage}, {config.thoughts_per_step} per step)"
        ),
    }[config.schedule]
    rows = "\n".join(
        f"| {key.replace('_', ' ')} | {value:.4g} |"
        for key, value in metrics.items()
        if key in ("accuracy", "mean_generated_tokens", "mean_latent_steps", "mean_total_steps", "examples_per_second")
    )
    sections = [
        f"---\n{yaml.safe_dump(front_matter, sort_keys=False)}---",
        f"# {model_name}",
        f"`{config.decoder_name_or_path}` fine-tuned on {dataset_name} to reason with {method}; it reads a text "
        f"question and writes a text answer (`#### N`). Trainable parameters: {trainable_parameters:,} of "
        f"{total_parameters:,}.",
        "## How to use\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{model_name}", trust_remote_code=True)\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{model_name}")\n'
        'prompt = tokenizer(["Tom has 3 apples and buys 2 more. How many does he have?\\n"], return_tensors="pt")\n'
        "print(tokenizer.batch_decode(model.generate(**prompt, max_new_tokens=64), skip_special_tokens=True))\n```",
    ]
    if rows:
        sections.append(f"## Results on {dataset_name} (validation)\n\n| metric | value |\n| --- | --- |\n{rows}")
    sections.append(f"## Training recipe\n\n```json\n{json.dumps(recipe, indent=2, sort_keys=True, default=str)}\n```")
    return "\n\n".join(sections) + "\n"


__all__ = [
    "DataCollatorForLatentThought",
    "ReasoningDataArguments",
    "ReasoningModelArguments",
    "encode_example",
    "predict_problems",
    "question_ids",
    "render_reasoning_card",
    "split_solution",
    "tokenize_problems",
    "write_jsonl",
]
