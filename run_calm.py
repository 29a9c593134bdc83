#!/usr/bin/env python
"""
Train either stage of a CALM-style continuous autoregressive LM with the stock Trainer.

    python run_calm.py recipes/calm/autoencoder.yaml          # stage 1: K tokens <-> one latent vector
    python run_calm.py recipes/calm/student.yaml              # stage 2: predict latents, distilled from the teacher
    accelerate launch run_calm.py recipes/calm/student.yaml --kd_weight 2.0 --output_dir outputs/calm-kd2

The recipe fills the three dataclasses below and TrainingArguments; command-line arguments override it. In stage 2
the autoencoder is frozen and the teacher (a causal LM with the same tokenizer) is only read.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

from modeling import CalmAutoencoder, CalmAutoencoderConfig, CalmConfig, CalmForCausalLM
from modeling.calm.configuration_calm import DEFAULT_TEACHER
from training.arguments import load_recipe, parse_args
from training.calm import (
    StopAfterMinutesCallback,
    latent_statistics,
    reconstruction_metrics,
    student_metrics,
    write_calm_card,
)
from training.calm_data import tokenized_blocks
from training.hub import push_output_dir
from training.script_setup import find_checkpoint, setup_logging

logger = logging.getLogger(__name__)

STAGES = ("autoencoder", "student")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AUTOENCODER_FIELDS = (
    "patch_size",
    "latent_size",
    "num_encoder_layers",
    "num_decoder_layers",
    "hidden_dropout",
    "token_dropout",
    "latent_dropout",
    "kl_weight",
    "kl_clamp",
)
STUDENT_FIELDS = (
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "dropout",
    "mse_weight",
    "ce_weight",
    "kd_weight",
    "kd_temperature",
)


@dataclass
class CalmModelArguments:
    """Which stage trains, from what, and the sizes of the model being trained (None: the config's default)."""

    stage: str = field(default="autoencoder", metadata={"help": "autoencoder | student."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A trained autoencoder or student folder to continue from instead of new."}
    )
    autoencoder_name_or_path: str | None = field(
        default=None, metadata={"help": "Stage 2: the trained autoencoder folder (frozen while the student trains)."}
    )
    teacher_name_or_path: str = field(
        default=DEFAULT_TEACHER, metadata={"help": "Token-level teacher (causal LM): Hub id or folder."}
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Tokenizer (default: the teacher's; the student must share it)."}
    )
    teacher_dtype: str = field(default="bfloat16", metadata={"help": "float32 | bfloat16 | float16 for the teacher."})
    hidden_size: int | None = field(default=None, metadata={"help": "Width of the model this stage trains."})
    intermediate_size: int | None = field(default=None, metadata={"help": "MLP width of the model this stage trains."})
    patch_size: int | None = field(default=None, metadata={"help": "Autoencoder: K, tokens per latent (default 8)."})
    latent_size: int | None = field(default=None, metadata={"help": "Autoencoder: D, latent size (default 1024)."})
    num_encoder_layers: int | None = field(default=None, metadata={"help": "Autoencoder: encoder MLP layers."})
    num_decoder_layers: int | None = field(default=None, metadata={"help": "Autoencoder: decoder MLP layers."})
    hidden_dropout: float | None = field(default=None, metadata={"help": "Autoencoder: dropout inside its MLPs."})
    token_dropout: float | None = field(default=None, metadata={"help": "Autoencoder: input-token dropout."})
    latent_dropout: float | None = field(default=None, metadata={"help": "Autoencoder: dropout on the latent."})
    kl_weight: float | None = field(default=None, metadata={"help": "Autoencoder: KL weight (default 1e-3)."})
    kl_clamp: float | None = field(default=None, metadata={"help": "Autoencoder: per-dimension KL floor (0.5)."})
    num_hidden_layers: int | None = field(default=None, metadata={"help": "Student: transformer layers."})
    num_attention_heads: int | None = field(default=None, metadata={"help": "Student: attention heads."})
    num_key_value_heads: int | None = field(default=None, metadata={"help": "Student: key/value heads."})
    max_position_embeddings: int | None = field(default=None, metadata={"help": "Student: longest context, latents."})
    dropout: float | None = field(default=None, metadata={"help": "Student: dropout."})
    mse_weight: float | None = field(default=None, metadata={"help": "Student: latent MSE weight (MSE_W)."})
    ce_weight: float | None = field(default=None, metadata={"help": "Student: token CE weight (CE_W)."})
    kd_weight: float | None = field(default=None, metadata={"help": "Student: teacher KL weight (KD_W)."})
    kd_temperature: float | None = field(default=None, metadata={"help": "Student: KD temperature (default 2)."})
    noise_levels: list[float] = field(
        default_factory=lambda: [0.1, 0.3],
        metadata={"help": "Autoencoder evaluation: Gaussian latent noise std devs to report accuracy under."},
    )
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Stop training after this many minutes (then save and evaluate as usual)."}
    )

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"`stage` must be one of {', '.join(STAGES)}, got {self.stage!r}.")
        if self.teacher_dtype not in DTYPES:
            raise ValueError(f"`teacher_dtype` must be one of {', '.join(DTYPES)}, got {self.teacher_dtype!r}.")
        if self.stage == "student" and not (self.autoencoder_name_or_path or self.model_name_or_path):
            raise ValueError("The student stage needs `autoencoder_name_or_path` (a trained autoencoder folder).")
        if self.stage == "student" and (self.patch_size or self.latent_size):
            raise ValueError("K and D come from the autoencoder in the student stage: drop patch_size/latent_size.")
        for name in ("autoencoder_name_or_path", "model_name_or_path"):
            path = getattr(self, name)
            if path and (path.startswith(("/", ".")) or Path(path).parent.is_dir()) and not Path(path).is_dir():
                raise FileNotFoundError(f"`{name}` {path} does not exist (train the autoencoder first?).")


@dataclass
class CalmDataArguments:
    """Text files (JSONL with a text column), as `scripts/build_calm_corpus.py` writes them."""

    train_file: str | None = field(default=None, metadata={"help": "Training texts (.jsonl)."})
    validation_file: str | None = field(default=None, metadata={"help": "Held-out texts (.jsonl)."})
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    block_size: int = field(default=512, metadata={"help": "Tokens per training block (a multiple of K)."})
    max_train_texts: int | None = field(default=None, metadata={"help": "Use only this many training texts."})
    max_eval_blocks: int | None = field(default=None, metadata={"help": "Use only this many held-out blocks."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Start over instead of resuming from the last checkpoint in output_dir."}
    )

    def __post_init__(self) -> None:
        for name in ("train_file", "validation_file"):
            path = getattr(self, name) or None
            setattr(self, name, path)
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(
                    f"`{name}` {path} does not exist: build the corpus with "
                    "`python scripts/build_calm_corpus.py --output_dir outputs/calm-corpus`."
                )


ARGUMENT_CLASSES = (CalmModelArguments, CalmDataArguments, TrainingArguments)


def _chosen(model_args, names) -> dict:
    return {name: getattr(model_args, name) for name in names if getattr(model_args, name) is not None}


def build_model(model_args, tokenizer):
    """A new (or continued) autoencoder or student; the student gets the trained autoencoder's weights, frozen."""
    sizes = _chosen(model_args, ("hidden_size", "intermediate_size"))
    if model_args.stage == "autoencoder":
        if model_args.model_name_or_path:
            return CalmAutoencoder.from_pretrained(model_args.model_name_or_path)
        config = CalmAutoencoderConfig(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sizes,
            **_chosen(model_args, AUTOENCODER_FIELDS),
        )
        return CalmAutoencoder(config)
    if model_args.model_name_or_path:
        return CalmForCausalLM.from_pretrained(model_args.model_name_or_path)
    autoencoder = CalmAutoencoder.from_pretrained(model_args.autoencoder_name_or_path)
    config = CalmConfig(
        autoencoder=autoencoder.config,
        teacher_name_or_path=model_args.teacher_name_or_path,
        **sizes,
        **_chosen(model_args, STUDENT_FIELDS),
    )
    model = CalmForCausalLM(config)
    model.load_autoencoder(autoencoder)
    return model


def load_teacher(model_args, device: torch.device):
    teacher = AutoModelForCausalLM.from_pretrained(
        model_args.teacher_name_or_path, dtype=DTYPES[model_args.teacher_dtype]
    )
    return teacher.to(device).eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> dict[str, float]:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, training_args = parse_args(argv, ARGUMENT_CLASSES)
    setup_logging(training_args, logger)
    logger.info(f"Model arguments: {model_args}")
    logger.info(f"Data arguments: {data_args}")
    logger.info(f"Training arguments: {training_args}")
    if training_args.do_train and data_args.train_file is None:
        raise ValueError("Training needs `train_file` (build it with scripts/build_calm_corpus.py).")
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False
    training_args.prediction_loss_only = True  # per-term metrics are computed below, without gathering logits

    checkpoint = find_checkpoint(training_args, data_args)
    set_seed(training_args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name_or_path or model_args.teacher_name_or_path)
    model = build_model(model_args, tokenizer)
    vocab_size = (model.config if model_args.stage == "autoencoder" else model.config.autoencoder).vocab_size
    if len(tokenizer) > vocab_size:
        raise ValueError(f"The tokenizer has {len(tokenizer)} tokens, more than the autoencoder's {vocab_size}.")
    k = model.config.patch_size
    if data_args.block_size % k or data_args.block_size < 2 * k:
        raise ValueError(f"`block_size` ({data_args.block_size}) must be a multiple of K={k}, at least 2K.")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info(f"Stage {model_args.stage}: trainable parameters {trainable:,} of {total:,}, K={k}")
    if model_args.stage == "student" and model.config.kd_weight > 0:
        model.set_teacher(load_teacher(model_args, training_args.device))

    splits = {}
    with training_args.main_process_first(desc="tokenizing"):
        if training_args.do_train:
            splits["train"] = tokenized_blocks(
                data_args.train_file, tokenizer, k, data_args.block_size, data_args.text_column,
                max_texts=data_args.max_train_texts,
            )  # fmt: skip
        if data_args.validation_file is not None:
            splits["validation"] = tokenized_blocks(
                data_args.validation_file, tokenizer, k, data_args.block_size, data_args.text_column,
                max_blocks=data_args.max_eval_blocks,
            )  # fmt: skip

    callbacks = [StopAfterMinutesCallback(model_args.max_train_minutes)] if model_args.max_train_minutes else []
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=splits.get("train"),
        eval_dataset=splits.get("validation") if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        data_collator=default_data_collator,  # blocks are all block_size long: nothing to pad
        callbacks=callbacks,
    )
    metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update(result.metrics)
        metrics["train_steps"] = trainer.state.global_step
    if training_args.do_eval and "validation" in splits:
        eval_metrics = trainer.evaluate(splits["validation"])
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        batch = training_args.per_device_eval_batch_size
        if model_args.stage == "autoencoder":
            eval_metrics.update(
                reconstruction_metrics(unwrapped, splits["validation"], batch, tuple(model_args.noise_levels))
            )
            eval_metrics.update(latent_statistics(unwrapped, splits["validation"], batch))
        else:
            eval_metrics.update(student_metrics(unwrapped, splits["validation"], batch))
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)

    if trainer.is_world_process_zero():
        recipe = load_recipe(argv[0]) if argv and argv[0].endswith((".yaml", ".yml")) else {}
        write_calm_card(
            training_args.output_dir,
            model_name=training_args.hub_model_id or Path(training_args.output_dir).name,
            model=model,
            stage=model_args.stage,
            metrics=metrics,
            recipe={"recipe": recipe, "command_line": argv[1:] if recipe else argv},
            teacher_name_or_path=model_args.teacher_name_or_path,
        )
        (Path(training_args.output_dir) / "all_results_calm.json").write_text(json.dumps(metrics, indent=2))
        if model_args.stage == "student" and "validation" in splits:
            print_sample(model, tokenizer, splits["validation"], k)
        if push_to_hub:
            push_output_dir(training_args)
    return metrics


def print_sample(model, tokenizer, dataset, k: int, prompt_chunks: int = 8, new_tokens: int = 32) -> None:
    """A greedy continuation of a held-out block on stdout: the quickest check that training worked."""
    row = dataset[0]["input_ids"][: prompt_chunks * k]
    model.eval()
    out = model.generate(
        input_ids=torch.tensor([row], device=model.device), tokenizer=tokenizer, max_new_tokens=new_tokens,
        temperature=0,
    )  # fmt: skip
    print(f"\n--- held-out prompt ---\n{tokenizer.decode(row, skip_special_tokens=True)}")
    print(f"--- student continuation ({out.ar_steps} steps) ---\n{out.texts[0]}")


if __name__ == "__main__":
    main()
