"""The latent-space summarizer: encoder -> pooling -> idea vector -> middle model -> prefix adapter -> causal LM."""

from .configuration_latent_space import LatentSpaceConfig
from .modeling_latent_space import (
    LatentSpaceForConditionalGeneration,
    LatentSpacePreTrainedModel,
    LatentSpaceSeq2SeqLMOutput,
)
from .processing_latent_space import LatentSpaceProcessor

__all__ = [
    "LatentSpaceConfig",
    "LatentSpaceForConditionalGeneration",
    "LatentSpacePreTrainedModel",
    "LatentSpaceProcessor",
    "LatentSpaceSeq2SeqLMOutput",
]
