"""Configurations of the CALM family: a K-token autoencoder and the student that predicts its latent vectors."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

DEFAULT_TEACHER = "HuggingFaceTB/SmolLM2-135M-Instruct"


class CalmAutoencoderConfig(PretrainedConfig):
    r"""
    Configuration of [`CalmAutoencoder`], which compresses each chunk of `patch_size` (K) tokens into one vector of
    `latent_size` (D) values and reconstructs the K tokens from it. Every layer works inside one chunk (no attention
    across chunks), as in CALM: a chunk's vector depends on its K tokens only, so a student can predict it from earlier
    chunks. Defaults are the seed's (K=8, D=1024, hidden 512, 2+2 layers, KL weight 1e-3 clamped at 0.5).

    Args:
        vocab_size (`int`, *optional*, defaults to 49152):
            Tokens of the tokenizer (the teacher's: SmolLM2's by default).
        patch_size (`int`, *optional*, defaults to 8):
            K, the tokens compressed into one latent vector: the student takes K times fewer autoregressive steps.
        latent_size (`int`, *optional*, defaults to 1024):
            D, the size of one latent vector.
        hidden_size (`int`, *optional*, defaults to 512):
            Width of the per-token and per-chunk MLP layers.
        intermediate_size (`int`, *optional*, defaults to 1280):
            Inner width of each SwiGLU MLP layer.
        num_encoder_layers (`int`, *optional*, defaults to 2):
            MLP layers before the squeeze (on each token) and again after it (on each chunk vector).
        num_decoder_layers (`int`, *optional*, defaults to 2):
            MLP layers before the expand (on each chunk vector) and again after it (on each token).
        rms_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of the RMSNorms.
        hidden_dropout (`float`, *optional*, defaults to 0.0):
            Dropout inside the MLP layers during training.
        token_dropout (`float`, *optional*, defaults to 0.15):
            During training, the share of input tokens whose embedding is zeroed (CALM masks input tokens so the
            encoder spreads each token's identity over the chunk vector). Measured in BENCHMARKS.md, not assumed.
        latent_dropout (`float`, *optional*, defaults to 0.15):
            During training, dropout on the sampled latent before decoding (CALM's way to make the decoder read a
            redundant, noise-tolerant vector: a student's predicted vectors are never exact).
        kl_weight (`float`, *optional*, defaults to 1e-3):
            Weight of the KL term to N(0, I).
        kl_clamp (`float`, *optional*, defaults to 0.5):
            Lower bound of the KL of each latent dimension, in nats: a dimension whose KL is already below it gets no
            KL gradient, so the posterior is not pushed to collapse onto the prior.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether the token logits reuse the input embedding matrix.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear and embedding weights.
        pad_token_id (`int`, *optional*):
            The tokenizer's padding token (prompts are left-padded with it to a multiple of K).
        eos_token_id (`int`, *optional*):
            The tokenizer's end-of-sequence token.
    """

    model_type = "calm_autoencoder"

    def __init__(
        self,
        vocab_size: int = 49152,
        patch_size: int = 8,
        latent_size: int = 1024,
        hidden_size: int = 512,
        intermediate_size: int = 1280,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        rms_norm_eps: float = 1e-6,
        hidden_dropout: float = 0.0,
        token_dropout: float = 0.15,
        latent_dropout: float = 0.15,
        kl_weight: float = 1e-3,
        kl_clamp: float = 0.5,
        tie_word_embeddings: bool = True,
        initializer_range: float = 0.02,
        pad_token_id: int | None = None,
        eos_token_id: int | None = None,
        **kwargs: Any,
    ):
        for name, value in (("patch_size", patch_size), ("latent_size", latent_size), ("vocab_size", vocab_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        for name, value in (("token_dropout", token_dropout), ("latent_dropout", latent_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {value}.")
        if kl_clamp < 0 or kl_weight < 0:
            raise ValueError(f"`kl_weight` and `kl_clamp` must be non-negative, got {kl_weight} and {kl_clamp}.")
        self.vocab_size = vocab_size
        self.patch_size = patch_size
        self.latent_size = latent_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_encoder_layers = num_encoder_layers
        self.num_decoder_layers = num_decoder_layers
        self.rms_norm_eps = rms_norm_eps
        self.hidden_dropout = hidden_dropout
        self.token_dropout = token_dropout
        self.latent_dropout = latent_dropout
        self.kl_weight = kl_weight
        self.kl_clamp = kl_clamp
        self.initializer_range = initializer_range
        super().__init__(
            pad_token_id=pad_token_id, eos_token_id=eos_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs
        )


class CalmConfig(PretrainedConfig):
    r"""
    Configuration of [`CalmForCausalLM`], the student: a decoder-only transformer over latent vectors (RoPE attention,
    RMSNorm, SwiGLU MLPs) that reads the vectors of chunks 0..n-1 and predicts the vector of chunk n. It holds the
    frozen autoencoder's configuration, so one folder rebuilds both and generates text. Defaults are the seed's
    (hidden 768, 12 layers, 12 heads, MLP 2048; loss weights 1, KD temperature 2).

    Args:
        autoencoder (`CalmAutoencoderConfig` or `dict`, *optional*):
            Configuration of the autoencoder whose latents the student predicts (K and D come from it).
        hidden_size (`int`, *optional*, defaults to 768):
            Width of the transformer.
        num_hidden_layers (`int`, *optional*, defaults to 12):
            Transformer layers.
        num_attention_heads (`int`, *optional*, defaults to 12):
            Attention heads.
        num_key_value_heads (`int`, *optional*):
            Key/value heads (grouped-query attention); defaults to `num_attention_heads`.
        intermediate_size (`int`, *optional*, defaults to 2048):
            Inner width of each SwiGLU MLP.
        max_position_embeddings (`int`, *optional*, defaults to 1024):
            Longest context in latent vectors (K times as many tokens). Longer prompts are refused.
        rope_theta (`float`, *optional*, defaults to 10000.0):
            Base of the rotary position embedding.
        rms_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of the RMSNorms.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities and residual branches during training.
        mse_weight (`float`, *optional*, defaults to 1.0):
            Weight of the MSE between predicted and target latent vectors.
        ce_weight (`float`, *optional*, defaults to 1.0):
            Weight of the token cross-entropy of the frozen decoder's reading of the predicted vector.
        kd_weight (`float`, *optional*, defaults to 1.0):
            Weight of the KL divergence from the teacher's next-token distributions to the decoded ones.
        kd_temperature (`float`, *optional*, defaults to 2.0):
            Temperature both distributions are softened with in the KD term (which is scaled by its square).
        teacher_name_or_path (`str`, *optional*, defaults to `"HuggingFaceTB/SmolLM2-135M-Instruct"`):
            The teacher distilled from. Informational (model cards); the teacher is not part of the checkpoint.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear weights.
    """

    model_type = "calm"
    sub_configs = {"autoencoder": CalmAutoencoderConfig}

    def __init__(
        self,
        autoencoder: CalmAutoencoderConfig | dict[str, Any] | None = None,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        num_key_value_heads: int | None = None,
        intermediate_size: int = 2048,
        max_position_embeddings: int = 1024,
        rope_theta: float = 10000.0,
        rms_norm_eps: float = 1e-6,
        dropout: float = 0.0,
        mse_weight: float = 1.0,
        ce_weight: float = 1.0,
        kd_weight: float = 1.0,
        kd_temperature: float = 2.0,
        teacher_name_or_path: str = DEFAULT_TEACHER,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ):
        if autoencoder is None:
            autoencoder = CalmAutoencoderConfig()
        elif isinstance(autoencoder, dict):
            autoencoder = CalmAutoencoderConfig(**{k: v for k, v in autoencoder.items() if k != "model_type"})
        elif not isinstance(autoencoder, CalmAutoencoderConfig):
            raise TypeError(f"`autoencoder` must be a CalmAutoencoderConfig or a dict, got {type(autoencoder)}.")
        num_key_value_heads = num_key_value_heads or num_attention_heads
        if hidden_size % num_attention_heads or num_attention_heads % num_key_value_heads:
            raise ValueError(
                f"`hidden_size` ({hidden_size}) must divide into `num_attention_heads` ({num_attention_heads}) heads, "
                f"and those into `num_key_value_heads` ({num_key_value_heads}) groups."
            )
        if min(mse_weight, ce_weight, kd_weight) < 0 or kd_temperature <= 0:
            raise ValueError("Loss weights must be non-negative and `kd_temperature` positive.")
        self.autoencoder = autoencoder
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.dropout = dropout
        self.mse_weight = mse_weight
        self.ce_weight = ce_weight
        self.kd_weight = kd_weight
        self.kd_temperature = kd_temperature
        self.teacher_name_or_path = teacher_name_or_path
        self.initializer_range = initializer_range
        kwargs.setdefault("pad_token_id", autoencoder.pad_token_id)
        kwargs.setdefault("eos_token_id", autoencoder.eos_token_id)
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)

    @property
    def patch_size(self) -> int:
        """K: tokens per latent vector, from the autoencoder."""
        return self.autoencoder.patch_size

    @property
    def latent_size(self) -> int:
        """D: values per latent vector, from the autoencoder."""
        return self.autoencoder.latent_size
