"""Configuration of the latent-dynamics sequence model: encoder -> gated leaky recurrence -> chunked causal decoder."""

from __future__ import annotations

from transformers import PretrainedConfig

SEQUENCE_MIXERS = ("latent_dynamics", "gru", "mingru", "none")
ATTENTION_TYPES = ("chunked", "full", "sdpa")
POSITION_ENCODINGS = ("rope", "sinusoidal", "none")
RECURRENCE_IMPLS = ("loop", "hoisted", "compiled")


class LatentDynamicsConfig(PretrainedConfig):
    r"""
    Configuration of [`LatentDynamicsForCausalLM`], the hybrid of seed 002: tokens are embedded into a latent space
    (`LatentEncoder`), a gated leaky recurrence carries a latent state along the sequence (`LatentDynamics`,
    `h_t = tanh((1 - α) ⊙ h_{t-1} + gate(h_{t-1}, z_t) ⊙ z_t)`), and causal Transformer blocks attend over the latent
    states chunk by chunk (`LatentDecoder`). The baselines and ablations of issue 16 are switches of this one config,
    so every model of a comparison is trained by the same code.

    Args:
        vocab_size (`int`, *optional*, defaults to 64):
            Number of token ids (the synthetic tasks use small vocabularies).
        hidden_size (`int`, *optional*, defaults to 64):
            Width of the latent space: embeddings, the recurrent state and the decoder blocks (the seed's
            `latent_dim = attn_dim = 64`).
        num_layers (`int`, *optional*, defaults to 2):
            Causal Transformer blocks in the decoder.
        num_heads (`int`, *optional*, defaults to 4):
            Attention heads per block; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 256):
            Hidden width of each block's MLP. The harness tunes it to give baselines the same parameter count.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities and MLP outputs (the seed used 0.1).
        sequence_mixer (`str`, *optional*, defaults to `"latent_dynamics"`):
            What runs between encoder and decoder: `"latent_dynamics"` (the seed's recurrence), `"gru"` (the seed's
            named GRU + Transformer baseline), `"mingru"` (a gated linear recurrence trained with a parallel scan,
            Feng et al. 2024) or `"none"` (a pure Transformer over the token latents).
        use_gate (`bool`, *optional*, defaults to `True`):
            Whether the input passes through `gate(h_{t-1}, z_t) = σ(W_h h_{t-1} + W_z z_t + b)`; off, the gate is
            1 and its weights do not exist (the "no gate" ablation).
        use_leak (`bool`, *optional*, defaults to `True`):
            Whether the state decays by a learned `1 - α`; off, `α = 0` and its parameter does not exist (the
            "no leak" ablation: `h_t = tanh(h_{t-1} + gate ⊙ z_t)`).
        leak_init_range (`list[float]`, *optional*, defaults to `[0.001, 0.5]`):
            Initial α per dimension, log-uniform between these bounds, so some dimensions start with a memory of
            ~1,000 steps and others of ~2 (an S4/LRU-style spread of time scales).
        leak_epsilon (`float`, *optional*, defaults to 1e-4):
            α is `ε + (1 - 2ε) · sigmoid(θ)`: strictly inside (0, 1) whatever the optimizer does to `θ`, also in
            float32 where `sigmoid` alone rounds to exactly 0 or 1.
        recurrence_impl (`str`, *optional*, defaults to `"hoisted"`):
            How the recurrence is computed; all give the same outputs. `"loop"`: the reference, one `Linear` on
            `[h_{t-1}, z_t]` per step. `"hoisted"`: the input half of the gate for all steps in one matmul before the
            loop, one `addmm` per step. `"compiled"`: the hoisted loop unrolled over `recurrence_chunk` steps and
            compiled with `torch.compile` (fewer kernel launches on a GPU).
        recurrence_chunk (`int`, *optional*, defaults to 32):
            Steps unrolled per compiled call of `recurrence_impl="compiled"`.
        attention (`str`, *optional*, defaults to `"chunked"`):
            `"chunked"`: exact causal attention computed `chunk_size` queries at a time (and recomputed in the backward
            pass), so the largest score matrix is `chunk_size × L` instead of `L × L`. `"full"`: the whole `L × L`
            score matrix at once (the "no chunking" ablation and the pure-Transformer baseline as the seed knew it).
            `"sdpa"`: PyTorch's fused `scaled_dot_product_attention` (exact, memory-efficient kernels on a GPU).
        chunk_size (`int`, *optional*, defaults to 128):
            Queries per chunk of chunked attention (the seed's `chunk_size`).
        position_encoding (`str`, *optional*, defaults to `"rope"`):
            Positional information for the decoder: `"rope"` (rotary, relative), `"sinusoidal"` (absolute, added to
            the decoder input) or `"none"` (the "no positional encoding" ablation; only the recurrence and the causal
            mask then carry order).
        rope_theta (`float`, *optional*, defaults to 10000.0):
            Base of the rotary frequencies.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of embeddings and linear layers.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the LayerNorms.
    """

    model_type = "latent_dynamics"

    def __init__(
        self,
        vocab_size: int = 64,
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        intermediate_size: int = 256,
        dropout: float = 0.0,
        sequence_mixer: str = "latent_dynamics",
        use_gate: bool = True,
        use_leak: bool = True,
        leak_init_range: list[float] | tuple[float, float] = (0.001, 0.5),
        leak_epsilon: float = 1e-4,
        recurrence_impl: str = "hoisted",
        recurrence_chunk: int = 32,
        attention: str = "chunked",
        chunk_size: int = 128,
        position_encoding: str = "rope",
        rope_theta: float = 10000.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-5,
        **kwargs,
    ):
        _check_choice("sequence_mixer", sequence_mixer, SEQUENCE_MIXERS)
        _check_choice("attention", attention, ATTENTION_TYPES)
        _check_choice("position_encoding", position_encoding, POSITION_ENCODINGS)
        _check_choice("recurrence_impl", recurrence_impl, RECURRENCE_IMPLS)
        if hidden_size % num_heads:
            raise ValueError(f"`num_heads` ({num_heads}) must divide `hidden_size` ({hidden_size}).")
        if position_encoding == "rope" and (hidden_size // num_heads) % 2:
            raise ValueError(f"Rotary embeddings need an even head size, got {hidden_size // num_heads}.")
        if min(vocab_size, hidden_size, num_layers, intermediate_size, chunk_size, recurrence_chunk) < 1:
            raise ValueError("Sizes (vocab, hidden, layers, intermediate, chunk_size, recurrence_chunk) must be >= 1.")
        low, high = (float(v) for v in leak_init_range)
        if not 0.0 < low <= high < 1.0:
            raise ValueError(f"`leak_init_range` must satisfy 0 < low <= high < 1, got {list(leak_init_range)}.")
        if not 0.0 < leak_epsilon < 0.5:
            raise ValueError(f"`leak_epsilon` must be in (0, 0.5), got {leak_epsilon}.")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.sequence_mixer = sequence_mixer
        self.use_gate = use_gate
        self.use_leak = use_leak
        self.leak_init_range = [low, high]
        self.leak_epsilon = leak_epsilon
        self.recurrence_impl = recurrence_impl
        self.recurrence_chunk = recurrence_chunk
        self.attention = attention
        self.chunk_size = chunk_size
        self.position_encoding = position_encoding
        self.rope_theta = rope_theta
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(choices)}; got {value!r}.")
