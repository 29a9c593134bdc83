"""Configuration of the latent-space summarizer: encoder -> idea vector -> middle model -> soft prompt -> decoder."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

POOLING_TYPES = ("mean", "attention", "cls", "segments", "memory")
MIDDLE_MODEL_TYPES = ("mlp", "transformer", "gru", "identity")
HEAD_INIT_TYPES = ("fan_in", "normal")

DEFAULT_ENCODER = "answerdotai/ModernBERT-base"
DEFAULT_DECODER = "gpt2"


def _as_sub_config(value: PretrainedConfig | dict[str, Any] | None, default_model_type: str, role: str):
    """Turns a sub-config given as a config, a dict (from JSON) or None into a `PretrainedConfig`."""
    if value is None:
        # Debug only: transformers also builds a default config internally (to diff a saved one against it).
        logger.debug(f"No {role} config given: using the default {default_model_type} configuration.")
        return AutoConfig.for_model(default_model_type)
    if isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, dict):
        value = dict(value)
        model_type = value.pop("model_type", None)
        if model_type is None:
            raise ValueError(
                f"The {role} config dict needs a `model_type` key (e.g. 'modernbert', 'gpt2'), got {value}."
            )
        return AutoConfig.for_model(model_type, **value)
    raise TypeError(f"The {role} config must be a PretrainedConfig or a dict, got {type(value).__name__}.")


class LatentSpaceConfig(PretrainedConfig):
    r"""
    Configuration of [`LatentSpaceForConditionalGeneration`]. It holds the configurations of both backbones, so a saved
    checkpoint rebuilds without fetching anything, plus every size of the trainable heads. Defaults reproduce the seed
    design: ModernBERT-base encoder, GPT-2 small decoder, a 256-d idea vector and a 10-vector soft prompt.

    Args:
        encoder (`PretrainedConfig` or `dict`, *optional*):
            Configuration of the text encoder (any `AutoModel`). Defaults to a ModernBERT-base configuration.
        decoder (`PretrainedConfig` or `dict`, *optional*):
            Configuration of the causal LM that writes the summary (any `AutoModelForCausalLM`). Defaults to GPT-2 small.
        encoder_name_or_path (`str`, *optional*, defaults to `"answerdotai/ModernBERT-base"`):
            Where the encoder weights came from. Informational: used in model cards and logs.
        decoder_name_or_path (`str`, *optional*, defaults to `"gpt2"`):
            Where the decoder weights came from. Informational: used in model cards and logs.
        encoder_layer (`int`, *optional*, defaults to -1):
            Which of the encoder's hidden states are pooled: -1 its output (last layer), 0 its token embeddings, `k`
            the output of layer `k` (negative values count from the end, as in `hidden_states[k]`). Early layers keep
            more of each token's identity, late ones more of its context.
        pooling (`str`, *optional*, defaults to `"mean"`):
            How encoder token states become one vector: `"mean"` over non-padded tokens, `"attention"` (a learned
            query attends over the tokens), `"cls"` (the first token's state) or `"segments"` (the real tokens cut
            into `num_idea_vectors` consecutive stretches, each mean-pooled: one vector per part of the dialogue) or
            `"memory"` (as in ICAE: `num_idea_vectors` learned memory embeddings are appended after the real tokens and
            read by the encoder with them; their output states are the pooled vectors. A causal encoder's memory
            tokens see the whole dialogue; give the encoder `encoder_lora` so it learns to write into them).
        pooled_layer_norm (`bool`, *optional*, defaults to `True`):
            Whether each pooled vector goes through a LayerNorm before the compression MLP, so the heads read features
            of unit scale whatever the encoder's own (mean-pooled MiniLM states are ~0.1 a dimension, a decoder used as
            encoder has outlier dimensions in the hundreds). Checkpoints saved before this option existed load with it
            off, as they were trained.
        pooled_batch_norm (`bool`, *optional*, defaults to `False`):
            Whether each pooled feature is also standardised over the batch (a `BatchNorm1d` without affine weights,
            after the LayerNorm; its running statistics are used at inference and saved with the heads). A LayerNorm
            scales each vector, but a few directions of a sentence encoder's pooled states carry most of the variance
            and the specifics (who is speaking) lie in small ones, which the heads then learn slowly: on the demo
            dialogues a linear probe of MiniLM's 4 segment means finds both speakers among its top two names in 91 %
            of validation rows after 20 full-batch steps with the features standardised, in 26 % with a LayerNorm
            alone (`benchmarks/speaker_probe.py`). Needs more than one pooled vector per training batch.
        pooling_num_queries (`int`, *optional*, defaults to 1):
            Learned queries of `"attention"` pooling. Each one attends over the tokens on its own (one may follow the
            speakers, another the topic) and their vectors are concatenated, so the compression MLP reads
            `pooling_num_queries * encoder hidden size` values. Ignored by the other poolings.
        compression_hidden_dims (`list[int]`, *optional*, defaults to `[512]`):
            Hidden sizes of the compression MLP from the encoder width to `latent_dim` (768 -> 512 -> 256).
        latent_dim (`int`, *optional*, defaults to 256):
            Size of the idea vector `z_in` (and of `z_out`).
        num_idea_vectors (`int`, *optional*, defaults to 1):
            How many idea vectors of `latent_dim` the encoder side writes (the "small set of latent slots" of the
            seed). With more than one, pooling gives one pooled vector per idea (`"segments"`, or `"attention"` with
            one learned query per idea), each is compressed on its own, the middle model reasons over each, and each
            expands into `prefix_len / num_idea_vectors` soft-prompt vectors. Latents are then flat vectors of
            `num_idea_vectors * latent_dim` values (`config.latent_size`), the ideas one after another.
        middle_model (`str`, *optional*, defaults to `"mlp"`):
            The latent reasoning core: `"mlp"`, `"transformer"` (a tiny transformer over `num_latent_slots` slots),
            `"gru"` (`num_reasoning_steps` recurrent steps) or `"identity"` (no reasoning; an ablation).
        middle_hidden_dim (`int`, *optional*, defaults to 512):
            Hidden width of the MLP middle model, and feed-forward width of the transformer middle model.
        middle_num_layers (`int`, *optional*, defaults to 3):
            Linear layers of the MLP middle model (2-4 in the seed: 256 -> 512 -> 512 -> 256), or transformer layers.
        middle_residual (`bool`, *optional*, defaults to `True`):
            Whether the MLP and transformer middle models add their output to their input (`z_out = z_in + f(z_in)`).
        num_latent_slots (`int`, *optional*, defaults to 4):
            Number of latent slots the transformer middle model splits the idea vector into.
        middle_num_heads (`int`, *optional*, defaults to 4):
            Attention heads of the transformer middle model; must divide `latent_dim`.
        num_reasoning_steps (`int`, *optional*, defaults to 3):
            Recurrent steps of the GRU middle model.
        prefix_len (`int`, *optional*, defaults to 10):
            Number of soft-prompt vectors the prefix adapter writes into the decoder's embedding space.
        prefix_hidden_dim (`int`, *optional*, defaults to 1024):
            Hidden width of the expansion MLP (`latent_dim -> prefix_hidden_dim -> prefix_len * decoder hidden`).
        prefix_layer_norm (`bool`, *optional*, defaults to `True`):
            Whether each soft-prompt vector goes through a LayerNorm whose gain starts at the per-dimension scale of
            the decoder's token embeddings, so the fresh soft prompt has the size of real tokens whatever the heads'
            scale (with `head_init="normal"` and no norm it starts ~100x smaller, and the decoder all but ignores it).
        latent_to_embeddings (`bool`, *optional*, defaults to `False`):
            Whether the idea is also added to the embedding of every token the decoder reads (its prompt tokens and
            each summary token), through a linear map from `z_out` that starts at zero, as Optimus (Li et al., 2020)
            injects its latent into GPT-2 beside the memory vectors. Each written token then sees the idea directly
            instead of only through attention to the soft prompt.
        latent_to_logits (`bool`, *optional*, defaults to `False`):
            Whether the idea also shifts the decoder's last hidden state, just before its LM head, through a linear
            map from `z_out` that starts at zero: a prior over the next token conditioned on the idea (with tied
            embeddings, a bag of the words the idea holds), so names and facts can be picked from the idea in one
            linear step while the decoder's own states decide where they go.
        latent_logits_coverage (`bool`, *optional*, defaults to `False`):
            Whether the `latent_to_logits` route stops favouring a token once the summary holds it: at each position
            its bias `lm_head(shift)` is taken back for every token already written, in training as at generation (a
            logits processor; not with `decoding="compiled"`). The route's bias is the same at every position, so
            without it a decoder that has written one name is pushed to write it again. Needs `latent_to_logits`.
        bag_of_words_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of an auxiliary loss (Zhao et al., 2017) that asks the `latent_to_logits` route alone to predict
            every target token, in any order: the logits `lm_head(shift)` must give each target token a high
            probability. It trains the route, and the heads under it, to put the target's words (names, places) into
            the idea without waiting for the decoder; it costs one matrix product per row. Needs `latent_to_logits`.
        decoder_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the summary's cross-entropy through the decoder in the training loss. 0 trains on the
            bag-of-words loss alone and skips the decoder's forward and backward, the costly part of a step: a cheap
            stage, at a large batch, that teaches the heads to put the target's words into the idea before the decoder
            learns to read it (`recipes/demo/warmup.yaml`). Generation is unaffected. A checkpoint keeps the weights
            it was trained with; a recipe that continues it may change them (see `LOSS_FIELDS` in training).
        head_dropout (`float`, *optional*, defaults to 0.1):
            Dropout inside the trainable heads.
        freeze_encoder (`bool`, *optional*, defaults to `True`):
            Whether the encoder backbone is frozen (no gradients, always in eval mode, run under `no_grad`).
        freeze_decoder (`bool`, *optional*, defaults to `True`):
            Whether the decoder backbone is frozen (no gradients to its weights; gradients still flow through it).
        use_decoder_start_token (`bool`, *optional*, defaults to `True`):
            Whether the decoder's BOS embedding follows the soft prompt, as the seed describes.
        prompt_prefix_ids (`list[int]`, *optional*):
            Decoder token ids placed before the soft prompt, the same for every input (e.g. an instruct model's
            "<|im_start|>user\nSummarize this dialogue:" turn opening). They carry no information about the dialogue,
            so the idea vector stays the only path from the dialogue to the summary.
        prompt_suffix_ids (`list[int]`, *optional*):
            Decoder token ids placed after the soft prompt (e.g. "<|im_end|>\n<|im_start|>assistant\n"). They end the
            prompt, so the start token is not added after them.
        encoder_lora (`dict`, *optional*):
            Keyword arguments of a `peft.LoraConfig` (e.g. `{"r": 8, "lora_alpha": 16, "target_modules": ["Wqkv"]}`).
            When set, LoRA adapters are injected into the encoder in place and trained with the heads; they are part
            of the checkpoint, so it reloads without peft-specific calls.
        decoder_lora (`dict`, *optional*):
            The same for the decoder (e.g. `{"r": 8, "target_modules": ["c_attn"]}` for GPT-2).
        head_init (`str`, *optional*, defaults to `"fan_in"`):
            How the linear layers of the compression, middle and prefix MLPs start: `"fan_in"` draws weights with
            standard deviation `1 / sqrt(in_features)`, so an input's signal keeps its scale through the chain of
            layers; `"normal"` uses `initializer_range` (transformers' default), which shrinks it ~3x a layer, so the
            fresh soft prompt hardly depends on the dialogue (BENCHMARKS.md compares the two on real data).
        backbone_weights (`dict`, *optional*):
            Where the weights of each frozen backbone come from, `{"encoder": {"name_or_path": ..., "sha256": ...},
            "decoder": {...}}`, set when the model is built from pretrained backbones. Those weights are then left out
            of saved checkpoints (only the heads and LoRA adapters are stored, as PEFT adapters are) and loaded from
            `name_or_path` at `from_pretrained`, after checking the SHA-256 of its weight files. `None` (a model built
            from a config, quantized backbones) stores everything.
        save_backbones (`bool`, *optional*, defaults to `False`):
            Store the frozen backbones' weights in every checkpoint anyway: a self-contained folder that needs no
            backbone beside it (larger: both backbones instead of the heads alone).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the other head weights (and of all of them with
            `head_init="normal"`).

    Example:

    ```python
    >>> from transformers import BertConfig, GPT2Config
    >>> from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration

    >>> config = LatentSpaceConfig.from_encoder_decoder_configs(BertConfig(), GPT2Config(), middle_model="gru")
    >>> model = LatentSpaceForConditionalGeneration(config)
    ```"""

    model_type = "latent_space"
    sub_configs = {"encoder": AutoConfig, "decoder": AutoConfig}

    encoder: PretrainedConfig | dict | None = None
    decoder: PretrainedConfig | dict | None = None
    encoder_name_or_path: str | None = DEFAULT_ENCODER
    decoder_name_or_path: str | None = DEFAULT_DECODER
    encoder_layer: int = -1
    pooling: str = "mean"
    pooled_layer_norm: bool = True
    pooled_batch_norm: bool = False
    pooling_num_queries: int = 1
    compression_hidden_dims: list[int] | tuple[int, ...] = (512,)
    latent_dim: int = 256
    num_idea_vectors: int = 1
    middle_model: str = "mlp"
    middle_hidden_dim: int = 512
    middle_num_layers: int = 3
    middle_residual: bool = True
    num_latent_slots: int = 4
    middle_num_heads: int = 4
    num_reasoning_steps: int = 3
    prefix_len: int = 10
    prefix_hidden_dim: int = 1024
    prefix_layer_norm: bool = True
    latent_to_embeddings: bool = False
    latent_to_logits: bool = False
    latent_logits_coverage: bool = False
    bag_of_words_loss_weight: float = 0.0
    decoder_loss_weight: float = 1.0
    head_dropout: float = 0.1
    freeze_encoder: bool = True
    freeze_decoder: bool = True
    use_decoder_start_token: bool = True
    prompt_prefix_ids: list[int] | None = None
    prompt_suffix_ids: list[int] | None = None
    encoder_lora: dict | None = None
    decoder_lora: dict | None = None
    head_init: str = "fan_in"
    backbone_weights: dict | None = None
    save_backbones: bool = False
    initializer_range: float = 0.02
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = False
    decoder_start_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self, **kwargs):
        self.encoder = _as_sub_config(self.encoder, "modernbert", "encoder")
        self.decoder = _as_sub_config(self.decoder, "gpt2", "decoder")
        self.compression_hidden_dims = [int(d) for d in self.compression_hidden_dims]
        self._inherit_decoder_token_ids()
        # The base config sets `_attn_implementation` on every sub-config, None included when it is not given. The
        # backbone configs may be the very objects of loaded backbones (sdpa, flash...), and a None there leaves them
        # without attention masks (no causal mask in the decoder), so keep theirs unless one is asked for explicitly.
        backbone_attn = {name: getattr(self, name)._attn_implementation for name in ("encoder", "decoder")}
        requested_attn = kwargs.get("attn_implementation")
        super().__post_init__(**kwargs)
        for name, implementation in backbone_attn.items():
            sub_config = getattr(self, name)
            if isinstance(requested_attn, dict) and name in requested_attn:
                continue
            if requested_attn is None or isinstance(requested_attn, dict):
                sub_config._attn_implementation = implementation
        self.validate_architecture()

    def _inherit_decoder_token_ids(self) -> None:
        """The summary is written in the decoder's vocabulary, so its special tokens are the model's."""
        decoder = self.decoder
        eos = decoder.eos_token_id[0] if isinstance(decoder.eos_token_id, list) else decoder.eos_token_id
        if self.bos_token_id is None:
            self.bos_token_id = decoder.bos_token_id
        if self.eos_token_id is None:
            self.eos_token_id = eos
        if self.pad_token_id is None:
            self.pad_token_id = decoder.pad_token_id if decoder.pad_token_id is not None else eos
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = decoder.bos_token_id if decoder.bos_token_id is not None else eos

    def validate_architecture(self) -> None:
        """Raises early, in the user's words, for settings the model cannot be built with."""
        if self.pooling not in POOLING_TYPES:
            raise ValueError(f"Unknown pooling {self.pooling!r}: choose one of {', '.join(POOLING_TYPES)}.")
        if self.head_init not in HEAD_INIT_TYPES:
            raise ValueError(f"Unknown head_init {self.head_init!r}: choose one of {', '.join(HEAD_INIT_TYPES)}.")
        if self.middle_model not in MIDDLE_MODEL_TYPES:
            raise ValueError(
                f"Unknown middle_model {self.middle_model!r}: choose one of {', '.join(MIDDLE_MODEL_TYPES)}."
            )
        for name in (
            "pooling_num_queries",
            "latent_dim",
            "prefix_len",
            "prefix_hidden_dim",
            "middle_hidden_dim",
            "num_latent_slots",
            "num_idea_vectors",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if any(d < 1 for d in self.compression_hidden_dims):
            raise ValueError(
                f"`compression_hidden_dims` must hold positive sizes, got {self.compression_hidden_dims}."
            )
        if self.num_idea_vectors > 1:
            if self.pooling not in ("segments", "attention", "memory"):
                raise ValueError(
                    f"num_idea_vectors={self.num_idea_vectors} needs one pooled vector per idea: set pooling to "
                    f"'segments', 'attention' or 'memory', got {self.pooling!r}."
                )
            if self.pooling == "attention" and self.pooling_num_queries not in (1, self.num_idea_vectors):
                raise ValueError(
                    f"With num_idea_vectors={self.num_idea_vectors}, attention pooling uses one query per idea; "
                    f"pooling_num_queries must be 1 (unset) or {self.num_idea_vectors}, got {self.pooling_num_queries}."
                )
            if self.prefix_len % self.num_idea_vectors:
                raise ValueError(
                    f"prefix_len ({self.prefix_len}) must be a multiple of num_idea_vectors ({self.num_idea_vectors}): "
                    "each idea vector expands into the same number of soft-prompt vectors."
                )
        layers = getattr(self.encoder, "num_hidden_layers", None)
        if layers is not None and not -(layers + 1) <= self.encoder_layer <= layers:
            raise ValueError(
                f"`encoder_layer` must be between {-(layers + 1)} and {layers} (the encoder has {layers} layers; 0 is "
                f"its embeddings, -1 its output), got {self.encoder_layer}."
            )
        for name in ("prompt_prefix_ids", "prompt_suffix_ids"):
            ids = getattr(self, name)
            if ids is not None and (not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) for i in ids)):
                raise ValueError(f"`{name}` must be a list of decoder token ids, got {ids!r}.")
        if self.middle_model == "mlp" and not 1 <= self.middle_num_layers <= 8:
            raise ValueError(
                f"The mlp middle model takes 1 to 8 layers (the seed uses 2-4), got {self.middle_num_layers}."
            )
        if self.middle_model == "transformer" and self.latent_dim % self.middle_num_heads:
            raise ValueError(
                f"`middle_num_heads` ({self.middle_num_heads}) must divide `latent_dim` ({self.latent_dim}) "
                "for the transformer middle model."
            )
        if self.middle_model == "gru" and self.num_reasoning_steps < 1:
            raise ValueError(f"The gru middle model needs num_reasoning_steps >= 1, got {self.num_reasoning_steps}.")
        if self.bag_of_words_loss_weight < 0:
            raise ValueError(f"`bag_of_words_loss_weight` must be >= 0, got {self.bag_of_words_loss_weight}.")
        if self.bag_of_words_loss_weight > 0 and not self.latent_to_logits:
            raise ValueError(
                "`bag_of_words_loss_weight` trains the `latent_to_logits` route: set `latent_to_logits=True` too."
            )
        if self.latent_logits_coverage and not self.latent_to_logits:
            raise ValueError(
                "`latent_logits_coverage` acts on the `latent_to_logits` route: set `latent_to_logits=True`."
            )
        if self.decoder_loss_weight < 0:
            raise ValueError(f"`decoder_loss_weight` must be >= 0, got {self.decoder_loss_weight}.")
        if self.decoder_loss_weight == 0 and self.bag_of_words_loss_weight == 0:
            raise ValueError(
                "`decoder_loss_weight` is 0 and so is `bag_of_words_loss_weight`: nothing would be trained. Give the "
                "bag-of-words loss a weight (it needs `latent_to_logits`), or train through the decoder."
            )
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"`head_dropout` must be in [0, 1), got {self.head_dropout}.")
        if getattr(self.encoder, "is_encoder_decoder", False):
            raise ValueError(
                f"The encoder must be an encoder-only model (e.g. ModernBERT, BERT), got the encoder-decoder "
                f"{type(self.encoder).__name__}."
            )
        if getattr(self.decoder, "is_encoder_decoder", False):
            raise ValueError(
                f"The decoder must be a decoder-only causal LM (e.g. GPT-2, Llama), got the encoder-decoder "
                f"{type(self.decoder).__name__}."
            )
        for name in ("encoder_lora", "decoder_lora"):
            lora = getattr(self, name)
            if lora is not None and (not isinstance(lora, dict) or not lora.get("target_modules")):
                raise ValueError(
                    f"`{name}` must be a dict of peft.LoraConfig arguments naming `target_modules`, got {lora!r}."
                )
        if self.use_decoder_start_token and self.decoder_start_token_id is None:
            raise ValueError(
                "The decoder config has neither a BOS nor an EOS token id, so there is no start token to follow the "
                "soft prompt: set `decoder_start_token_id` or `use_decoder_start_token=False`."
            )

    @property
    def encoder_hidden_size(self) -> int:
        return self.encoder.hidden_size

    @property
    def pooled_vectors(self) -> int:
        """How many vectors pooling writes: one per idea, or the concatenated queries of attention pooling."""
        if self.num_idea_vectors > 1:
            return self.num_idea_vectors
        if self.pooling == "attention":
            return self.pooling_num_queries
        return 1

    @property
    def pooled_size(self) -> int:
        """Width of the pooled vector the compression MLP reads (per idea vector)."""
        if self.num_idea_vectors > 1:
            return self.encoder_hidden_size
        return self.pooled_vectors * self.encoder_hidden_size

    @property
    def latent_size(self) -> int:
        """Values in one latent (`z_in` or `z_out`): `num_idea_vectors * latent_dim`."""
        return self.num_idea_vectors * self.latent_dim

    @property
    def decoder_hidden_size(self) -> int:
        return self.decoder.hidden_size

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """Checkpoints saved before `pooled_layer_norm` existed were trained without it: keep them that way."""
        if config_dict.get("model_type") == cls.model_type and "pooled_layer_norm" not in config_dict:
            config_dict = {**config_dict, "pooled_layer_norm": False}
        return super().from_dict(config_dict, **kwargs)

    @classmethod
    def from_encoder_decoder_configs(
        cls, encoder_config: PretrainedConfig, decoder_config: PretrainedConfig, **kwargs
    ) -> LatentSpaceConfig:
        """Builds the config from the two backbone configs, as `EncoderDecoderConfig` does; kwargs set head fields."""
        return cls(encoder=encoder_config, decoder=decoder_config, **kwargs)


__all__ = ["LatentSpaceConfig", "POOLING_TYPES", "MIDDLE_MODEL_TYPES", "HEAD_INIT_TYPES"]
