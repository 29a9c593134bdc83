"""The latent-thought reasoner: a causal LM that learns to run its reasoning steps in hidden states (seed 003)."""

from .configuration_latent_thought import LatentThoughtConfig
from .modeling_latent_thought import (
    LatentThoughtCausalLMOutput,
    LatentThoughtForCausalLM,
    LatentThoughtGenerateOutput,
    LatentThoughtPreTrainedModel,
)
from .schedule_latent_thought import LatentThoughtScheduleCallback

__all__ = [
    "LatentThoughtCausalLMOutput",
    "LatentThoughtConfig",
    "LatentThoughtForCausalLM",
    "LatentThoughtGenerateOutput",
    "LatentThoughtPreTrainedModel",
    "LatentThoughtScheduleCallback",
]
