"""
Text in, text out with a trained CALM student (a folder as `run_calm.py` saves it, or a Hub id).

    from inference.calm_inference import CalmInference

    calm = CalmInference.from_pretrained("outputs/calm-student")
    result = calm.generate("Once upon a time", max_new_tokens=64, temperature=0.8, top_p=0.9, seed=42)
    result.text, result.num_tokens, result.ar_steps
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import modeling  # noqa: F401  (registers the CALM models with the Auto classes)

SAMPLING_DEFAULTS = {"max_new_tokens": 128, "temperature": 0.8, "top_p": 0.9, "top_k": 0, "seed": None}


class CalmResult(NamedTuple):
    """One continuation: its text, the tokens generated (EOS included) and the autoregressive steps taken."""

    text: str
    num_tokens: int
    ar_steps: int


def check_settings(max_new_tokens: Any, temperature: Any, top_p: Any, top_k: Any, seed: Any) -> None:
    """Raises ValueError in the user's words for settings `generate` cannot use (shared by the CLI and the server)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}.")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}.")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 = off), got {top_k!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}.")


class CalmInference:
    """A CALM student and its tokenizer, on one device, generating K tokens per autoregressive step."""

    def __init__(self, model, tokenizer, device: str | torch.device | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, device: str | None = None, dtype: str | None = None
    ) -> CalmInference:
        path = Path(name_or_path)
        if (str(name_or_path).startswith((".", "/")) or path.parent.is_dir()) and not path.is_dir():
            raise FileNotFoundError(f"Model folder {name_or_path} does not exist.")
        kwargs = {} if dtype is None else {"dtype": getattr(torch, dtype)}
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
        if model.config.model_type != "calm":
            raise ValueError(f"{name_or_path} holds a {model.config.model_type!r} model, not a CALM student.")
        return cls(model, AutoTokenizer.from_pretrained(name_or_path), device)

    @property
    def patch_size(self) -> int:
        return self.model.config.patch_size

    @property
    def max_prompt_tokens(self) -> int:
        """Longest prompt the student's positions allow, leaving room for at least one generated chunk."""
        return (self.model.config.max_position_embeddings - 1) * self.patch_size

    def prompt_length(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def info(self) -> dict[str, Any]:
        config = self.model.config
        return {
            "model_type": "calm",
            "compression_factor": config.patch_size,
            "latent_size": config.latent_size,
            "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "teacher": config.teacher_name_or_path,
            "max_prompt_tokens": self.max_prompt_tokens,
            "device": str(self.device),
        }

    @torch.no_grad()
    def generate(
        self,
        prompts: str | Sequence[str],
        max_new_tokens: int = SAMPLING_DEFAULTS["max_new_tokens"],
        temperature: float = SAMPLING_DEFAULTS["temperature"],
        top_p: float = SAMPLING_DEFAULTS["top_p"],
        top_k: int = SAMPLING_DEFAULTS["top_k"],
        seed: int | None = SAMPLING_DEFAULTS["seed"],
    ) -> CalmResult | list[CalmResult]:
        """One continuation per prompt (a string gives one result, a list a list)."""
        single = isinstance(prompts, str)
        items = [prompts] if single else list(prompts)
        if not items or not all(isinstance(p, str) and p for p in items):
            raise ValueError("The prompt must be a non-empty string (or a list of them).")
        check_settings(max_new_tokens, temperature, top_p, top_k, seed)
        too_long = [i for i, p in enumerate(items) if self.prompt_length(p) > self.max_prompt_tokens]
        if too_long:
            raise ValueError(f"The prompt is longer than the model's {self.max_prompt_tokens} tokens.")
        output = self.model.generate(
            prompt=items,
            tokenizer=self.tokenizer,
            max_new_tokens=max_new_tokens,
            temperature=float(temperature),
            top_p=float(top_p),
            top_k=top_k,
            seed=seed,
        )
        results = [
            CalmResult(text, count, output.ar_steps)
            for text, count in zip(output.texts, output.num_new_tokens, strict=True)
        ]
        return results[0] if single else results
