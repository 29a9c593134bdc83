"""Configuration of the latent-thought reasoner: a causal LM that learns to run its reasoning steps in hidden states."""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, PretrainedConfig

SCHEDULE_TYPES = ("none", "mixing", "coconut")
DEFAULT_DECODER = "HuggingFaceTB/SmolLM2-135M-Instruct"
BOT_TOKEN, EOT_TOKEN, LATENT_TOKEN = "<bot>", "<eot>", "<latent>"


def _as_decoder_config(value: PretrainedConfig | dict[str, Any] | None) -> PretrainedConfig:
    """The decoder sub-config given as a config, a dict (from JSON) or None (a default Llama config)."""
    if value is None:
        return AutoConfig.for_model("llama")
    if isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, dict):
        value = dict(value)
        model_type = value.pop("model_type", None)
        if model_type is None:
            raise ValueError(f"The decoder config dict needs a `model_type` key (e.g. 'llama', 'gpt2'), got {value}.")
        return AutoConfig.for_model(model_type, **value)
    raise TypeError(f"The decoder config must be a PretrainedConfig or a dict, got {type(value).__name__}.")


class LatentThoughtConfig(PretrainedConfig):
    r"""
    Configuration of [`LatentThoughtForCausalLM`]: any causal LM plus the settings that make it think in hidden states.

    A training sequence reads `question <bot> [thoughts] [written steps] <eot> answer <eos>`. Positions between `<bot>`
    and `<eot>` are reasoning positions; the question is never a target. Two ways to move reasoning into latent space
    live in the same model, each as a *schedule* over training that a `LatentThoughtScheduleCallback` advances:

    - `"mixing"` (the seed): at each written reasoning position the input is
      `(1 - r) * token_embedding + r * norm(previous position's last hidden state)`, and the ratio `r` goes
      text (0) -> latent (ramps to `max_mixing_ratio`) -> mixed (`final_mixing_ratio`) over training.
    - `"coconut"` (Hao et al. 2024): at stage `k` the first `k` written steps are replaced by `k * thoughts_per_step`
      continuous thoughts (`<latent>` positions whose input is the previous position's last hidden state, computed one
      forward pass per thought); after `max_latent_stage` a last stage drops every written step.

    Args:
        decoder (`PretrainedConfig` or `dict`, *optional*):
            Configuration of the wrapped causal LM (any `AutoModelForCausalLM`). Defaults to a Llama configuration.
        decoder_name_or_path (`str`, *optional*, defaults to `"HuggingFaceTB/SmolLM2-135M-Instruct"`):
            Where the decoder weights came from. Informational: model cards and logs.
        bot_token_id (`int`, *optional*):
            Id of `<bot>`, which opens the reasoning. Set by `from_decoder_pretrained` when it adds the token.
        eot_token_id (`int`, *optional*):
            Id of `<eot>`, which closes the reasoning; generation's latent loop stops when the model predicts it.
        latent_token_id (`int`, *optional*):
            Id of `<latent>`, the placeholder of a continuous thought (its embedding is never read).
        schedule (`str`, *optional*, defaults to `"none"`):
            `"none"` (plain CoT or no-CoT fine-tuning), `"mixing"` or `"coconut"` (see above).
        use_reasoning (`bool`, *optional*, defaults to `True`):
            Whether sequences hold a `<bot> ... <eot>` reasoning segment at all; `False` is the no-CoT baseline
            (question, then the answer straight away).
        mixing_ratio (`float`, *optional*, defaults to 0.0):
            The current mixing ratio `r` (0: written tokens only, 1: hidden states only). Written by the schedule at
            every step, so a saved model generates with the ratio it was trained with last.
        text_phase_fraction (`float`, *optional*, defaults to 0.2):
            Fraction of training (by optimizer steps) in the text phase, at ratio 0.
        latent_phase_fraction (`float`, *optional*, defaults to 0.5):
            Fraction of training over which the ratio then ramps linearly from 0 to `max_mixing_ratio`.
        max_mixing_ratio (`float`, *optional*, defaults to 1.0):
            Ratio reached at the end of the latent phase.
        final_mixing_ratio (`float`, *optional*, defaults to 0.5):
            Ratio of the mixed phase, the rest of training; generation uses it.
        latent_norm_matching (`bool`, *optional*, defaults to `True`):
            Whether a hidden state fed back as an input is RMS-normalised and rescaled to the RMS of the token
            embeddings (the seed's norm matching). Off: the raw last hidden state, as Coconut does.
        thoughts_per_step (`int`, *optional*, defaults to 2):
            Continuous thoughts that replace one written step (Coconut's `c`).
        max_latent_stage (`int`, *optional*, defaults to 3):
            Last stage that replaces a counted number of steps; the stage after it drops every written step and keeps
            `max_latent_stage * thoughts_per_step` thoughts.
        epochs_per_stage (`float`, *optional*, defaults to 1.0):
            Training epochs each Coconut stage lasts (fractions allowed). The optimizer state is reset at each stage.
        latent_stage (`int`, *optional*, defaults to 0):
            The current Coconut stage, written by the schedule; a saved model generates with its number of thoughts.
        max_reasoning_steps (`int`, *optional*, defaults to 64):
            At generation with mixing, the most reasoning positions run before `<eot>` is forced.
        ce_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the cross-entropy on reasoning and answer tokens.
        mse_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of the latent MSE between each hidden state (as fed back) and the embedding of the next written
            reasoning token, both divided by the embedding RMS so the term is of order 1.
        cosine_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of `1 - cosine` between the same pair.
        decoder_lora (`dict`, *optional*):
            Keyword arguments of a `peft.LoraConfig`; when set only the adapters train (injected in place, so
            checkpoints keep this model's parameter names).

    Example:

    ```python
    >>> from modeling import LatentThoughtForCausalLM

    >>> model, tokenizer = LatentThoughtForCausalLM.from_decoder_pretrained(
    ...     "backbones/SmolLM2-135M-Instruct", schedule="coconut", thoughts_per_step=2
    ... )
    ```"""

    model_type = "latent_thought"
    sub_configs = {"decoder": AutoConfig}

    decoder: PretrainedConfig | dict | None = None
    decoder_name_or_path: str | None = DEFAULT_DECODER
    bot_token_id: int | None = None
    eot_token_id: int | None = None
    latent_token_id: int | None = None
    schedule: str = "none"
    use_reasoning: bool = True
    mixing_ratio: float = 0.0
    text_phase_fraction: float = 0.2
    latent_phase_fraction: float = 0.5
    max_mixing_ratio: float = 1.0
    final_mixing_ratio: float = 0.5
    latent_norm_matching: bool = True
    thoughts_per_step: int = 2
    max_latent_stage: int = 3
    epochs_per_stage: float = 1.0
    latent_stage: int = 0
    max_reasoning_steps: int = 64
    ce_loss_weight: float = 1.0
    mse_loss_weight: float = 0.0
    cosine_loss_weight: float = 0.0
    decoder_lora: dict | None = None
    tie_word_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self, **kwargs):
        self.decoder = _as_decoder_config(self.decoder)
        decoder = self.decoder
        eos = decoder.eos_token_id[0] if isinstance(decoder.eos_token_id, list) else decoder.eos_token_id
        if self.bos_token_id is None:
            self.bos_token_id = decoder.bos_token_id
        if self.eos_token_id is None:
            self.eos_token_id = eos
        if self.pad_token_id is None:
            self.pad_token_id = decoder.pad_token_id if decoder.pad_token_id is not None else eos
        # Keep the decoder's attention implementation unless one is asked for (the base class would reset it).
        decoder_attn = decoder._attn_implementation
        requested_attn = kwargs.get("attn_implementation")
        super().__post_init__(**kwargs)
        if requested_attn is None:
            self.decoder._attn_implementation = decoder_attn
        self.validate_architecture()

    def validate_architecture(self) -> None:
        """Raises early, in the user's words, for settings the model cannot run with."""
        if self.schedule not in SCHEDULE_TYPES:
            raise ValueError(f"Unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULE_TYPES)}.")
        if getattr(self.decoder, "is_encoder_decoder", False):
            raise ValueError(
                f"The decoder must be a decoder-only causal LM (e.g. Llama, GPT-2), got {type(self.decoder).__name__}."
            )
        for name in ("mixing_ratio", "max_mixing_ratio", "final_mixing_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {getattr(self, name)}.")
        if self.text_phase_fraction < 0 or self.latent_phase_fraction < 0:
            raise ValueError("`text_phase_fraction` and `latent_phase_fraction` must not be negative.")
        if self.text_phase_fraction + self.latent_phase_fraction > 1.0:
            raise ValueError(
                f"The text and latent phases take {self.text_phase_fraction} + {self.latent_phase_fraction} of "
                "training, more than all of it."
            )
        for name in ("thoughts_per_step", "max_latent_stage", "max_reasoning_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.epochs_per_stage <= 0:
            raise ValueError(f"`epochs_per_stage` must be positive, got {self.epochs_per_stage}.")
        if not 0 <= self.latent_stage <= self.max_latent_stage + 1:
            raise ValueError(
                f"`latent_stage` must be between 0 and max_latent_stage + 1 = {self.max_latent_stage + 1}, got "
                f"{self.latent_stage}."
            )
        for name in ("ce_loss_weight", "mse_loss_weight", "cosine_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must not be negative, got {getattr(self, name)}.")
        if self.schedule != "none" and not self.use_reasoning:
            raise ValueError(f"schedule={self.schedule!r} moves reasoning into latent space: it needs use_reasoning.")
        if self.schedule == "coconut" and self.mixing_ratio > 0:
            raise ValueError("Coconut thoughts and embedding mixing are separate schedules: keep mixing_ratio at 0.")
        if self.decoder_lora is not None and (
            not isinstance(self.decoder_lora, dict) or not self.decoder_lora.get("target_modules")
        ):
            raise ValueError(
                f"`decoder_lora` must be a dict of peft.LoraConfig arguments naming `target_modules`, got "
                f"{self.decoder_lora!r}."
            )

    # -- the schedules: training progress -> ratio or stage --------------------------------------------------------------

    def mixing_ratio_at(self, progress: float) -> float:
        """The seed's three phases: text (0), latent (linear ramp to the maximum), then mixed (the final ratio)."""
        if progress < self.text_phase_fraction:
            return 0.0
        ramp_end = self.text_phase_fraction + self.latent_phase_fraction
        if progress < ramp_end:
            return self.max_mixing_ratio * (progress - self.text_phase_fraction) / self.latent_phase_fraction
        return self.final_mixing_ratio

    def stage_at(self, epoch: float) -> int:
        """Coconut's stage after `epoch` epochs: 0 (written CoT), 1..max_latent_stage, then the last stage."""
        return min(int(math.floor(epoch / self.epochs_per_stage + 1e-9)), self.max_latent_stage + 1)

    def num_thoughts(self, stage: int | None = None) -> int:
        """Continuous thoughts at a stage (the current one by default): `c * min(stage, max_latent_stage)`."""
        stage = self.latent_stage if stage is None else stage
        if self.schedule != "coconut":
            return 0
        return self.thoughts_per_step * min(stage, self.max_latent_stage)

    def steps_replaced(self, stage: int | None = None) -> int | None:
        """Written steps the stage removes; None means all of them (the last stage)."""
        stage = self.latent_stage if stage is None else stage
        if self.schedule != "coconut":
            return 0
        return None if stage > self.max_latent_stage else stage

    @property
    def hidden_size(self) -> int:
        return self.decoder.hidden_size

    @classmethod
    def from_decoder_config(cls, decoder_config: PretrainedConfig, **kwargs) -> LatentThoughtConfig:
        return cls(decoder=decoder_config, **kwargs)


__all__ = ["LatentThoughtConfig", "SCHEDULE_TYPES", "BOT_TOKEN", "EOT_TOKEN", "LATENT_TOKEN"]
