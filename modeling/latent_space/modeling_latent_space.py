"""A summarizer that thinks in a compact idea space.

Data flows through this file top to bottom:

    dialogue -> encoder -> pooling -> compression MLP -> z_in (latent_dim)
             -> middle model (mlp | transformer | gru | identity) -> z_out
             -> prefix adapter -> prefix_len soft-prompt vectors (+ the decoder's start token)
             -> causal LM decoder -> summary

The backbones are ordinary `AutoModel` / `AutoModelForCausalLM` instances; only the small heads in between are new.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging as std_logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    GenerationConfig,
    GenerationMixin,
    LogitsProcessor,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_MAPPING
from transformers.utils import cached_file, logging

from .compiled_decoding import DECODING_CHOICES, UnsupportedDecodingSetting, compiled_decoder
from .configuration_latent_space import LatentSpaceConfig

logger = logging.get_logger(__name__)


@dataclass
class LatentSpaceSeq2SeqLMOutput(ModelOutput):
    """
    Output of [`LatentSpaceForConditionalGeneration.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is given):
            Cross-entropy over the summary tokens only (soft prompt and padding are never targets), times
            `decoder_loss_weight`, plus the weighted bag-of-words loss when the config asks for it.
        logits (`torch.FloatTensor` of shape `(batch_size, target_length, vocab_size)`):
            Decoder scores for each summary position; `logits[:, t]` predicts `labels[:, t]`. None when
            `decoder_loss_weight` is 0 (the decoder does not run).
        latent_in (`torch.FloatTensor` of shape `(batch_size, latent_size)`):
            The idea vector `z_in` produced by the encoder side.
        latent_out (`torch.FloatTensor` of shape `(batch_size, latent_size)`):
            The transformed idea `z_out` produced by the middle model.
        prefix_embeds (`torch.FloatTensor` of shape `(batch_size, prompt_length, decoder_hidden_size)`):
            What the decoder reads before the summary: the `prefix_len` soft-prompt vectors, between the embeddings of
            `prompt_prefix_ids` / `prompt_suffix_ids` when set, else followed by the start-token embedding when used.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latent_in: torch.FloatTensor | None = None
    latent_out: torch.FloatTensor | None = None
    prefix_embeds: torch.FloatTensor | None = None
    bag_of_words_loss: torch.FloatTensor | None = None


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    """Linear layers through `sizes` with GELU and dropout between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(sizes) - 2:
            layers.extend([nn.GELU(), nn.Dropout(dropout)])
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------------------------------------
# 1. Pooling: token states [B, L, H] -> pooled vectors [B, V, H] (V = 1, attention queries, or idea vectors)
# ----------------------------------------------------------------------------------------------------------------------


class LatentSpacePooling(nn.Module):
    """
    Mean over real tokens, the first token (`cls`), attention with learned queries, the means of consecutive
    stretches of the real tokens (`segments`), or the states of memory tokens the encoder read after the dialogue
    (`memory`, see `LatentSpaceForConditionalGeneration.encoder_memory_states`). Always returns
    `(batch, config.pooled_vectors, hidden)`.
    """

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        self.mode = config.pooling
        self.num_vectors = config.pooled_vectors
        if self.mode == "attention":
            # A linear scorer holds one learned query vector per output (its weight rows) plus a bias.
            self.score = nn.Linear(config.encoder_hidden_size, self.num_vectors)
        if self.mode == "memory":
            self.memory = nn.Parameter(torch.zeros(self.num_vectors, config.encoder_hidden_size))

    @torch.no_grad()
    def match_scale(self, token_embeddings: torch.Tensor) -> None:
        """Starts the memory embeddings at the scale of the encoder's own token embeddings."""
        if self.mode != "memory" or token_embeddings.is_meta or self.memory.is_meta:
            return
        scale = token_embeddings.detach().float().std()
        if torch.isfinite(scale) and scale > 0:
            self.memory.normal_(mean=0.0, std=scale.item())

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "cls":
            return hidden_states[:, :1]
        if self.mode == "memory":
            return hidden_states  # already the memory tokens' states
        real = attention_mask != 0
        if self.mode == "attention":
            scores = self.score(hidden_states) / math.sqrt(hidden_states.shape[-1])  # [B, L, V]
            scores = scores.masked_fill(~real.unsqueeze(-1), torch.finfo(scores.dtype).min)
            weights = scores.softmax(dim=1)
        else:
            # Token i of the n real ones belongs to stretch floor(i * V / n); `mean` is the case V = 1.
            rank = real.long().cumsum(dim=1) - 1
            length = real.sum(dim=1, keepdim=True).clamp(min=1)
            segment = torch.div(rank * self.num_vectors, length, rounding_mode="floor")
            weights = F.one_hot(segment.clamp(0, self.num_vectors - 1), self.num_vectors).to(hidden_states.dtype)
            weights = weights * real.unsqueeze(-1).to(hidden_states.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        return torch.einsum("blv,blh->bvh", weights, hidden_states)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Compression: pooled vectors -> idea vector(s) z_in [B, num_idea_vectors * latent_dim]
# ----------------------------------------------------------------------------------------------------------------------


class LatentSpaceCompression(nn.Module):
    """
    The compression MLP (768 -> 512 -> 256 by default), after a LayerNorm of each pooled vector when
    `pooled_layer_norm` and a batch standardisation of each feature when `pooled_batch_norm`. With several idea
    vectors, the same MLP compresses each pooled vector; otherwise it reads the pooled vectors concatenated.
    """

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        self.per_idea = config.num_idea_vectors > 1
        self.norm = nn.LayerNorm(config.encoder_hidden_size) if config.pooled_layer_norm else None
        self.standardize = (
            nn.BatchNorm1d(config.encoder_hidden_size, affine=False) if config.pooled_batch_norm else None
        )
        sizes = [config.pooled_size, *config.compression_hidden_dims, config.latent_dim]
        self.mlp = _mlp(sizes, config.head_dropout)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            pooled = self.norm(pooled)
        if self.standardize is not None:  # statistics over every pooled vector of the batch, feature by feature
            vectors = pooled.flatten(0, -2)
            if self.training and vectors.shape[0] < 2:
                raise ValueError(
                    "pooled_batch_norm standardises each feature over the batch's pooled vectors, and this training "
                    "batch has only one: train with per_device_train_batch_size >= 2 (or several idea vectors)."
                )
            pooled = self.standardize(vectors.float()).view(pooled.shape).to(pooled.dtype)
        if self.per_idea:
            return self.mlp(pooled).flatten(1)
        return self.mlp(pooled.flatten(1))


# ----------------------------------------------------------------------------------------------------------------------
# 3. Middle model: z_in -> z_out, the latent reasoning core
# ----------------------------------------------------------------------------------------------------------------------


class LatentSpaceMLPMiddle(nn.Module):
    """A small MLP: latent -> hidden -> ... -> latent (`middle_num_layers` linear layers)."""

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        hidden = [config.middle_hidden_dim] * (config.middle_num_layers - 1)
        self.mlp = _mlp([config.latent_dim, *hidden, config.latent_dim], config.head_dropout)
        self.residual = config.middle_residual

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.mlp(z)
        return z + out if self.residual else out


class LatentSpaceTransformerMiddle(nn.Module):
    """A tiny transformer over `num_latent_slots` slots unfolded from the idea vector, folded back afterwards."""

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        self.num_slots = config.num_latent_slots
        d = config.latent_dim
        self.to_slots = nn.Linear(d, self.num_slots * d)
        self.slot_embeddings = nn.Parameter(torch.zeros(self.num_slots, d))
        layer = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=config.middle_num_heads,
            dim_feedforward=config.middle_hidden_dim,
            dropout=config.head_dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, config.middle_num_layers, enable_nested_tensor=False)
        self.from_slots = nn.Linear(self.num_slots * d, d)
        self.residual = config.middle_residual

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        slots = self.to_slots(z).view(z.shape[0], self.num_slots, -1) + self.slot_embeddings
        out = self.from_slots(self.layers(slots).flatten(1))
        return z + out if self.residual else out


class LatentSpaceGRUMiddle(nn.Module):
    """`num_reasoning_steps` recurrent steps in latent space, each reading z_in and refining the state."""

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        self.steps = config.num_reasoning_steps
        self.cell = nn.GRUCell(config.latent_dim, config.latent_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        state = z
        for _ in range(self.steps):
            state = self.cell(z, state)
        return state


MIDDLE_MODELS: dict[str, type[nn.Module]] = {
    "mlp": LatentSpaceMLPMiddle,
    "transformer": LatentSpaceTransformerMiddle,
    "gru": LatentSpaceGRUMiddle,
    "identity": nn.Identity,
}


def build_middle_model(config: LatentSpaceConfig) -> nn.Module:
    if config.middle_model == "identity":
        return nn.Identity()
    return MIDDLE_MODELS[config.middle_model](config)


# ----------------------------------------------------------------------------------------------------------------------
# 4. Prefix adapter: z_out -> [B, prefix_len, decoder_hidden] soft prompt
# ----------------------------------------------------------------------------------------------------------------------


class LatentSpacePrefixAdapter(nn.Module):
    """
    The expansion MLP: latent -> prefix_hidden -> prefix_len * decoder_hidden, reshaped into a soft prompt; with
    `prefix_layer_norm`, each prompt vector is normalised and scaled like the decoder's token embeddings. With several
    idea vectors, the same MLP expands each into `prefix_len / num_idea_vectors` prompt vectors, in order.
    """

    def __init__(self, config: LatentSpaceConfig):
        super().__init__()
        self.prefix_len = config.prefix_len
        self.hidden = config.decoder_hidden_size
        self.num_ideas = config.num_idea_vectors
        self.latent_dim = config.latent_dim
        per_idea = self.prefix_len // self.num_ideas
        self.mlp = _mlp([config.latent_dim, config.prefix_hidden_dim, per_idea * self.hidden], config.head_dropout)
        # A tiny eps: fresh MLP outputs can have a variance near the default 1e-5, which would shrink them further.
        self.norm = nn.LayerNorm(self.hidden, eps=1e-8) if config.prefix_layer_norm else None

    @torch.no_grad()
    def match_scale(self, token_embeddings: torch.Tensor) -> None:
        """Starts the LayerNorm gain at the embeddings' per-dimension standard deviation (their typical scale)."""
        if self.norm is None or token_embeddings.is_meta or self.norm.weight.is_meta:
            return
        scale = token_embeddings.detach().float().std()
        if torch.isfinite(scale) and scale > 0:
            self.norm.weight.fill_(scale.item())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ideas = z.view(z.shape[0], self.num_ideas, self.latent_dim)
        prefix = self.mlp(ideas).view(z.shape[0], self.prefix_len, self.hidden)
        return prefix if self.norm is None else self.norm(prefix)


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------


class LatentSpacePreTrainedModel(PreTrainedModel):
    config_class = LatentSpaceConfig
    config: LatentSpaceConfig
    base_model_prefix = "latent_space"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _no_split_modules = ["LatentSpacePrefixAdapter"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if self.config.head_init == "fan_in" and isinstance(module, nn.Linear) and self._is_head_mlp_layer(module):
            init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
        if module is getattr(self, "latent_embedding", None) or module is getattr(self, "latent_logits", None):
            init.zeros_(module.weight)  # the decoder starts exactly as pretrained and learns how much to read
        if isinstance(module, LatentSpaceTransformerMiddle):
            init.normal_(module.slot_embeddings, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, LatentSpacePooling) and module.mode == "memory":
            init.normal_(module.memory, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.GRUCell):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for param in module.parameters():
                init.uniform_(param, -bound, bound)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """
        Saves as the model's own class even when FSDP2 has swapped it: `fully_shard` turns the instance into a
        subclass defined in torch, and transformers would copy torch's file as the checkpoint's remote code and point
        `auto_map` at that class, so the pushed model would not load with `trust_remote_code=True`.
        """
        if self._auto_class is not None:
            # With the model's code goes the summarization pipeline's (this relative import makes transformers copy
            # its file too), so `pipeline("summarization", model=dir, trust_remote_code=True)` works from the Hub.
            from .pipeline_latent_space import CUSTOM_PIPELINES

            self.config.custom_pipelines = CUSTOM_PIPELINES
        own_class = next(cls for cls in type(self).__mro__ if cls.__module__ == __name__)
        wrapped_class = type(self)
        self.__class__ = own_class
        try:
            return super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            self.__class__ = wrapped_class

    def _is_head_mlp_layer(self, layer: nn.Linear) -> bool:
        """Whether `layer` belongs to the compression, middle or expansion MLP (the layers `head_init` is about)."""
        heads = (getattr(self, name, None) for name in ("compression", "middle", "prefix_adapter"))
        return any(layer is module for head in heads if head is not None for module in head.modules())


# ----------------------------------------------------------------------------------------------------------------------
# Lean checkpoints: a frozen backbone is referenced by name or path and a hash of its weight files, not stored
# ----------------------------------------------------------------------------------------------------------------------

# Options of `from_pretrained` that say where files come from, passed on when a backbone's files are looked up.
_HUB_OPTIONS = ("revision", "cache_dir", "token", "local_files_only", "force_download", "proxies")
_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


def _backbone_weight_files(name_or_path: str, **hub_options) -> list[Path]:
    """The weight files of a backbone folder or Hub repository (one file, or the shards of an index)."""
    folder = Path(name_or_path)
    if folder.is_dir():
        for pattern in ("*.safetensors", "pytorch_model*.bin"):
            files = sorted(path for path in folder.glob(pattern) if not path.name.startswith("adapter_"))
            if files:
                return files
        raise FileNotFoundError(f"{name_or_path} holds no weight files (*.safetensors or pytorch_model*.bin).")
    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        found = cached_file(name_or_path, single, _raise_exceptions_for_missing_entries=False, **hub_options)
        if found:
            return [Path(found)]
        found = cached_file(name_or_path, index, _raise_exceptions_for_missing_entries=False, **hub_options)
        if found:
            shards = sorted(set(json.loads(Path(found).read_text())["weight_map"].values()))
            return [Path(cached_file(name_or_path, shard, **hub_options)) for shard in shards]
    raise FileNotFoundError(f"No weight files found for {name_or_path}.")


def _files_sha256(files: list[Path]) -> str:
    """SHA-256 over the files' names and bytes, remembered per (path, size, mtime) within the process."""
    key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if key not in _SHA256_CACHE:
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda handle=handle: handle.read(1 << 24), b""):
                    digest.update(chunk)
        _SHA256_CACHE[key] = digest.hexdigest()
    return _SHA256_CACHE[key]


def _weight_reference(name_or_path: str, hub_options: dict) -> dict[str, str]:
    """What a lean checkpoint records about a backbone: where its weights load from, and their hash."""
    local = Path(name_or_path).is_dir()
    reference = {
        # Local folders by absolute path, so the checkpoint loads from any working directory.
        "name_or_path": str(Path(name_or_path).resolve()) if local else str(name_or_path),
        "sha256": _files_sha256(_backbone_weight_files(name_or_path, **hub_options)),
    }
    if not local and hub_options.get("revision"):
        reference["revision"] = hub_options["revision"]
    return reference


class _DropTiedWeightsWarning(std_logging.Filter):
    """Hides transformers' "checkpoint seem corrupted" note about tied weights of backbones loaded afterwards."""

    def __init__(self, backbones: tuple[str, ...]):
        super().__init__()
        self.prefixes = tuple(f" {name}." for name in backbones)

    def filter(self, record: std_logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("This checkpoint seem corrupted") and any(p in message for p in self.prefixes))


def _is_quantized(model: PreTrainedModel) -> bool:
    return getattr(model, "hf_quantizer", None) is not None or bool(getattr(model, "is_quantized", False))


def _check_backbone_kinds(config: LatentSpaceConfig) -> None:
    """The encoder must load with AutoModel and the decoder with AutoModelForCausalLM; say so in plain words."""
    if type(config.encoder) not in MODEL_MAPPING:
        raise ValueError(f"The encoder must be a model AutoModel can build, got {type(config.encoder).__name__}.")
    if type(config.decoder) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise ValueError(
            f"The decoder must be a causal LM (AutoModelForCausalLM, e.g. GPT-2 or Llama), got "
            f"{type(config.decoder).__name__}."
        )


def _add_rows(states: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """`states` (batch * repeats, length, hidden) plus each row's `shift` (batch, hidden), repeated in place."""
    if states.shape[0] != shift.shape[0]:
        shift = shift.repeat_interleave(states.shape[0] // shift.shape[0], dim=0)
    return states + shift[:, None].to(states.dtype)


class LatentRouteCoverage(LogitsProcessor):
    """
    `latent_logits_coverage` at generation: takes the `latent_to_logits` route's bias (`route`, `(batch, vocab)`) back
    from every token the summary already holds, as the training loss does. Beams and samples repeat rows in place.
    """

    def __init__(self, route: torch.Tensor):
        self.route = route

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] == 0:
            return scores
        route = self.route
        if scores.shape[0] != route.shape[0]:
            route = route.repeat_interleave(scores.shape[0] // route.shape[0], dim=0)
        written = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, input_ids, True)
        return scores - written * route.to(scores.dtype)


class LatentSpaceForConditionalGeneration(LatentSpacePreTrainedModel, GenerationMixin):
    """
    Encoder -> pooling -> compression -> middle model -> prefix adapter -> causal LM, as one `PreTrainedModel`.

    Build it from two pretrained backbones with [`~LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained`],
    or with random backbones from a [`LatentSpaceConfig`]. Each stage has its own method (`encode`, `reason`,
    `prefix_embeddings`) so latents can be read and edited; `generate(latent=...)` decodes any latent.
    """

    def __init__(
        self,
        config: LatentSpaceConfig,
        encoder: PreTrainedModel | None = None,
        decoder: PreTrainedModel | None = None,
    ):
        _check_backbone_kinds(config)
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder)
        self.decoder = decoder if decoder is not None else AutoModelForCausalLM.from_config(config.decoder)
        if self.encoder.get_output_embeddings() is not None:
            raise ValueError(
                f"The encoder must be a bare encoder without an LM head (load it with AutoModel), got "
                f"{type(self.encoder).__name__}."
            )
        # Share the config objects so that settings changed on the composite model reach the backbones.
        self.config.encoder._attn_implementation = self.encoder.config._attn_implementation
        self.config.decoder._attn_implementation = self.decoder.config._attn_implementation
        self.encoder.config = self.config.encoder
        self.decoder.config = self.config.decoder

        self.pooler = LatentSpacePooling(config)
        self.compression = LatentSpaceCompression(config)
        self.middle = build_middle_model(config)
        self.prefix_adapter = LatentSpacePrefixAdapter(config)
        # Optimus-style injection: z_out -> one vector added to every token embedding the decoder reads.
        self.latent_embedding = (
            nn.Linear(config.latent_size, config.decoder_hidden_size, bias=False)
            if config.latent_to_embeddings
            else None
        )
        # z_out -> one vector added to the decoder's last hidden state before its LM head.
        self.latent_logits = (
            nn.Linear(config.latent_size, config.decoder_hidden_size, bias=False) if config.latent_to_logits else None
        )

        self.post_init()
        # FSDP (accelerate, TRANSFORMER_BASED_WRAP) shards each `_no_split_modules` class as a unit and then
        # `get_input_embeddings()` (the encoder's word embeddings) as one more; inside an embeddings block already
        # sharded (BERT and ModernBERT list theirs), that second shard fails. Embedding blocks stay with the root unit.
        self._no_split_modules = {name for name in self._no_split_modules if not name.endswith("Embeddings")}
        # New heads only (a checkpoint's own gain is loaded over this); quantized embeddings are not read here.
        embedding = self.decoder.get_input_embeddings().weight
        if embedding.is_floating_point():
            self.prefix_adapter.match_scale(embedding)
        encoder_embedding = self.encoder.get_input_embeddings().weight
        if encoder_embedding.is_floating_point():
            self.pooler.match_scale(encoder_embedding)
        self._freeze_backbones()
        self._add_lora_adapters()
        self._leave_out_referenced_backbones()
        self.generation_config = self._default_generation_config()
        self.train(self.training)  # puts frozen backbones in eval mode from the start

    # -- set-up --------------------------------------------------------------------------------------------------------

    def _freeze_backbones(self) -> None:
        """Frozen backbones train nothing but their LoRA adapters (when they have any)."""
        for name in ("encoder", "decoder"):
            if getattr(self.config, f"freeze_{name}"):
                for param_name, param in getattr(self, name).named_parameters():
                    param.requires_grad_("lora_" in param_name and param.is_floating_point())

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *args, backbone_paths: dict[str, str] | None = None, **kwargs
    ):
        """
        Loads a checkpoint; loading makes fresh (trainable) parameters, so the backbones are frozen again.

        A lean checkpoint (see `LatentSpaceConfig.backbone_weights`) holds the heads and LoRA adapters only: its frozen
        backbones' weights load from where it says, after their hash is checked. `backbone_paths` (e.g.
        `{"decoder": "/models/gpt2"}`) points a backbone to another copy of the same weights.
        """
        config = kwargs.pop("config", None)
        if not isinstance(config, PretrainedConfig):
            config_options = {k: kwargs[k] for k in (*_HUB_OPTIONS, "subfolder") if k in kwargs}
            config = cls.config_class.from_pretrained(config or pretrained_model_name_or_path, **config_options)
        referenced = {} if config.save_backbones else dict(config.backbone_weights or {})
        if referenced and kwargs.get("quantization_config") is not None:
            raise ValueError(
                "This checkpoint references its backbones instead of storing them, and they cannot be loaded into "
                "quantized layers afterwards: load it without quantization_config."
            )
        # The referenced backbones' weights are not in the checkpoint (their LoRA adapters are): not "missing".
        ignore = cls._keys_to_ignore_on_load_missing
        cls._keys_to_ignore_on_load_missing = [*(ignore or []), *(rf"^{name}\.(?!.*lora_)" for name in referenced)]
        # Nor are their tied embeddings "corrupted" when absent: say nothing about those either.
        quiet = _DropTiedWeightsWarning(tuple(referenced))
        loading_logger = logging.get_logger("transformers.modeling_utils")
        loading_logger.addFilter(quiet)
        try:
            model = super().from_pretrained(pretrained_model_name_or_path, *args, config=config, **kwargs)
        finally:
            cls._keys_to_ignore_on_load_missing = ignore
            loading_logger.removeFilter(quiet)
        loaded = model[0] if isinstance(model, tuple) else model  # output_loading_info=True gives a tuple
        for name in referenced:
            loaded._load_referenced_backbone(name, (backbone_paths or {}).get(name))
        loaded._freeze_backbones()
        loaded._leave_out_referenced_backbones()
        return model

    def _load_referenced_backbone(self, name: str, override: str | None = None) -> None:
        """Loads a frozen backbone's weights from its reference, refusing files whose hash differs."""
        reference = self.config.backbone_weights[name]
        source = override or reference["name_or_path"]
        hub_options = {"revision": reference["revision"]} if reference.get("revision") and not override else {}
        try:
            digest = _files_sha256(_backbone_weight_files(source, **hub_options))
        except OSError as error:
            raise OSError(
                f"This checkpoint stores only what was trained; its {name}'s weights load from {source}, which cannot "
                f"be read ({error}). Make it available there, or pass backbone_paths={{'{name}': PATH}} to "
                "from_pretrained."
            ) from error
        if digest != reference["sha256"]:
            raise ValueError(
                f"The {name} weights at {source} are not the ones this checkpoint was trained with (SHA-256 "
                f"{digest[:12]}..., expected {reference['sha256'][:12]}...). Load the exact {name} it names in "
                f"config.json `backbone_weights`, or pass backbone_paths={{'{name}': PATH}} pointing to a copy of it."
            )
        loader = AutoModel if name == "encoder" else AutoModelForCausalLM
        weights = loader.from_pretrained(source, **hub_options).state_dict()
        backbone = getattr(self, name)
        # LoRA wraps a layer as `base_layer` (+ adapters, which the checkpoint holds): map names back to the backbone's.
        wanted = [key for key in backbone.state_dict() if "lora_" not in key]
        mapped = {
            key: weights[key.replace(".base_layer.", ".")]
            for key in wanted
            if key.replace(".base_layer.", ".") in weights
        }
        missing = sorted(set(wanted) - set(mapped))
        if missing:
            raise ValueError(f"The {name} at {source} lacks weights this model needs: {', '.join(missing[:5])} ...")
        backbone.load_state_dict(mapped, strict=False)
        backbone.tie_weights()  # tied embeddings share one tensor again, as in the backbone itself

    def _leave_out_referenced_backbones(self) -> None:
        """Saves skip the weights of referenced (frozen) backbones; their LoRA adapters are kept."""
        referenced = {} if self.config.save_backbones else (self.config.backbone_weights or {})
        previous = getattr(self, "_referenced_backbone_keys", set())
        keys = {
            f"{name}.{key}" for name in referenced for key in getattr(self, name).state_dict() if "lora_" not in key
        }
        self._keys_to_ignore_on_save = (set(self._keys_to_ignore_on_save or ()) - previous) | keys
        self._referenced_backbone_keys = keys

    def keep_backbones_in_checkpoints(self, keep: bool = True) -> None:
        """Whether saves store the frozen backbones too (a self-contained folder) or only reference them."""
        self.config.save_backbones = keep
        self._leave_out_referenced_backbones()

    def _add_lora_adapters(self) -> None:
        """Injects LoRA layers in place (no wrapper), so parameter names and checkpoints stay the model's own."""
        for name in ("encoder", "decoder"):
            lora_kwargs = getattr(self.config, f"{name}_lora")
            if lora_kwargs is None:
                continue
            try:
                from peft import LoraConfig, inject_adapter_in_model
            except ImportError as error:
                raise ImportError(f"`{name}_lora` is set, which needs peft: pip install peft") from error
            backbone = getattr(self, name)
            inject_adapter_in_model(LoraConfig(**lora_kwargs), backbone)
            trainable = [n for n, p in backbone.named_parameters() if "lora_" in n]
            if not trainable:
                raise ValueError(f"`{name}_lora` matched no module of the {name}: check `target_modules`.")
            for param_name, param in backbone.named_parameters():
                if "lora_" in param_name:
                    param.requires_grad_(True)
                    # Trainable adapters in float32, as peft's own `get_peft_model` keeps them: peft creates them in
                    # the dtype of a half-precision backbone (or of a 4-bit one's compute dtype), and fp16 mixed
                    # precision cannot train fp16 weights (the gradient scaler refuses to unscale fp16 gradients).
                    if param.dtype in (torch.float16, torch.bfloat16):
                        param.data = param.data.float()

    def _default_generation_config(self) -> GenerationConfig:
        """Summary generation defaults: the decoder's special tokens, 64 new tokens, greedy."""
        generation_config = getattr(self, "generation_config", None) or GenerationConfig()
        generation_config.bos_token_id = self.config.bos_token_id
        generation_config.eos_token_id = self.config.eos_token_id
        generation_config.pad_token_id = self.config.pad_token_id
        generation_config.decoder_start_token_id = None
        if generation_config.max_new_tokens is None:
            generation_config.max_new_tokens = 64
        return generation_config

    def train(self, mode: bool = True) -> LatentSpaceForConditionalGeneration:
        """
        Frozen backbones stay in eval mode (no dropout) even while the heads train.

        `Trainer` calls `model.train()` before every step; on a slow host, setting the mode of every one of the
        hundreds of submodules each time costs milliseconds per step. So when the mode does not change, only the
        submodules whose mode differs from what it should be are set (the result is the same).
        """
        backbones = (self.encoder, self.decoder)
        if self.training != mode:
            super().train(mode)
            for backbone in backbones:
                if not any(param.requires_grad for param in backbone.parameters()):
                    backbone.eval()
            return self
        for child in self.children():
            wanted = mode
            if mode and any(child is backbone for backbone in backbones):
                wanted = any(param.requires_grad for param in child.parameters())
            if any(module.training != wanted for module in child.modules()):
                child.train(wanted)
        return self

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module | None:
        return self.decoder.get_output_embeddings()

    def _encoder_is_trainable(self) -> bool:
        return any(param.requires_grad for param in self.encoder.parameters())

    # -- stages --------------------------------------------------------------------------------------------------------

    def encoder_token_states(
        self,
        input_ids: torch.LongTensor | None,
        attention_mask: torch.LongTensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The encoder's hidden states that pooling reads, `(batch_size, length, hidden)` (see `encoder_layer`)."""
        layer = self.config.encoder_layer
        inputs = {"input_ids": input_ids} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
        if layer == -1:
            return self.encoder(**inputs, attention_mask=attention_mask).last_hidden_state
        outputs = self.encoder(**inputs, attention_mask=attention_mask, output_hidden_states=True)
        return outputs.hidden_states[layer]

    def encoder_memory_states(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> torch.Tensor:
        """
        `memory` pooling: the learned memory embeddings are placed right after each dialogue's last real token (so
        their positions do not depend on padding), the encoder reads them with the dialogue, and their output states
        come back, `(batch_size, num_idea_vectors, hidden)`.
        """
        embeds = self.encoder.get_input_embeddings()(input_ids)
        batch, length, hidden = embeds.shape
        memory = self.pooler.memory.to(embeds.dtype)
        slots_count = memory.shape[0]
        positions = torch.arange(1, length + 1, device=input_ids.device)
        end = ((attention_mask != 0).long() * positions).amax(dim=1)  # one past each row's last real token
        slots = end[:, None] + torch.arange(slots_count, device=input_ids.device)  # (batch, slots)
        embeds = torch.cat([embeds, embeds.new_zeros(batch, slots_count, hidden)], dim=1)
        embeds = embeds.scatter(1, slots[..., None].expand(-1, -1, hidden), memory.expand(batch, -1, -1))
        mask = torch.cat([attention_mask, attention_mask.new_zeros(batch, slots_count)], dim=1)
        mask = mask.scatter(1, slots, 1)
        states = self.encoder_token_states(None, mask, inputs_embeds=embeds)
        return states.gather(1, slots[..., None].expand(-1, -1, states.shape[-1]))

    def encode(
        self,
        input_ids: torch.LongTensor | None,
        attention_mask: torch.LongTensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Dialogue tokens -> idea vector `z_in` of shape `(batch_size, latent_size)`.

        `encoder_hidden_states` (`(batch_size, length, hidden)`, with `attention_mask` over `length`) skips the encoder
        and pools these states instead: this is how a cache of a frozen encoder's outputs is replayed.
        """
        memory = self.config.pooling == "memory"
        if memory and encoder_hidden_states is not None:
            raise ValueError(
                "`memory` pooling runs the encoder with its memory tokens: cached states cannot be pooled."
            )
        if encoder_hidden_states is None:
            if input_ids is None:
                raise ValueError("`input_ids` (the tokenized dialogues) are required to encode.")
            if input_ids.dim() != 2 or input_ids.shape[1] == 0:
                raise ValueError(
                    f"`input_ids` must be a non-empty (batch, length) tensor, got shape {tuple(input_ids.shape)}."
                )
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            # The memory embeddings train through the encoder even when its own weights are frozen.
            with torch.set_grad_enabled(torch.is_grad_enabled() and (memory or self._encoder_is_trainable())):
                if memory:
                    encoder_hidden_states = self.encoder_memory_states(input_ids, attention_mask)
                else:
                    encoder_hidden_states = self.encoder_token_states(input_ids, attention_mask)
        elif attention_mask is None:
            attention_mask = torch.ones(encoder_hidden_states.shape[:2], device=encoder_hidden_states.device)
        head_dtype = self.compression.mlp[0].weight.dtype
        pooled = self.pooler(encoder_hidden_states.to(head_dtype), attention_mask)
        return self.compression(pooled)

    def reason(self, latent_in: torch.Tensor) -> torch.Tensor:
        """Idea vector `z_in` -> transformed idea `z_out` through the middle model (each idea vector on its own)."""
        ideas = latent_in.reshape(-1, self.config.latent_dim)
        return self.middle(ideas).reshape(latent_in.shape)

    def prefix_embeddings(self, latent_out: torch.Tensor, token_shift: torch.Tensor | None = None) -> torch.Tensor:
        """
        `z_out` -> the decoder's soft prompt, between the fixed `prompt_prefix_ids` / `prompt_suffix_ids` tokens when
        configured; without a suffix, the start-token embedding follows when configured (a suffix ends the prompt).
        With `latent_to_embeddings`, those fixed tokens carry the idea's token shift (`token_shift`, if already
        computed by `latent_shifts`).
        """
        embedding = self.decoder.get_input_embeddings()
        prefix = self.prefix_adapter(latent_out.to(self.prefix_adapter.mlp[0].weight.dtype)).to(embedding.weight.dtype)
        shift = self.latent_shifts(latent_out)[0] if token_shift is None else token_shift
        before = list(self.config.prompt_prefix_ids or [])
        after = list(self.config.prompt_suffix_ids or [])
        if self.config.use_decoder_start_token and not after:
            after = [self.config.decoder_start_token_id]
        if not before and not after:
            return prefix

        def embed(ids: list[int]) -> torch.Tensor:
            tokens = embedding(torch.tensor(ids, device=prefix.device).expand(prefix.shape[0], -1))
            return tokens if shift is None else _add_rows(tokens, shift)

        parts = ([embed(before)] if before else []) + [prefix] + ([embed(after)] if after else [])
        return torch.cat(parts, dim=1)

    def latent_shifts(self, latent_out: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """
        The idea's direct routes into the decoder, `(batch, hidden)` each or None when off: the vector added to every
        token embedding it reads (`latent_to_embeddings`) and the one added before its LM head (`latent_to_logits`).
        """
        routes = (self.latent_embedding, self.latent_logits)
        return tuple(None if route is None else route(latent_out.to(route.weight.dtype)) for route in routes)

    # -- training ------------------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        latent: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> LatentSpaceSeq2SeqLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, target_length)`):
            Summary token ids in the decoder's vocabulary, ending with EOS, padded with -100 (as
            `DataCollatorForLatentPrefix` makes them). Teacher forcing feeds them shifted by one after the soft prompt.
        latent (`torch.Tensor` of shape `(batch_size, latent_size)`, *optional*):
            A ready `z_out` to decode instead of encoding `input_ids`.
        encoder_hidden_states (`torch.Tensor` of shape `(batch_size, length, encoder_hidden_size)`, *optional*):
            Cached outputs of a frozen encoder, pooled instead of running the encoder (see `encode`).
        num_items_in_batch (`int`, *optional*):
            Target tokens in the whole accumulated batch, passed by `Trainer` so gradient accumulation averages exactly.
        """
        if labels is None:
            raise ValueError(
                "`labels` (the tokenized summaries) are required by forward; to write summaries call `generate`."
            )
        latent_in = None
        if latent is None:
            latent_in = self.encode(input_ids, attention_mask, encoder_hidden_states)
            latent = self.reason(latent_in)
        token_shift, logits_shift = self.latent_shifts(latent)
        if self.config.decoder_loss_weight == 0:
            # The bag-of-words stage: no decoder pass, the route alone learns the target's words.
            bag_of_words_loss = self.bag_of_words_loss(latent, labels, logits_shift)
            return LatentSpaceSeq2SeqLMOutput(
                loss=self.config.bag_of_words_loss_weight * bag_of_words_loss,
                latent_in=latent_in,
                latent_out=latent,
                bag_of_words_loss=bag_of_words_loss,
            )
        prefix = self.prefix_embeddings(latent, token_shift)

        target_len = labels.shape[1]
        teacher_ids = labels[:, :-1].masked_fill(labels[:, :-1] == -100, self.config.pad_token_id)
        token_embeds = self.decoder.get_input_embeddings()(teacher_ids)
        if token_shift is not None:
            token_embeds = _add_rows(token_embeds, token_shift)
        inputs_embeds = torch.cat([prefix, token_embeds], dim=1)
        decoder_mask = torch.cat(
            [prefix.new_ones(prefix.shape[:2], dtype=torch.long), (labels[:, :-1] != -100).long()], dim=1
        )
        # With the start token, position prefix_len predicts labels[:, 0]; without it, position prefix_len - 1 does.
        # Either way the last `target_len` positions are exactly the summary predictions.
        with self._shifted_decoder(logits_shift=logits_shift):
            logits = self.decoder(
                inputs_embeds=inputs_embeds, attention_mask=decoder_mask, logits_to_keep=target_len, use_cache=False
            ).logits

        if self.config.latent_logits_coverage:
            logits = self._route_coverage(logits, labels, logits_shift)
        loss_sum = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
        )
        if num_items_in_batch is None:
            num_items_in_batch = (labels != -100).sum()
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(loss_sum.device)
        loss = self.config.decoder_loss_weight * loss_sum / num_items_in_batch
        bag_of_words_loss = None
        if self.config.bag_of_words_loss_weight > 0:
            bag_of_words_loss = self.bag_of_words_loss(latent, labels, logits_shift)
            loss = loss + self.config.bag_of_words_loss_weight * bag_of_words_loss
        return LatentSpaceSeq2SeqLMOutput(
            loss=loss,
            logits=logits,
            latent_in=latent_in,
            latent_out=latent,
            prefix_embeds=prefix,
            bag_of_words_loss=bag_of_words_loss,
        )

    def _route_logits(self, logits_shift: torch.Tensor) -> torch.Tensor:
        """What the `latent_to_logits` route adds to every position's logits, `(batch, vocab)`."""
        head = self.decoder.get_output_embeddings()
        return F.linear(logits_shift.to(head.weight.dtype), head.weight)

    def _route_coverage(
        self, logits: torch.Tensor, labels: torch.LongTensor, logits_shift: torch.Tensor
    ) -> torch.Tensor:
        """Takes the route's bias back, at each position, from every token the summary already holds before it."""
        route = self._route_logits(logits_shift)
        valid = labels != -100
        ids = labels.clamp(min=0)
        length = labels.shape[1]
        earlier = torch.ones(length, length, dtype=torch.bool, device=labels.device).tril(-1)  # [t, s]: s < t
        same = ids[:, :, None] == ids[:, None, :]
        first = valid & ~(same & earlier & valid[:, None, :]).any(-1)  # each token counted once, where it first is
        take_back = route.gather(1, ids)[:, None, :] * (earlier[None] & first[:, None, :])  # [batch, t, s]
        index = ids[:, None, :].expand(-1, length, -1)
        return logits.scatter_add(2, index, -take_back.to(logits.dtype))

    def bag_of_words_loss(
        self, latent_out: torch.Tensor, labels: torch.LongTensor, logits_shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Mean negative log-probability of each target token under one distribution per row, `softmax(lm_head(shift))`
        with `shift` the `latent_to_logits` route's vector (`logits_shift`, if already computed): what the route adds
        to every position's logits.
        """
        if self.latent_logits is None:
            raise ValueError("The bag-of-words loss reads the `latent_to_logits` route: build the model with it.")
        shift = self.latent_shifts(latent_out)[1] if logits_shift is None else logits_shift
        log_probs = self._route_logits(shift).float().log_softmax(-1)
        targets = labels != -100
        token_log_probs = log_probs.gather(1, labels.clamp(min=0))
        return -(token_log_probs * targets).sum() / targets.sum().clamp(min=1)

    # -- generation ----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        latent: torch.Tensor | None = None,
        generation_config: GenerationConfig | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        decoding: str = "generate",
        **kwargs,
    ) -> torch.LongTensor:
        """
        Writes summaries: encoder -> latent -> soft prompt -> the decoder's own `generate` (KV cache, beams, sampling
        and every `GenerationConfig` setting). Returns only the summary tokens, `(batch_size, new_tokens)`.

        Pass `latent` (a `z_out`, shape `(batch_size, latent_size)`) instead of `input_ids` to decode an edited idea.
        `max_length` and `max_new_tokens` both limit the summary's tokens (the soft prompt does not count).
        `labels` and other training inputs that `Seq2SeqTrainer` forwards are ignored.

        `decoding="compiled"` decodes with the compiled static-cache loop of `compiled_decoding` instead of
        `generate`: one CUDA graph per decoding step on a GPU, the same tokens as `generate` under greedy decoding;
        greedy or temperature / top_k / top_p sampling only (other settings raise `UnsupportedDecodingSetting`).
        """
        if decoding not in DECODING_CHOICES:
            raise ValueError(f"decoding must be one of {DECODING_CHOICES}, got {decoding!r}.")
        for training_only in ("labels", "decoder_input_ids", "decoder_attention_mask"):
            kwargs.pop(training_only, None)
        if latent is None:
            latent = self.reason(self.encode(input_ids, attention_mask, encoder_hidden_states))
        elif latent.dim() != 2 or latent.shape[-1] != self.config.latent_size:
            raise ValueError(
                f"`latent` must have shape (batch_size, {self.config.latent_size}), got {tuple(latent.shape)}."
            )
        token_shift, logits_shift = self.latent_shifts(latent)
        prefix = self.prefix_embeddings(latent, token_shift)
        prefix_mask = prefix.new_ones(prefix.shape[:2], dtype=torch.long)
        # Settings passed as kwargs override the model's generation config, as in any transformers model.
        generation_config = copy.deepcopy(
            generation_config if generation_config is not None else self.generation_config
        )
        model_kwargs = generation_config.update(**kwargs)
        # The summary is all the decoder writes (the prompt is embeddings, not tokens), so a `max_length` given here
        # (e.g. Seq2SeqTrainingArguments.generation_max_length) limits summary tokens, like `max_new_tokens`.
        if kwargs.get("max_length") is not None and kwargs.get("max_new_tokens") is None:
            generation_config.max_new_tokens = kwargs["max_length"]
        if generation_config.max_new_tokens is not None:
            generation_config.max_length = None  # a default max_length beside max_new_tokens only warns
        with warnings.catch_warnings():
            # The prompt is the soft prompt, which holds no tokens, so transformers' warnings that these settings
            # cannot see the prompt's tokens say nothing about this model.
            for setting in ("no_repeat_ngram_size", "repetition_penalty"):
                warnings.filterwarnings("ignore", message=f"Passing `{setting}` with `inputs_embeds`")
            if self.config.latent_logits_coverage:
                if decoding == "compiled":
                    raise UnsupportedDecodingSetting(
                        "latent_logits_coverage needs a logits processor, which the compiled loop does not run: use "
                        "decoding='generate'."
                    )
                processors = LogitsProcessorList(model_kwargs.pop("logits_processor", None) or [])
                processors.append(LatentRouteCoverage(self._route_logits(logits_shift)))
                model_kwargs["logits_processor"] = processors
            if decoding == "compiled":
                return compiled_decoder(self.decoder).generate(
                    inputs_embeds=prefix,
                    attention_mask=prefix_mask,
                    generation_config=generation_config,
                    token_shift=token_shift,
                    logits_shift=logits_shift,
                    **model_kwargs,
                )
            # The soft prompt already carries the token shift; the hook adds it to each token the decoder writes.
            with self._shifted_decoder(logits_shift=logits_shift, token_shift=token_shift):
                return self.decoder.generate(
                    inputs_embeds=prefix,
                    attention_mask=prefix_mask,
                    generation_config=generation_config,
                    **model_kwargs,
                )

    @contextlib.contextmanager
    def _shifted_decoder(
        self, logits_shift: torch.Tensor | None = None, token_shift: torch.Tensor | None = None
    ) -> Iterator[None]:
        """
        While the decoder runs, adds each row's `logits_shift` to the hidden states its LM head reads and each row's
        `token_shift` to the embeddings of the tokens it embeds itself (those it writes while generating). Beam search
        and sampling repeat each row in place, so the shifts' rows are repeated to match.
        """
        hooks = []
        if logits_shift is not None:
            hooks.append(
                self.decoder.get_output_embeddings().register_forward_pre_hook(
                    lambda module, args: (_add_rows(args[0], logits_shift), *args[1:])
                )
            )
        if token_shift is not None:
            hooks.append(
                self.decoder.get_input_embeddings().register_forward_hook(
                    lambda module, args, output: _add_rows(output, token_shift)
                )
            )
        try:
            yield
        finally:
            for hook in hooks:
                hook.remove()

    # -- construction from pretrained backbones ------------------------------------------------------------------------

    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str,
        decoder_pretrained_model_name_or_path: str,
        **kwargs,
    ) -> LatentSpaceForConditionalGeneration:
        """
        Builds the model around two pretrained backbones (Hub ids or local folders); the heads start from scratch.

        Keyword arguments:
            - fields of [`LatentSpaceConfig`] (`latent_dim=512`, `pooling="attention"`, ...) set the config;
            - `encoder_*` / `decoder_*` arguments go to that backbone's `from_pretrained` only
              (e.g. `decoder_quantization_config=BitsAndBytesConfig(...)`);
            - any other argument (`dtype`, `torch_dtype`, `quantization_config`, `device_map`, `attn_implementation`,
              `revision`, `cache_dir`, `local_files_only`, ...) goes to both backbones' `from_pretrained`.
        """
        # Only this model's own config fields; generic ones such as `dtype` are loading options for the backbones.
        config_fields = set(LatentSpaceConfig.__dataclass_fields__) - set(PretrainedConfig.__dataclass_fields__)
        config_fields -= {"encoder", "decoder"}
        config_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in config_fields}
        encoder_kwargs = {k[len("encoder_") :]: kwargs.pop(k) for k in list(kwargs) if k.startswith("encoder_")}
        decoder_kwargs = {k[len("decoder_") :]: kwargs.pop(k) for k in list(kwargs) if k.startswith("decoder_")}
        encoder_kwargs = {**kwargs, **encoder_kwargs}
        decoder_kwargs = {**kwargs, **decoder_kwargs}

        encoder = AutoModel.from_pretrained(encoder_pretrained_model_name_or_path, **encoder_kwargs)
        if encoder.get_output_embeddings() is not None:
            raise ValueError(
                f"{encoder_pretrained_model_name_or_path} loaded as {type(encoder).__name__}, which has an LM head: "
                "the encoder must be a bare encoder model."
            )
        if type(encoder.config) not in MODEL_MAPPING or getattr(encoder.config, "is_encoder_decoder", False):
            raise ValueError(f"The encoder must be an encoder-only model, got {type(encoder.config).__name__}.")
        try:
            decoder = AutoModelForCausalLM.from_pretrained(decoder_pretrained_model_name_or_path, **decoder_kwargs)
        except ValueError as error:
            if "Unrecognized configuration class" not in str(error):
                raise
            raise ValueError(
                f"The decoder must be a causal LM that AutoModelForCausalLM can load (e.g. GPT-2, Llama); "
                f"{decoder_pretrained_model_name_or_path} is not: {error}"
            ) from error

        config = LatentSpaceConfig.from_encoder_decoder_configs(
            encoder.config,
            decoder.config,
            encoder_name_or_path=str(encoder_pretrained_model_name_or_path),
            decoder_name_or_path=str(decoder_pretrained_model_name_or_path),
            **config_kwargs,
        )
        if not (_is_quantized(encoder) or _is_quantized(decoder)):
            # Frozen backbones are referenced, not saved (quantized ones are saved whole: they reload as they are).
            options = {"encoder": encoder_kwargs, "decoder": decoder_kwargs}
            paths = {
                "encoder": encoder_pretrained_model_name_or_path,
                "decoder": decoder_pretrained_model_name_or_path,
            }
            config.backbone_weights = {
                name: _weight_reference(paths[name], {k: v for k, v in options[name].items() if k in _HUB_OPTIONS})
                for name in ("encoder", "decoder")
                if getattr(config, f"freeze_{name}")
            } or None
        model = cls(config, encoder=encoder, decoder=decoder)
        # The heads are new: keep them in full precision even when the backbones load in half precision or 8-bit.
        for head in (model.pooler, model.compression, model.middle, model.prefix_adapter):
            head.float()
        return model


__all__ = [
    "LatentSpacePreTrainedModel",
    "LatentSpaceForConditionalGeneration",
    "LatentSpaceSeq2SeqLMOutput",
]
