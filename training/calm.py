"""CALM training helpers: evaluation beyond the loss, a wall-clock budget for the Trainer, and the model card."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import TrainerCallback

from training.model_card import base_model_id


class StopAfterMinutesCallback(TrainerCallback):
    """Ends training (and saves as usual) once `minutes` of wall time have passed: fixed-time GPU recipes."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.start = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.start > self.seconds:
            control.should_training_stop = True
        return control


def _batches(dataset, batch_size: int, device: torch.device, desc: str):
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, unit="batch", leave=False):
        rows = dataset[start : start + batch_size]
        yield (
            torch.tensor(rows["input_ids"], device=device),
            torch.tensor(rows["labels"], device=device),
        )


@torch.no_grad()
def reconstruction_metrics(
    autoencoder, dataset, batch_size: int = 16, noise_levels: tuple[float, ...] = (0.1, 0.3), seed: int = 0
) -> dict[str, float]:
    """
    Exact reconstruction from the posterior mean: the share of (non-padding) tokens decoded back exactly, the share
    of chunks with all K tokens right, and both again with Gaussian noise of each standard deviation in
    `noise_levels` added to the latent (how much error a student's prediction may make).
    """
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    k = autoencoder.config.patch_size
    totals: dict[float, list[int]] = {sigma: [0, 0, 0, 0] for sigma in (0.0, *noise_levels)}
    for input_ids, labels in _batches(dataset, batch_size, device, "Reconstruction"):
        mean, _ = autoencoder.encode(input_ids)
        scored = labels != -100
        chunk_scored = scored.view(len(labels), -1, k).any(-1)
        for sigma, total in totals.items():
            noise = torch.randn(mean.shape, device=device, generator=generator, dtype=mean.dtype) * sigma
            predicted = autoencoder.decode(mean + noise).argmax(-1)
            right = (predicted == input_ids) | ~scored
            total[0] += int((right & scored).sum())
            total[1] += int(scored.sum())
            total[2] += int((right.view(len(labels), -1, k).all(-1) & chunk_scored).sum())
            total[3] += int(chunk_scored.sum())
    metrics = {}
    for sigma, (right, count, chunks_right, chunks) in totals.items():
        suffix = "" if sigma == 0 else f"_noise{sigma:g}"
        metrics[f"eval_token_accuracy{suffix}"] = right / max(count, 1)
        metrics[f"eval_chunk_exact{suffix}"] = chunks_right / max(chunks, 1)
    return metrics


@torch.no_grad()
def student_metrics(model, dataset, batch_size: int = 8) -> dict[str, float]:
    """Each loss term on held-out blocks, and how often the decoded predicted latent gives the next token exactly."""
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    right = count = batches = 0
    k = model.config.patch_size
    for input_ids, labels in _batches(dataset, batch_size, device, "Student eval"):
        output = model(input_ids=input_ids, labels=labels)
        for name in ("loss", "mse_loss", "ce_loss", "kd_loss"):
            value = getattr(output, name)
            if value is not None:
                sums[name] = sums.get(name, 0.0) + float(value)
        predicted = model.autoencoder.decode(output.predicted_latents).argmax(-1)
        target = labels[:, k:]
        scored = target != -100
        right += int(((predicted == target) & scored).sum())
        count += int(scored.sum())
        batches += 1
    metrics = {f"eval_{name}": value / max(batches, 1) for name, value in sums.items()}
    metrics["eval_next_chunk_token_accuracy"] = right / max(count, 1)
    return metrics


def latent_statistics(autoencoder, dataset, batch_size: int = 16) -> dict[str, float]:
    """Scale of the latents a student must predict: mean posterior std and mean |mean| (for reading the MSE)."""
    device = next(autoencoder.parameters()).device
    stds, means = [], []
    with torch.no_grad():
        for input_ids, _ in _batches(dataset, batch_size, device, "Latent statistics"):
            mean, logvar = autoencoder.encode(input_ids)
            stds.append(float((0.5 * logvar).exp().mean()))
            means.append(float(mean.abs().mean()))
    return {"eval_latent_posterior_std": sum(stds) / len(stds), "eval_latent_abs_mean": sum(means) / len(means)}


def kd_loss_reference(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The KD term written out plainly (mean over tokens), for tests to compare the model's against."""
    teacher = F.softmax(teacher_logits / temperature, -1)
    return (teacher * (teacher.log() - F.log_softmax(student_logits / temperature, -1))).sum(
        -1
    ).mean() * temperature**2


def write_calm_card(
    output_dir: str | Path,
    model_name: str,
    model,
    stage: str,
    metrics: dict[str, float],
    recipe: dict[str, Any],
    teacher_name_or_path: str | None,
    dataset_name: str = "chitchat-dataset+gsm8k+samsum+dialogsum",
) -> Path:
    """README.md for an autoencoder or a student folder: what it is, its numbers, how to use it, the recipe."""
    config = model.config
    k = config.patch_size
    teacher_id = base_model_id(teacher_name_or_path) if teacher_name_or_path else None
    front = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation" if stage == "student" else "feature-extraction",
        "tags": ["calm", "continuous-autoregressive", "latent-space", "generated_from_trainer"],
        "datasets": [dataset_name],
    }
    if teacher_id:
        front["base_model"] = [teacher_id]
    import yaml

    if stage == "student":
        what = (
            f"A continuous autoregressive student (after CALM): it predicts one {config.latent_size}-d latent vector "
            f"per step, which its frozen autoencoder decodes into K={k} tokens, so text comes out {k} tokens per "
            f"autoregressive step. Distilled from `{teacher_id or teacher_name_or_path}` (losses: latent MSE x "
            f"{config.mse_weight}, token CE x {config.ce_weight}, KD x {config.kd_weight} at T={config.kd_temperature})."
        )
        usage = (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{model_name}", trust_remote_code=True)\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{model_name}")\n'
            'out = model.generate(prompt="Once upon a time", tokenizer=tokenizer, max_new_tokens=64, temperature=0)\n'
            "print(out.texts[0])\n```"
        )
    else:
        what = (
            f"A CALM autoencoder: each chunk of K={k} tokens <-> one {config.latent_size}-d latent vector "
            f"(VAE, KL weight {config.kl_weight} clamped at {config.kl_clamp} nats a dimension; token dropout "
            f"{config.token_dropout}, latent dropout {config.latent_dropout})."
        )
        usage = (
            "```python\nfrom transformers import AutoModel, AutoTokenizer\n\n"
            f'ae = AutoModel.from_pretrained("{model_name}", trust_remote_code=True)\n'
            f'ids = AutoTokenizer.from_pretrained("{model_name}")("Hello there, friend!", return_tensors="pt")'
            f".input_ids[:, :{k}]\nmean, logvar = ae.encode(ids)\nprint(ae.decode(mean).argmax(-1))\n```"
        )
    rows = "\n".join(f"| {key} | {value:.4f} |" for key, value in sorted(metrics.items()) if isinstance(value, float))
    text = "\n\n".join(
        [
            f"---\n{yaml.safe_dump(front, sort_keys=False)}---",
            f"# {model_name}",
            what,
            "## How to use\n\n" + usage,
            f"## Results (held-out text)\n\n| metric | value |\n| --- | --- |\n{rows}",
            f"## Training recipe\n\n```json\n{json.dumps(recipe, indent=2, sort_keys=True, default=str)}\n```",
        ]
    )
    path = Path(output_dir) / "README.md"
    path.write_text(text + "\n")
    return path
