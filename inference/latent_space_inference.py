"""
Inference on a trained latent-space summarizer, and tools to explore its idea space.

    from inference import LatentSpaceInference

    lsi = LatentSpaceInference.from_pretrained("outputs/offline-frozen")
    lsi.summarize("Anna: lunch at noon?\nTom: sure, see you at the park.")
    z = lsi.get_latent("Anna: lunch at noon?\nTom: sure.")   # z_out, shape (latent_dim,)
    lsi.decode_latent(z * 1.5)                               # text from any (edited) latent
    lsi.interpolate(dialogue_a, dialogue_b, alphas=[0, 0.5, 1], method="slerp")
    lsi.nearest(dialogues, query="Shall we meet for coffee?", k=3)

Two latent stages exist: `"in"` is `z_in`, the idea vector the encoder side writes (before the middle model), and
`"out"` is `z_out = middle(z_in)`, the transformed idea the decoder reads. Every method takes `stage=` and defaults to
`"out"`, so `decode_latent(get_latent(x)) == summarize(x)` under greedy decoding.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel, set_seed

import modeling  # noqa: F401  (registers the latent-space model with the Auto classes)
from modeling import LatentSpaceProcessor
from modeling.latent_space.compiled_decoding import DECODING_CHOICES

logger = logging.getLogger(__name__)

STAGES = ("in", "out")
INTERPOLATION_METHODS = ("linear", "slerp")

# Generation settings users can change (CLI flags and `:set` in interactive mode), with their types.
GENERATION_SETTINGS: dict[str, type] = {
    "max_new_tokens": int,
    "min_new_tokens": int,
    "num_beams": int,
    "do_sample": bool,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "repetition_penalty": float,
    "no_repeat_ngram_size": int,
    "length_penalty": float,
    "seed": int,
}
SAMPLING_SETTINGS = ("temperature", "top_p", "top_k")

LatentLike = torch.Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]]


class InterpolationStep(NamedTuple):
    """One point on the path between two latents: the mixing weight (0 = first text, 1 = second) and its decoding."""

    alpha: float
    text: str


class Neighbor(NamedTuple):
    """A corpus text close to a query in latent space: its position in the corpus, cosine similarity and text."""

    index: int
    score: float
    text: str


def generation_kwargs(settings: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """
    Turns user settings into `generate` keyword arguments and a seed. Unset (None) settings keep the model's defaults.

    Sampling switches on by itself when `temperature`, `top_p` or `top_k` is set and `do_sample` is not; a temperature
    of 0 means greedy decoding. With `do_sample=False` the sampling settings are dropped (they would do nothing).
    """
    kwargs = {name: value for name, value in settings.items() if value is not None}
    seed = kwargs.pop("seed", None)
    if kwargs.get("temperature") == 0:
        kwargs.pop("temperature")
        kwargs["do_sample"] = False
    if "do_sample" not in kwargs and any(name in kwargs for name in SAMPLING_SETTINGS):
        kwargs["do_sample"] = True
    if kwargs.get("do_sample") is False:
        for name in SAMPLING_SETTINGS:
            kwargs.pop(name, None)
    if kwargs.get("num_return_sequences", 1) != 1:
        raise ValueError("num_return_sequences is not supported here: call summarize once per sample with a seed.")
    return kwargs, seed


def parse_setting(name: str, value: str | None) -> Any:
    """A generation setting from text (`:set top_k 50`, CLI); `none`/`default` unsets it. Raises ValueError if bad."""
    if name not in GENERATION_SETTINGS:
        raise ValueError(f"Unknown setting {name!r}; settings are: {', '.join(GENERATION_SETTINGS)}.")
    if value is None or value.strip().lower() in ("none", "default", ""):
        return None
    kind, text = GENERATION_SETTINGS[name], value.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} takes true or false, got {value!r}.")
    try:
        parsed = kind(text)
    except ValueError:
        raise ValueError(f"{name} takes {'an integer' if kind is int else 'a number'}, got {value!r}.") from None
    if parsed < 0 or (name in ("num_beams", "max_new_tokens") and parsed < 1):
        raise ValueError(f"{name} must be {'at least 1' if name in ('num_beams', 'max_new_tokens') else '>= 0'}.")
    if name == "top_p" and not 0 < parsed <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {parsed}.")
    return parsed


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str | None:
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    resolved = getattr(torch, str(dtype).replace("torch.", ""), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}: use float32, float16, bfloat16 or auto.")
    return resolved


def check_checkpoint(name_or_path: str | os.PathLike) -> None:
    """A local path that is missing or holds no model is a clear error here, not a failed Hub lookup later."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    looks_local = path.exists() or text.startswith(("/", ".", "~")) or len(path.parts) > 2
    if looks_local and not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No model checkpoint at {text}: expected a folder with config.json and the encoder_tokenizer/ and "
            "decoder_tokenizer/ folders (as run_summarization.py saves them), or a Hub model id."
        )


def default_max_source_length(model: PreTrainedModel, processor: LatentSpaceProcessor) -> int:
    """
    The dialogue length the checkpoint was trained with (run_summarization.py records it as the encoder tokenizer's
    `model_max_length`); for other checkpoints the encoder's position limit, at most 512 tokens.
    """
    limit = int(getattr(model.config.encoder, "max_position_embeddings", None) or 512)
    recorded = processor.encoder_tokenizer.model_max_length
    return int(recorded) if recorded and recorded < limit else min(limit, 512)


def lerp(z_a: torch.Tensor, z_b: torch.Tensor, alpha: float) -> torch.Tensor:
    """Linear mix `(1 - alpha) * z_a + alpha * z_b` (exactly `z_a` at 0 and `z_b` at 1)."""
    return (1 - alpha) * z_a + alpha * z_b


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, alpha: float) -> torch.Tensor:
    """
    Spherical mix: the direction turns along the great circle from `z_a` to `z_b` while the length changes linearly,
    so midpoints keep a typical norm instead of shrinking towards the origin. Exactly `z_a` at 0 and `z_b` at 1; falls
    back to `lerp` for (anti)parallel vectors.
    """
    if alpha == 0:
        return z_a.clone()
    if alpha == 1:
        return z_b.clone()
    norm_a, norm_b = z_a.norm(dim=-1, keepdim=True), z_b.norm(dim=-1, keepdim=True)
    unit_a, unit_b = z_a / norm_a.clamp_min(1e-12), z_b / norm_b.clamp_min(1e-12)
    omega = torch.arccos((unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    if bool((sin_omega.abs() < 1e-6).any()):
        return lerp(z_a, z_b, alpha)
    direction = (torch.sin((1 - alpha) * omega) * unit_a + torch.sin(alpha * omega) * unit_b) / sin_omega
    return direction * lerp(norm_a, norm_b, alpha)


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be 'in' (z_in, before the middle model) or 'out' (z_out, after), got {stage!r}.")


def _as_text_list(texts: str | Sequence[str]) -> tuple[list[str], bool]:
    """One text or a list as a list, and whether it was one; checked here so errors name the caller's positions."""
    single = isinstance(texts, str)
    items = [texts] if single else list(texts)
    if not items:
        raise ValueError("No texts given: pass one string or a non-empty list of strings.")
    bad = [i for i, text in enumerate(items) if not isinstance(text, str) or not text.strip()]
    if bad:
        where = "The text is" if single else f"Text(s) at position(s) {bad} are"
        raise ValueError(f"{where} empty or not a string: there is nothing to encode.")
    return items, single


class LatentSpaceInference:
    """
    Summarize with a trained latent-space model and read, edit, mix and search its latents.

    Build it with [`LatentSpaceInference.from_pretrained`] from a checkpoint folder or Hub id, or from a loaded model
    and processor. Work is batched (`batch_size` texts at a time) and shows a progress bar with `progress=True`.

    Args:
        model: a `LatentSpaceForConditionalGeneration`.
        processor: its `LatentSpaceProcessor`.
        device: where to run (default: CUDA when available, else CPU).
        max_source_length: dialogue tokens kept (default: the length the checkpoint was trained with, else the
            encoder's position limit, at most 512).
        batch_size: texts per forward pass.
        generation_settings: defaults for `summarize`/`decode_latent` (see `GENERATION_SETTINGS`); unset settings
            use the model's own generation config.
        decoding: "generate" (transformers' `generate`: every setting) or "compiled" (the compiled static-cache
            loop: one CUDA graph per decoding step on a GPU, the same greedy tokens; greedy or temperature / top_k /
            top_p sampling only, other settings raise `UnsupportedDecodingSetting`). With "compiled", a larger
            `batch_size` (e.g. 256) pays off most on a GPU.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: LatentSpaceProcessor,
        device: str | torch.device | None = None,
        max_source_length: int | None = None,
        batch_size: int = 16,
        generation_settings: dict[str, Any] | None = None,
        decoding: str = "generate",
    ):
        if decoding not in DECODING_CHOICES:
            raise ValueError(f"decoding must be one of {DECODING_CHOICES}, got {decoding!r}.")
        self.decoding = decoding
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        if max_source_length is None:
            max_source_length = default_max_source_length(model, processor)
        if max_source_length < 1:
            raise ValueError(f"max_source_length must be at least 1, got {max_source_length}.")
        self.max_source_length = max_source_length
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.batch_size = batch_size
        self.generation_settings: dict[str, Any] = {}
        for name, value in (generation_settings or {}).items():
            if name not in GENERATION_SETTINGS:
                raise ValueError(
                    f"Unknown generation setting {name!r}; settings are: {', '.join(GENERATION_SETTINGS)}."
                )
            self.generation_settings[name] = value

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        **kwargs: Any,
    ) -> LatentSpaceInference:
        """
        Loads a checkpoint folder (as `run_summarization.py` saves it) or a Hub id: the model and both tokenizers.
        `dtype` is `float32`, `float16`, `bfloat16` or `auto`; other keyword arguments go to `__init__`
        (`max_source_length`, `batch_size`, `generation_settings`, `decoding`).
        """
        check_checkpoint(name_or_path)
        load_kwargs = {} if dtype is None else {"dtype": resolve_dtype(dtype)}
        model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path, **load_kwargs)
        processor = LatentSpaceProcessor.from_pretrained(name_or_path)
        return cls(model, processor, device=device, **kwargs)

    # -- helpers -------------------------------------------------------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        """Values in one latent: the config's `latent_size` (`latent_dim` times `num_idea_vectors`)."""
        return int(self.model.config.latent_size)

    def _head_dtype(self) -> torch.dtype:
        return self.model.compression.mlp[0].weight.dtype

    def _batches(
        self, texts: list[str], batch_size: int | None, progress: bool, desc: str
    ) -> Iterator[tuple[list[int], list[str]]]:
        """Batches of (positions, texts), longest first so each batch pads little and memory peaks at the start."""
        size = batch_size or self.batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(order), size)
        for start in tqdm(starts, desc=desc, disable=not progress or len(starts) < 2, unit="batch"):
            positions = order[start : start + size]
            yield positions, [texts[i] for i in positions]

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoding = self.processor(
            texts, max_source_length=self.max_source_length, padding=True, return_tensors="pt"
        ).to(self.device)
        return {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}

    def _generation(self, settings: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in settings if name not in GENERATION_SETTINGS]
        if unknown:
            logger.debug(f"Passing extra generation arguments through: {unknown}")
        kwargs, seed = generation_kwargs({**self.generation_settings, **settings})
        if seed is not None:
            set_seed(seed)
        return kwargs

    def _generate(self, **kwargs: Any) -> torch.Tensor:
        if self.decoding != "generate":
            kwargs["decoding"] = self.decoding
        return self.model.generate(**kwargs)

    def _as_latent_batch(self, latent: LatentLike) -> tuple[torch.Tensor, bool]:
        z = torch.as_tensor(np.asarray(latent) if not isinstance(latent, torch.Tensor) else latent)
        single = z.dim() == 1
        z = z.unsqueeze(0) if single else z
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"A latent must have shape ({self.latent_dim},) or (n, {self.latent_dim}), got {tuple(z.shape)}."
            )
        if not torch.isfinite(z).all():
            raise ValueError("The latent holds NaN or infinite values.")
        return z.to(device=self.device, dtype=self._head_dtype()), single

    # -- the API -------------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def summarize(
        self,
        texts: str | Sequence[str],
        *,
        batch_size: int | None = None,
        progress: bool = False,
        **settings: Any,
    ) -> str | list[str]:
        """
        Summaries of one dialogue (returns a string) or a list (returns a list, in order).

        Settings (`temperature`, `top_p`, `top_k`, `num_beams`, `max_new_tokens`, `do_sample`, `seed`,
        `repetition_penalty`, `no_repeat_ngram_size`, ... any `GenerationConfig` field) override
        `self.generation_settings` and the model's generation config for this call. Setting a sampling parameter turns
        sampling on; `seed` makes sampling repeatable.
        """
        items, single = _as_text_list(texts)
        kwargs = self._generation(settings)
        summaries: list[str | None] = [None] * len(items)
        for positions, batch in self._batches(items, batch_size, progress, "Summarizing"):
            output = self._generate(**self._tokenize(batch), **kwargs)
            for position, summary in zip(positions, self.processor.batch_decode(output), strict=True):
                summaries[position] = summary
        return summaries[0] if single else summaries

    @torch.no_grad()
    def get_latent(
        self,
        texts: str | Sequence[str],
        stage: str = "out",
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """
        The latent of one text, shape `(latent_dim,)`, or of a list, shape `(n, latent_dim)` (float32, on the CPU).

        `stage="in"` gives `z_in` (the encoder side's idea vector); `stage="out"` (default) gives `z_out`, what the
        middle model makes of it and what `decode_latent` reads.
        """
        _check_stage(stage)
        items, single = _as_text_list(texts)
        latents = torch.empty(len(items), self.latent_dim)
        for positions, batch in self._batches(items, batch_size, progress, f"Encoding (z_{stage})"):
            inputs = self._tokenize(batch)
            z = self.model.encode(inputs["input_ids"], inputs["attention_mask"])
            if stage == "out":
                z = self.model.reason(z)
            latents[positions] = z.float().cpu()
        return latents[0] if single else latents

    @torch.no_grad()
    def reason(self, latent_in: LatentLike) -> torch.Tensor:
        """Runs the middle model on `z_in` latents: the `z_out` they become (float32, CPU)."""
        z, single = self._as_latent_batch(latent_in)
        z_out = self.model.reason(z).float().cpu()
        return z_out[0] if single else z_out

    @torch.no_grad()
    def decode_latent(
        self,
        latent: LatentLike,
        stage: str = "out",
        *,
        batch_size: int | None = None,
        progress: bool = False,
        **settings: Any,
    ) -> str | list[str]:
        """
        Text from any latent: a vector `(latent_dim,)` gives a string, a batch `(n, latent_dim)` a list. Accepts
        tensors, numpy arrays and lists, so latents can be edited by hand. With `stage="in"` the latent is a `z_in`
        and goes through the middle model first. Generation settings work as in `summarize`.
        """
        _check_stage(stage)
        z, single = self._as_latent_batch(latent)
        kwargs = self._generation(settings)
        texts: list[str] = []
        size = batch_size or self.batch_size
        starts = range(0, z.shape[0], size)
        for start in tqdm(starts, desc="Decoding latents", disable=not progress or len(starts) < 2, unit="batch"):
            chunk = z[start : start + size]
            if stage == "in":
                chunk = self.model.reason(chunk)
            texts.extend(self.processor.batch_decode(self._generate(latent=chunk, **kwargs)))
        return texts[0] if single else texts

    def interpolate(
        self,
        text_a: str,
        text_b: str,
        alphas: Sequence[float] | int = 5,
        method: str = "linear",
        stage: str = "out",
        **settings: Any,
    ) -> list[InterpolationStep]:
        """
        Decodes mixes of two texts' latents: one `InterpolationStep(alpha, text)` per mixing weight, where alpha 0 is
        `text_a`'s latent and 1 is `text_b`'s (values outside [0, 1] extrapolate). `alphas` may be a number of evenly
        spaced steps. `method` is `"linear"` or `"slerp"` (spherical); `stage="in"` mixes `z_in` and lets the middle
        model reason on each mix, `"out"` (default) mixes the `z_out` the decoder reads.
        """
        if method not in INTERPOLATION_METHODS:
            raise ValueError(f"method must be one of {INTERPOLATION_METHODS}, got {method!r}.")
        if isinstance(alphas, int) and not isinstance(alphas, bool):
            if alphas < 2:
                raise ValueError(f"Give at least 2 interpolation steps, got {alphas}.")
            alphas = np.linspace(0.0, 1.0, alphas).tolist()
        alphas = [float(alpha) for alpha in alphas]
        if not alphas or not all(math.isfinite(alpha) for alpha in alphas):
            raise ValueError(f"alphas must be finite numbers, got {alphas}.")
        # One text at a time: no padding, so the endpoints are exactly each text's own latent.
        z_a, z_b = self.get_latent(text_a, stage), self.get_latent(text_b, stage)
        mix = lerp if method == "linear" else slerp
        mixed = torch.stack([mix(z_a, z_b, alpha) for alpha in alphas])
        texts = self.decode_latent(mixed, stage, **settings)
        return [InterpolationStep(alpha, text) for alpha, text in zip(alphas, texts, strict=True)]

    def nearest(
        self,
        texts: Sequence[str],
        query: str | LatentLike,
        k: int = 5,
        stage: str = "out",
        *,
        latents: torch.Tensor | np.ndarray | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> list[Neighbor]:
        """
        The `k` texts whose latents are most cosine-similar to the query's, best first, as `Neighbor(index, score,
        text)`. The query is a text or a latent of the same stage. Pass `latents` (from `get_latent(texts, stage)`) to
        search the same corpus repeatedly without re-encoding it.
        """
        if isinstance(texts, str):
            raise TypeError("`texts` is the corpus to search: pass a list of texts (and the query as `query`).")
        items, _ = _as_text_list(texts)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        if latents is None:
            corpus = self.get_latent(items, stage, batch_size=batch_size, progress=progress)
        else:
            corpus = torch.as_tensor(np.asarray(latents) if isinstance(latents, np.ndarray) else latents).float()
            if corpus.shape != (len(items), self.latent_dim):
                raise ValueError(
                    f"latents must have shape ({len(items)}, {self.latent_dim}) to match texts, got {tuple(corpus.shape)}."
                )
        if isinstance(query, str):
            query_latent = self.get_latent(query, stage)
        else:
            query_latent, single = self._as_latent_batch(query)
            if not single and query_latent.shape[0] != 1:
                raise ValueError("Give one query latent, shape (latent_dim,).")
            query_latent = query_latent.reshape(-1).float().cpu()
        scores = torch.nn.functional.cosine_similarity(corpus.cpu(), query_latent.cpu().unsqueeze(0), dim=-1)
        top = torch.topk(scores, min(k, len(items)))
        return [Neighbor(int(i), float(s), items[int(i)]) for s, i in zip(top.values, top.indices, strict=True)]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(latent_dim={self.latent_dim}, device={self.device}, "
            f"max_source_length={self.max_source_length}, generation_settings={self.generation_settings})"
        )


__all__ = [
    "GENERATION_SETTINGS",
    "InterpolationStep",
    "LatentSpaceInference",
    "Neighbor",
    "generation_kwargs",
    "lerp",
    "parse_setting",
    "slerp",
]
