"""CALM: a K-token autoencoder and a student that predicts its latent vectors, K tokens per autoregressive step."""

from .configuration_calm import CalmAutoencoderConfig, CalmConfig
from .modeling_calm import (
    CalmAutoencoder,
    CalmAutoencoderOutput,
    CalmCausalLMOutput,
    CalmForCausalLM,
    CalmGenerationOutput,
    CalmPreTrainedModel,
)

__all__ = [
    "CalmAutoencoder",
    "CalmAutoencoderConfig",
    "CalmAutoencoderOutput",
    "CalmCausalLMOutput",
    "CalmConfig",
    "CalmForCausalLM",
    "CalmGenerationOutput",
    "CalmPreTrainedModel",
]
