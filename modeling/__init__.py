"""Latent-space model families, one subpackage each, registered with the transformers Auto classes on import."""

from . import _quiet_logs  # noqa: F401, I001  (first: hides a false bitsandbytes warning before peft imports it)
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoProcessor

from .calm import (
    CalmAutoencoder,
    CalmAutoencoderConfig,
    CalmConfig,
    CalmForCausalLM,
)
from .latent_dynamics import LatentDynamicsConfig, LatentDynamicsForCausalLM
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
AutoProcessor.register(LatentSpaceConfig, LatentSpaceProcessor, exist_ok=True)
# `auto_map` in saved configs lets a pushed checkpoint load with `trust_remote_code=True` without this package.
LatentSpaceConfig.register_for_auto_class()
LatentSpaceForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
# Likewise `AutoProcessor.from_pretrained(dir_or_hub_id, trust_remote_code=True)` for the pair of tokenizers.
LatentSpaceProcessor.register_for_auto_class("AutoProcessor")
AutoConfig.register(LatentDynamicsConfig.model_type, LatentDynamicsConfig, exist_ok=True)
AutoModelForCausalLM.register(LatentDynamicsConfig, LatentDynamicsForCausalLM, exist_ok=True)
LatentDynamicsConfig.register_for_auto_class()
LatentDynamicsForCausalLM.register_for_auto_class("AutoModelForCausalLM")
AutoConfig.register(LatentThoughtConfig.model_type, LatentThoughtConfig, exist_ok=True)
AutoModelForCausalLM.register(LatentThoughtConfig, LatentThoughtForCausalLM, exist_ok=True)
LatentThoughtConfig.register_for_auto_class()
LatentThoughtForCausalLM.register_for_auto_class("AutoModelForCausalLM")

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
    "LatentDynamicsConfig",
    "LatentDynamicsForCausalLM",
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
