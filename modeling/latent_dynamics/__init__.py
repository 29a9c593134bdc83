"""Latent dynamics for long sequences (seed 002): gated leaky recurrence + chunked causal attention, and baselines."""

from .configuration_latent_dynamics import LatentDynamicsConfig
from .modeling_latent_dynamics import (
    LatentDecoder,
    LatentDynamics,
    LatentDynamicsCausalLMOutput,
    LatentDynamicsForCausalLM,
    LatentDynamicsPreTrainedModel,
    LatentEncoder,
)

__all__ = [
    "LatentDecoder",
    "LatentDynamics",
    "LatentDynamicsCausalLMOutput",
    "LatentDynamicsConfig",
    "LatentDynamicsForCausalLM",
    "LatentDynamicsPreTrainedModel",
    "LatentEncoder",
]
