"""Latent-space model families, one subpackage each, registered with the transformers Auto classes on import."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

from .calm import (
    CalmAutoencoder,
    CalmAutoencoderConfig,
    CalmConfig,
    CalmForCausalLM,
)
from .latent_space import (
    LatentSpaceConfig,
    LatentSpaceForConditionalGeneration,
    LatentSpacePreTrainedModel,
    LatentSpaceProcessor,
    LatentSpaceSeq2SeqLMOutput,
)

AutoConfig.register(LatentSpaceConfig.model_type, LatentSpaceConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(LatentSpaceConfig, LatentSpaceForConditionalGeneration, exist_ok=True)
# `auto_map` in saved configs lets a pushed checkpoint load with `trust_remote_code=True` without this package.
LatentSpaceConfig.register_for_auto_class()
LatentSpaceForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

AutoConfig.register(CalmAutoencoderConfig.model_type, CalmAutoencoderConfig, exist_ok=True)
AutoConfig.register(CalmConfig.model_type, CalmConfig, exist_ok=True)
AutoModel.register(CalmAutoencoderConfig, CalmAutoencoder, exist_ok=True)
AutoModelForCausalLM.register(CalmConfig, CalmForCausalLM, exist_ok=True)
CalmAutoencoderConfig.register_for_auto_class()
CalmAutoencoder.register_for_auto_class("AutoModel")
CalmConfig.register_for_auto_class()
CalmForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "CalmAutoencoder",
    "CalmAutoencoderConfig",
    "CalmConfig",
    "CalmForCausalLM",
    "LatentSpaceConfig",
    "LatentSpaceForConditionalGeneration",
    "LatentSpacePreTrainedModel",
    "LatentSpaceProcessor",
    "LatentSpaceSeq2SeqLMOutput",
]
