#!/usr/bin/env python
"""
Train and evaluate latent-dynamics models (and their baselines and ablations) on synthetic long-sequence tasks.

    python run_sequence_tasks.py recipes/synthetic/mqar.yaml [--any_argument value ...]
    python run_sequence_tasks.py recipes/synthetic/length_sweep.yaml --models latent_dynamics transformer

Each name in `models` is trained with the stock Trainer into `output_dir/<name>/` and evaluated at every length of
`eval_lengths` on the positions the task makes predictable. Baselines get the first model's parameter count (their
MLP width is tuned). `output_dir/results.json` and `accuracy_vs_length.png` collect all models.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainingArguments, set_seed

from modeling import LatentDynamicsConfig, LatentDynamicsForCausalLM
from training.arguments import load_recipe, parse_args
from training.hub import push_output_dir
from training.script_setup import find_checkpoint, setup_logging
from training.synthetic_tasks import (
    TASKS,
    LengthCurriculumCallback,
    SyntheticTaskDataset,
    TaskOptions,
    argmax_logits,
    collate_sequences,
    scored_accuracy,
)

logger = logging.getLogger(__name__)

# Every model of a comparison is the latent-dynamics config with these switches.
VARIANTS: dict[str, dict] = {
    "latent_dynamics": {},
    "no_leak": {"use_leak": False},
    "no_gate": {"use_gate": False},
    "no_chunking": {"attention": "full"},
    "no_position": {"position_encoding": "none"},
    "transformer": {"sequence_mixer": "none", "attention": "sdpa"},
    "gru_transformer": {"sequence_mixer": "gru"},
    "mingru_transformer": {"sequence_mixer": "mingru"},
}


@dataclass
class SequenceModelArguments:
    """Which models to compare and the shared sizes of their config (see `LatentDynamicsConfig`)."""

    models: list[str] = field(
        default_factory=lambda: ["latent_dynamics"],
        metadata={"help": f"Models to train, in order: {', '.join(VARIANTS)}. The first sets the parameter budget."},
    )
    hidden_size: int = field(default=64, metadata={"help": "Latent width (state, attention, embeddings)."})
    num_layers: int = field(default=2, metadata={"help": "Decoder blocks."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads."})
    intermediate_size: int = field(default=256, metadata={"help": "MLP width of the first model."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout in the decoder."})
    chunk_size: int = field(default=128, metadata={"help": "Queries per attention chunk (and minGRU scan chunk)."})
    attention: str = field(default="chunked", metadata={"help": "chunked | full | sdpa (variants may override)."})
    position_encoding: str = field(default="rope", metadata={"help": "rope | sinusoidal | none."})
    recurrence_impl: str = field(default="hoisted", metadata={"help": "loop | hoisted | compiled."})
    leak_init_range: list[float] = field(
        default_factory=lambda: [0.001, 0.5], metadata={"help": "Initial α range (log-uniform over dimensions)."}
    )
    match_parameters: bool = field(
        default=True, metadata={"help": "Tune baselines' MLP width to the first model's parameter count."}
    )

    def __post_init__(self) -> None:
        unknown = [name for name in self.models if name not in VARIANTS]
        if unknown:
            raise ValueError(f"Unknown model(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}.")
        if not self.models:
            raise ValueError("`models` is empty: name at least one model to train.")


@dataclass
class SequenceTaskArguments:
    """The task, its sizes, the lengths trained and evaluated, and what to save."""

    task: str = field(default="mqar", metadata={"help": f"One of {', '.join(TASKS)}."})
    train_length: int = field(default=512, metadata={"help": "Sequence length trained on (the curriculum's end)."})
    curriculum_lengths: list[int] | None = field(
        default=None, metadata={"help": "Train on these lengths in order, an equal share of steps each."}
    )
    eval_lengths: list[int] | None = field(
        default=None, metadata={"help": "Lengths evaluated after training (default: train_length)."}
    )
    num_train_examples: int = field(default=10_000, metadata={"help": "Distinct training sequences."})
    num_eval_examples: int = field(default=256, metadata={"help": "Evaluation sequences per length."})
    task_seed: int = field(default=0, metadata={"help": "Seed of the task generators (train and eval streams)."})
    vocab_size: int = field(default=64, metadata={"help": "Token ids of the task (and of the models)."})
    max_rule_step: int = field(default=4, metadata={"help": "hidden_rule_switch: rules add 1..max_rule_step."})
    min_period: int = field(default=2, metadata={"help": "structured_token: shortest period."})
    max_period: int = field(default=16, metadata={"help": "structured_token: longest period."})
    num_kv_pairs: int = field(default=16, metadata={"help": "mqar: key-value pairs per sequence."})
    num_tokens_to_copy: int = field(default=16, metadata={"help": "selective_copying: tokens to copy."})
    num_data_tokens: int = field(default=16, metadata={"help": "selective_copying: distinct data tokens."})
    scored_loss_share: float | None = field(
        default=None,
        metadata={
            "help": "Weight the training loss so the scored positions make up this share of each sequence's loss "
            "(the other predictable positions the rest). Unset: every trained label counts the same. For tasks with "
            "few scored positions among many (long_increment: 1 of length - 1). Evaluation is unchanged."
        },
    )
    scored_loss_window: int = field(
        default=0,
        metadata={
            "help": "With scored_loss_share: the share also covers this many trained positions before each scored "
            "one, so the model is not pushed to predict the scored answer at its neighbours (see "
            "training.synthetic_tasks.scored_loss_weights)."
        },
    )
    eval_all_positions: bool = field(
        default=False,
        metadata={
            "help": "Also evaluate every predictable position, scored or not (metrics all_accuracy and "
            "all_sequence_accuracy): a model that answers the scored positions by predicting their answer everywhere "
            "is right on them but not here."
        },
    )
    save_latents: int = field(
        default=0, metadata={"help": "Save the latent trajectories of this many eval sequences per length (.npy)."}
    )
    plot: bool = field(default=True, metadata={"help": "Write accuracy_vs_length.png (needs matplotlib)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Start over instead of resuming from the last checkpoint in output_dir."}
    )

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"Unknown task {self.task!r}; choose one of {', '.join(TASKS)}.")
        self.eval_lengths = self.eval_lengths or [self.train_length]
        if self.curriculum_lengths and self.curriculum_lengths[-1] != self.train_length:
            raise ValueError(
                f"`curriculum_lengths` must end at `train_length` ({self.train_length}), got {self.curriculum_lengths}."
            )

    def options(self) -> TaskOptions:
        return TaskOptions(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TaskOptions)})


ARGUMENT_CLASSES = (SequenceModelArguments, SequenceTaskArguments, TrainingArguments)


def build_config(
    model_args: SequenceModelArguments, vocab_size: int, variant: str, **overrides
) -> LatentDynamicsConfig:
    settings = {
        "vocab_size": vocab_size,
        "hidden_size": model_args.hidden_size,
        "num_layers": model_args.num_layers,
        "num_heads": model_args.num_heads,
        "intermediate_size": model_args.intermediate_size,
        "dropout": model_args.dropout,
        "chunk_size": model_args.chunk_size,
        "attention": model_args.attention,
        "position_encoding": model_args.position_encoding,
        "recurrence_impl": model_args.recurrence_impl,
        "leak_init_range": model_args.leak_init_range,
    }
    settings.update(VARIANTS[variant])
    settings.update(overrides)
    return LatentDynamicsConfig(**settings)


def count_parameters(config: LatentDynamicsConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in LatentDynamicsForCausalLM(config).parameters())


def match_parameter_count(config: LatentDynamicsConfig, target: int) -> LatentDynamicsConfig:
    """The same config with the MLP width whose parameter count is closest to `target` (binary search)."""
    low, high = 1, max(8 * config.intermediate_size, 64)
    while low < high:
        middle = (low + high) // 2
        config.intermediate_size = middle
        if count_parameters(config) < target:
            low = middle + 1
        else:
            high = middle
    candidates = [max(low - 1, 1), low]
    config.intermediate_size = min(candidates, key=lambda w: abs(_count_with(config, w) - target))
    return config


def _count_with(config: LatentDynamicsConfig, width: int) -> int:
    config.intermediate_size = width
    return count_parameters(config)


def model_configs(model_args: SequenceModelArguments, vocab_size: int) -> dict[str, LatentDynamicsConfig]:
    """One config per model; baselines (another sequence mixer than the first model's) get its parameter count."""
    configs = {name: build_config(model_args, vocab_size, name) for name in model_args.models}
    reference = configs[model_args.models[0]]
    target = count_parameters(reference)
    for config in configs.values():
        if model_args.match_parameters and config.sequence_mixer != reference.sequence_mixer:
            match_parameter_count(config, target)
    return configs


def train_and_evaluate(
    name: str,
    config: LatentDynamicsConfig,
    task_args: SequenceTaskArguments,
    base_args: TrainingArguments,
) -> dict:
    """Trains one model into `output_dir/name`, evaluates it at every eval length; returns its results."""
    training_args = copy.deepcopy(base_args)
    training_args.output_dir = str(Path(base_args.output_dir) / name)
    options = task_args.options()
    first_length = task_args.curriculum_lengths[0] if task_args.curriculum_lengths else task_args.train_length
    train_dataset = SyntheticTaskDataset(
        task_args.task,
        first_length,
        task_args.num_train_examples,
        task_args.task_seed,
        "train",
        options,
        scored_loss_share=task_args.scored_loss_share,
        scored_loss_window=task_args.scored_loss_window,
    )
    callbacks = []
    if task_args.curriculum_lengths:
        callbacks.append(LengthCurriculumCallback(train_dataset, task_args.curriculum_lengths))

    set_seed(training_args.seed)
    model = LatentDynamicsForCausalLM(config)
    parameters = sum(p.numel() for p in model.parameters())
    logger.info(f"[{name}] {parameters:,} parameters; config: {config.to_diff_dict()}")
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collate_sequences,
        compute_metrics=scored_accuracy,
        preprocess_logits_for_metrics=argmax_logits,
        callbacks=callbacks,
    )
    results: dict = {"model": name, "parameters": parameters, "task": task_args.task, "lengths": {}}
    if training_args.do_train:
        checkpoint = find_checkpoint(training_args, task_args)
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
        results["train"] = train_result.metrics
    if training_args.do_eval:
        for length in task_args.eval_lengths:
            dataset = SyntheticTaskDataset(
                task_args.task, length, task_args.num_eval_examples, task_args.task_seed, "eval", options
            )
            metrics = trainer.evaluate(eval_dataset=dataset, metric_key_prefix=f"eval_{length}")
            message = f"accuracy {metrics[f'eval_{length}_accuracy']:.4f}"
            if task_args.eval_all_positions:
                dataset.all_labels = True
                metrics |= trainer.evaluate(eval_dataset=dataset, metric_key_prefix=f"eval_{length}_all")
                dataset.all_labels = False
                message += (
                    f", every predictable position right in {metrics[f'eval_{length}_all_sequence_accuracy']:.4f}"
                )
            results["lengths"][length] = {key.split("_", 2)[-1]: value for key, value in metrics.items()}
            logger.info(f"[{name}] {task_args.task} @ {length}: {message}")
            if task_args.save_latents:
                save_latent_trajectories(trainer.model, dataset, task_args.save_latents, training_args)
    if trainer.is_world_process_zero():
        Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(training_args.output_dir) / "results.json").write_text(json.dumps(results, indent=2))
        write_card(training_args.output_dir, name, config, results)
    return results


@torch.no_grad()
def save_latent_trajectories(model, dataset: SyntheticTaskDataset, count: int, training_args) -> Path:
    """The seed's analysis hook: `latents_<length>.npy`, (count, length, hidden_size) float32, plus the token ids."""
    model.eval()
    count = min(count, len(dataset))
    input_ids = torch.stack([dataset[i]["input_ids"] for i in range(count)]).to(model.device)
    latents = model(input_ids, output_latents=True).latents.float().cpu().numpy()
    path = Path(training_args.output_dir) / f"latents_{dataset.length}.npy"
    np.save(path, latents)
    np.save(path.with_name(f"input_ids_{dataset.length}.npy"), input_ids.cpu().numpy())
    logger.info(f"Saved latent trajectories {latents.shape} to {path}")
    return path


def write_card(output_dir: str, name: str, config: LatentDynamicsConfig, results: dict) -> None:
    rows = "\n".join(
        f"| {length} | {m.get('accuracy', float('nan')):.4f} | {m.get('sequence_accuracy', float('nan')):.4f} |"
        for length, m in results["lengths"].items()
    )
    card = (
        f"---\nlibrary_name: transformers\ntags: [latent-dynamics, synthetic, {results['task']}]\n---\n\n"
        f"# {name} on {results['task']}\n\nA `LatentDynamicsForCausalLM` ({config.sequence_mixer} mixer, "
        f"{config.attention} attention, {config.position_encoding} positions, {results['parameters']:,} parameters) "
        "trained from scratch with `run_sequence_tasks.py`. Load it with "
        "`AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True)`.\n\n"
        f"| length | accuracy (scored positions) | sequences all right |\n| ---: | ---: | ---: |\n{rows}\n"
    )
    (Path(output_dir) / "README.md").write_text(card)


def print_table(all_results: dict[str, dict], lengths: list[int]) -> None:
    header = "| model | parameters | " + " | ".join(str(length) for length in lengths) + " |"
    print(header + "\n|" + " --- |" * (len(lengths) + 2))
    for name, result in all_results.items():
        cells = [f"{result['lengths'].get(length, {}).get('accuracy', float('nan')):.4f}" for length in lengths]
        print(f"| {name} | {result['parameters']:,} | " + " | ".join(cells) + " |")


def plot_accuracy(all_results: dict[str, dict], task: str, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no accuracy_vs_length.png (pip install matplotlib).")
        return None
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, result in all_results.items():
        lengths = sorted(int(length) for length in result["lengths"])
        axis.plot(lengths, [result["lengths"][length]["accuracy"] for length in lengths], marker="o", label=name)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("sequence length")
    axis.set_ylabel("accuracy on scored positions")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(task)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> dict[str, dict]:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, task_args, training_args = parse_args(argv, ARGUMENT_CLASSES)
    setup_logging(training_args, logger)
    logger.info(f"Model arguments: {model_args}")
    logger.info(f"Task arguments: {task_args}")
    logger.info(f"Training arguments: {training_args}")
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # each model's folder is pushed at the end, with its card
    configs = model_configs(model_args, task_args.vocab_size)  # bad sizes fail here, before any training

    all_results = {}
    output_dir = Path(training_args.output_dir)
    recipe = load_recipe(argv[0]) if argv and argv[0].endswith((".yaml", ".yml")) else {}
    for name, config in configs.items():
        all_results[name] = train_and_evaluate(name, config, task_args, training_args)
        if training_args.process_index == 0:  # after every model, so a run cut short keeps what it finished
            summary = {"task": task_args.task, "recipe": recipe, "command_line": argv, "models": all_results}
            (output_dir / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    if training_args.process_index == 0:
        print_table(all_results, task_args.eval_lengths)
        if task_args.plot and training_args.do_eval:
            plot_accuracy(all_results, task_args.task, output_dir / "accuracy_vs_length.png")
        if push_to_hub:
            for name in configs:
                model_args_copy = copy.deepcopy(training_args)
                model_args_copy.output_dir = str(output_dir / name)
                model_args_copy.hub_model_id = f"{training_args.hub_model_id or output_dir.name}-{name}"
                push_output_dir(model_args_copy)
    return all_results


if __name__ == "__main__":
    main()
