"""Building the model and its tokenizers from ModelArguments: new heads on two backbones, or a trained checkpoint."""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, BitsAndBytesConfig

from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration, LatentSpaceProcessor
from modeling.latent_space.configuration_latent_space import DEFAULT_DECODER, DEFAULT_ENCODER

from .arguments import ModelArguments

logger = logging.getLogger(__name__)

HEAD_FIELDS = (
    "encoder_layer",
    "pooling",
    "pooled_layer_norm",
    "pooled_batch_norm",
    "pooling_num_queries",
    "latent_dim",
    "num_idea_vectors",
    "compression_hidden_dims",
    "middle_model",
    "middle_hidden_dim",
    "middle_num_layers",
    "num_latent_slots",
    "middle_num_heads",
    "num_reasoning_steps",
    "prefix_len",
    "prefix_hidden_dim",
    "prefix_layer_norm",
    "latent_to_embeddings",
    "latent_to_logits",
    "head_dropout",
    "head_init",
    "freeze_encoder",
    "freeze_decoder",
    "encoder_lora",
    "decoder_lora",
)
# The training objective (and the route's coverage, which has no weights either): saved in the config like the head
# settings, but a recipe that continues a checkpoint may change it (a bag-of-words stage without the decoder, then
# summaries through it).
LOSS_FIELDS = ("bag_of_words_loss_weight", "decoder_loss_weight", "latent_logits_coverage")


def _was_set(args: ModelArguments, name: str) -> bool:
    """Whether a head setting was given (the freeze flags default to True, every other one to None)."""
    value = getattr(args, name)
    return value is False if name.startswith("freeze_") else value is not None


def decoder_prompt_ids(template: str, decoder_tokenizer) -> dict[str, list[int] | None]:
    """Splits a decoder prompt at its `{idea}` slot into the token ids placed before and after the soft prompt."""
    if template.count("{idea}") != 1:
        raise ValueError(
            f"decoder_prompt must contain {{idea}} exactly once (where the soft prompt goes), got {template!r}."
        )
    before, after = template.split("{idea}")

    def encode(text: str) -> list[int] | None:
        ids = decoder_tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        return ids or None  # no tokens on that side: nothing to place there

    return {"prompt_prefix_ids": encode(before), "prompt_suffix_ids": encode(after)}


def quantization_config(args: ModelArguments) -> BitsAndBytesConfig | None:
    """8-bit or 4-bit backbones need bitsandbytes and a CUDA GPU; say so before anything is downloaded."""
    if not (args.load_in_8bit or args.load_in_4bit):
        return None
    if not torch.cuda.is_available():
        raise RuntimeError(
            "load_in_8bit / load_in_4bit need a CUDA GPU (bitsandbytes), and none is visible. Use the frozen or lora "
            "recipe on this machine, or run this recipe on a GPU."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise ImportError("8-bit and 4-bit backbones need bitsandbytes: pip install bitsandbytes") from error
    if args.load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=args.bnb_4bit_quant_type,
        bnb_4bit_compute_dtype=getattr(torch, args.bnb_4bit_compute_dtype),
        bnb_4bit_use_double_quant=True,
    )


def loading_kwargs(args: ModelArguments) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if args.backbone_dtype is not None:
        kwargs["dtype"] = args.backbone_dtype if args.backbone_dtype == "auto" else getattr(torch, args.backbone_dtype)
    if args.attn_implementation is not None:
        kwargs["attn_implementation"] = args.attn_implementation
    quantization = quantization_config(args)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return kwargs


def check_backbones_match(args: ModelArguments) -> None:
    """
    A recipe that continues a checkpoint (e.g. fine-tuning after pre-training) and also names backbones must name the
    checkpoint's own: otherwise its heads would read features of another model. Checked before any weights load.
    """
    config = LatentSpaceConfig.from_pretrained(args.model_name_or_path)
    for role, named, default in (
        ("encoder", args.encoder_name_or_path, DEFAULT_ENCODER),
        ("decoder", args.decoder_name_or_path, DEFAULT_DECODER),
    ):
        trained_on = getattr(config, f"{role}_name_or_path")
        if named != default and named != trained_on:
            raise ValueError(
                f"{args.model_name_or_path} was trained on the {role} {trained_on!r}, but {role}_name_or_path is "
                f"{named!r}: its heads only fit the backbone they were trained with. Drop {role}_name_or_path or "
                f"start from a checkpoint trained on {named!r}."
            )


def check_loss_weights(args: ModelArguments) -> None:
    """The loss weights a continued checkpoint is given, checked against its config before any weights load."""
    config = LatentSpaceConfig.from_pretrained(args.model_name_or_path)
    for name in LOSS_FIELDS:
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    config.validate_architecture()


def set_loss_weights(model: LatentSpaceForConditionalGeneration, args: ModelArguments) -> None:
    """Gives a continued checkpoint the recipe's loss weights and says which objective it trains with."""
    for name in LOSS_FIELDS:
        if getattr(args, name) is not None:
            setattr(model.config, name, getattr(args, name))
    weights = ", ".join(f"{name}={getattr(model.config, name)}" for name in LOSS_FIELDS)
    logger.info(f"Training objective of {args.model_name_or_path}: {weights}")


def build_model_and_processor(
    args: ModelArguments,
) -> tuple[LatentSpaceForConditionalGeneration, LatentSpaceProcessor]:
    if args.model_name_or_path is not None:
        logger.info(f"Loading the trained latent-space model {args.model_name_or_path}")
        ignored = [name for name in (*HEAD_FIELDS, "decoder_prompt") if _was_set(args, name)]
        if ignored:
            logger.warning(
                f"{', '.join(ignored)} ignored: {args.model_name_or_path} keeps the heads, prompt and freezing it was "
                "trained with. Leave out model_name_or_path to build new heads with these settings."
            )
        check_backbones_match(args)
        check_loss_weights(args)
        model = AutoModelForSeq2SeqLM.from_pretrained(args.model_name_or_path, **loading_kwargs(args))
        set_loss_weights(model, args)
        processor = LatentSpaceProcessor.from_pretrained(args.model_name_or_path)
        if args.save_backbones:
            model.keep_backbones_in_checkpoints(True)
    else:
        head_kwargs = {
            name: getattr(args, name) for name in (*HEAD_FIELDS, *LOSS_FIELDS) if getattr(args, name) is not None
        }
        processor = LatentSpaceProcessor.from_encoder_decoder_pretrained(
            args.encoder_name_or_path, args.decoder_name_or_path
        )
        if args.decoder_prompt is not None:
            head_kwargs.update(decoder_prompt_ids(args.decoder_prompt, processor.decoder_tokenizer))
        logger.info(
            f"Building new heads on encoder {args.encoder_name_or_path} and decoder {args.decoder_name_or_path} "
            f"with {head_kwargs}"
        )
        model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
            args.encoder_name_or_path,
            args.decoder_name_or_path,
            save_backbones=args.save_backbones,
            **head_kwargs,
            **loading_kwargs(args),
        )
    model.generation_config.max_new_tokens = args.max_new_tokens
    if args.repetition_penalty is not None:
        model.generation_config.repetition_penalty = args.repetition_penalty
    if args.no_repeat_ngram_size is not None:
        model.generation_config.no_repeat_ngram_size = args.no_repeat_ngram_size
    if args.num_beams is not None:
        model.generation_config.num_beams = args.num_beams
    return model, processor


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
