"""Latent-space model families, one subpackage each, registered with the transformers Auto classes on import."""

from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

from .latent_space import (
    LatentSpaceConfig,
    LatentSpaceForConditionalGeneration,
    LatentSpacePreTrainedModel,
    LatentSpaceProcessor,
    LatentSpaceSeq2SeqLMOutput,
)
from .latent_thought import (
    LatentThoughtCausalLMOutput,
    LatentThoughtConfig,
    LatentThoughtForCausalLM,
    LatentThoughtGenerateOutput,
    LatentThoughtPreTrainedModel,
    LatentThoughtScheduleCallback,
)

AutoConfig.register(LatentSpaceConfig.model_type, LatentSpaceConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(LatentSpaceConfig, LatentSpaceForConditionalGeneration, exist_ok=True)
# `auto_map` in saved configs lets a pushed checkpoint load with `trust_remote_code=True` without this package.
LatentSpaceConfig.register_for_auto_class()
LatentSpaceForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
AutoConfig.register(LatentThoughtConfig.model_type, LatentThoughtConfig, exist_ok=True)
AutoModelForCausalLM.register(LatentThoughtConfig, LatentThoughtForCausalLM, exist_ok=True)
LatentThoughtConfig.register_for_auto_class()
LatentThoughtForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "LatentSpaceConfig",
    "LatentSpaceForConditionalGeneration",
    "LatentSpacePreTrainedModel",
    "LatentSpaceProcessor",
    "LatentSpaceSeq2SeqLMOutput",
    "LatentThoughtCausalLMOutput",
    "LatentThoughtConfig",
    "LatentThoughtForCausalLM",
    "LatentThoughtGenerateOutput",
    "LatentThoughtPreTrainedModel",
    "LatentThoughtScheduleCallback",
]
