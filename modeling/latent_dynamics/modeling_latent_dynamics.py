"""A hybrid sequence model for long sequences (seed 002).

Data flows through this file top to bottom:

    token ids -> LatentEncoder (embedding -> linear) -> z_t
              -> LatentDynamics: h_t = tanh((1 - α) ⊙ h_{t-1} + gate(h_{t-1}, z_t) ⊙ z_t)
                 (or a GRU, a minGRU parallel scan, or nothing: the baselines)
              -> LatentDecoder: causal Transformer blocks over h, positions by RoPE, attention chunk by chunk
              -> LM head -> next-token logits

Every baseline and ablation of issue 16 is a switch of `LatentDynamicsConfig`, so they share this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_latent_dynamics import LatentDynamicsConfig


@dataclass
class LatentDynamicsCausalLMOutput(ModelOutput):
    """
    Args:
        loss: next-token cross-entropy over the positions whose label is not -100 (when `labels` are given); with
            `loss_weights`, their weighted mean.
        logits: `(batch, length, vocab_size)` next-token scores.
        latents: `(batch, length, hidden_size)` latent states the decoder reads (the recurrence's `h_t`, or the token
            latents for the pure Transformer), when `output_latents=True`: the seed's analysis hook.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Encoder: tokens -> latents z
# ----------------------------------------------------------------------------------------------------------------------


class LatentEncoder(nn.Module):
    """Embedding -> linear, as in the seed: the linear map lets the latent basis differ from the embedding's."""

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        return self.projection(self.embedding(input_ids))


# ----------------------------------------------------------------------------------------------------------------------
# Sequence mixers: the seed's latent dynamics and the baselines' recurrences
# ----------------------------------------------------------------------------------------------------------------------


def _recurrence_steps(
    h: torch.Tensor, z: torch.Tensor, gate_z: torch.Tensor | None, gate_h: torch.Tensor | None, decay
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Runs `z.shape[1]` steps of the recurrence from state `h`, with the input half of the gate (`gate_z`) already
    computed for every step: only the `h`-dependent work is left inside the loop. Returns the states and the last one.
    """
    states = []
    for t in range(z.shape[1]):
        update = z[:, t] if gate_h is None else torch.sigmoid(torch.addmm(gate_z[:, t], h, gate_h)) * z[:, t]
        h = torch.tanh(update + (h if decay is None else decay * h))
        states.append(h)
    return torch.stack(states, dim=1), h


_compiled_steps = None


def _compiled_recurrence_steps():
    """`_recurrence_steps` compiled once per process (torch.compile unrolls the chunk's loop into fused kernels)."""
    global _compiled_steps
    if _compiled_steps is None:
        _compiled_steps = torch.compile(_recurrence_steps, dynamic=False)
    return _compiled_steps


class LatentDynamics(nn.Module):
    """
    The seed's gated leaky recurrence, `h_t = tanh((1 - α) ⊙ h_{t-1} + gate(h_{t-1}, z_t) ⊙ z_t)` with
    `gate = σ(W_h h_{t-1} + W_z z_t + b)` and a learned per-dimension leak `α = ε + (1 - 2ε) σ(θ)`, which stays strictly
    inside (0, 1). `use_gate=False` makes the gate 1, `use_leak=False` makes α 0; their parameters then do not exist.

    The gate depends on `h_{t-1}` and the update goes through `tanh`, so the recurrence is not associative and has no
    exact parallel scan; it runs step by step, computed in float32 whatever the autocast dtype.
    """

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        size = config.hidden_size
        self.epsilon = config.leak_epsilon
        self.leak_init_range = tuple(config.leak_init_range)
        self.impl = config.recurrence_impl
        self.chunk = config.recurrence_chunk
        self.gate_h = nn.Linear(size, size, bias=False) if config.use_gate else None
        self.gate_z = nn.Linear(size, size) if config.use_gate else None
        self.leak_logit = nn.Parameter(torch.zeros(size)) if config.use_leak else None
        for layer in (self.gate_h, self.gate_z):
            if layer is not None:
                layer.is_latent_gate = True

    @property
    def alpha(self) -> torch.Tensor | None:
        """The per-dimension leak α in (0, 1), or None without a leak (α = 0)."""
        if self.leak_logit is None:
            return None
        return self.epsilon + (1.0 - 2.0 * self.epsilon) * torch.sigmoid(self.leak_logit.float())

    def initial_leak_logit(self) -> torch.Tensor:
        """θ such that α spreads log-uniformly over `leak_init_range` across dimensions (deterministic)."""
        low, high = self.leak_init_range
        alpha = torch.logspace(math.log10(low), math.log10(high), self.leak_logit.numel(), dtype=torch.float64)
        unit = ((alpha - self.epsilon) / (1.0 - 2.0 * self.epsilon)).clamp(1e-12, 1 - 1e-12)
        return torch.logit(unit).float()

    def forward(self, z: torch.Tensor, h0: torch.Tensor | None = None, impl: str | None = None) -> torch.Tensor:
        impl = impl or self.impl
        device_type = z.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            z = z.float()
            h = z.new_zeros(z.shape[0], z.shape[2]) if h0 is None else h0.float()
            alpha = self.alpha
            decay = None if alpha is None else 1.0 - alpha
            if impl == "loop":
                return self._reference_loop(z, h, decay)
            gate_z = self.gate_z(z) if self.gate_z is not None else None
            gate_h = self.gate_h.weight.float().t() if self.gate_h is not None else None
            if impl == "hoisted":
                return _recurrence_steps(h, z, gate_z, gate_h, decay)[0]
            steps = _compiled_recurrence_steps()
            states = []
            for start in range(0, z.shape[1], self.chunk):
                end = start + self.chunk
                chunk_gate = None if gate_z is None else gate_z[:, start:end]
                chunk_states, h = steps(h, z[:, start:end], chunk_gate, gate_h, decay)
                states.append(chunk_states)
            return torch.cat(states, dim=1)

    def _reference_loop(self, z: torch.Tensor, h: torch.Tensor, decay) -> torch.Tensor:
        """The recurrence exactly as written in the seed: one gate layer on `[h_{t-1}, z_t]` per step."""
        states = []
        for t in range(z.shape[1]):
            z_t = z[:, t]
            if self.gate_h is not None:
                weight = torch.cat([self.gate_h.weight, self.gate_z.weight], dim=1).float()
                gate = torch.sigmoid(F.linear(torch.cat([h, z_t], dim=-1), weight, self.gate_z.bias.float()))
                z_t = gate * z_t
            leaked = h if decay is None else decay * h
            h = torch.tanh(leaked + z_t)
            states.append(h)
        return torch.stack(states, dim=1)


class GRUMixer(nn.Module):
    """The seed's named baseline: a GRU (cuDNN on a GPU) in place of the latent dynamics."""

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.gru = nn.GRU(config.hidden_size, config.hidden_size, batch_first=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gru(z)[0]


def _log_g(x: torch.Tensor) -> torch.Tensor:
    """log of minGRU's positive activation g(x) = x + 0.5 (x >= 0), sigmoid(x) (x < 0)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinGRUMixer(nn.Module):
    """
    minGRU (Feng et al., "Were RNNs All We Needed?", 2024): `h_t = (1 - z_t) h_{t-1} + z_t g(h̃_t)` with gates that
    read only the input, so the whole sequence is one linear recurrence solved by a log-space parallel scan (Heinsen
    2023). The scan runs over chunks of `chunk_size` steps carrying the state between them, which keeps the cumulative
    log-decays small enough for float32 precision at 8K tokens.
    """

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.to_gate = nn.Linear(config.hidden_size, config.hidden_size)
        self.to_hidden = nn.Linear(config.hidden_size, config.hidden_size)
        self.chunk = config.chunk_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            gate_logit = self.to_gate(x)
            log_update = -F.softplus(-gate_logit) + _log_g(self.to_hidden(x))  # log(z_t g(h̃_t))
            log_keep = -F.softplus(gate_logit)  # log(1 - z_t)
            outputs, log_h = [], None
            for start in range(0, x.shape[1], self.chunk):
                values, coeffs = log_update[:, start : start + self.chunk], log_keep[:, start : start + self.chunk]
                if log_h is not None:  # the carried state enters as step 0 with coefficient 1
                    values = torch.cat([log_h.unsqueeze(1), values], dim=1)
                    coeffs = torch.cat([torch.zeros_like(log_h).unsqueeze(1), coeffs], dim=1)
                decay_sum = coeffs.cumsum(dim=1)
                log_states = decay_sum + torch.logcumsumexp(values - decay_sum, dim=1)
                if log_h is not None:
                    log_states = log_states[:, 1:]
                log_h = log_states[:, -1]
                outputs.append(log_states.exp())
            return torch.cat(outputs, dim=1)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same recurrence step by step (for tests)."""
        gate = torch.sigmoid(self.to_gate(x))
        hidden = _log_g(self.to_hidden(x)).exp()
        h, states = torch.zeros_like(x[:, 0]), []
        for t in range(x.shape[1]):
            h = (1 - gate[:, t]) * h + gate[:, t] * hidden[:, t]
            states.append(h)
        return torch.stack(states, dim=1)


def build_sequence_mixer(config: LatentDynamicsConfig) -> nn.Module | None:
    if config.sequence_mixer == "latent_dynamics":
        return LatentDynamics(config)
    if config.sequence_mixer == "gru":
        return GRUMixer(config)
    if config.sequence_mixer == "mingru":
        return MinGRUMixer(config)
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Decoder: causal Transformer blocks over the latent states, attention chunk by chunk
# ----------------------------------------------------------------------------------------------------------------------


def rotary_tables(length: int, head_size: int, theta: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / theta ** (torch.arange(0, head_size, 2, device=device, dtype=torch.float32) / head_size)
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates pairs (first half, second half) of each head's features by position-dependent angles."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def sinusoidal_table(length: int, size: int, device, dtype) -> torch.Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: size // 2])
    return table.to(dtype)


def causal_attention_block(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, start: int, dropout: float, training: bool
) -> torch.Tensor:
    """Queries `start .. start + q_len` attend to keys `0 .. k_len` causally; scores in float32."""
    q_len, k_len = query.shape[-2], key.shape[-2]
    scores = torch.matmul(query, key.transpose(-1, -2)).float() * query.shape[-1] ** -0.5
    query_pos = torch.arange(start, start + q_len, device=query.device).unsqueeze(1)
    future = torch.arange(k_len, device=query.device).unsqueeze(0) > query_pos
    probs = scores.masked_fill(future, float("-inf")).softmax(dim=-1).to(value.dtype)
    probs = F.dropout(probs, p=dropout, training=training)
    return torch.matmul(probs, value)


class LatentDecoderAttention(nn.Module):
    """Multi-head causal self-attention: chunked (exact, chunk × L scores at a time), full (L × L) or fused SDPA."""

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads
        self.mode = config.attention
        self.chunk_size = config.chunk_size
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, length, _ = x.shape
        query, key, value = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            query, key = apply_rotary(query, *rotary), apply_rotary(key, *rotary)
        dropout = self.dropout if self.training else 0.0
        if self.mode == "sdpa":
            mixed = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout, is_causal=True)
        elif self.mode == "full":
            mixed = causal_attention_block(query, key, value, 0, dropout, self.training)
        else:
            mixed = self._chunked(query, key, value, dropout)
        return self.out(mixed.transpose(1, 2).reshape(batch, length, -1))

    def _chunked(self, query, key, value, dropout: float) -> torch.Tensor:
        """
        One chunk of queries at a time against the keys up to its end. With gradients, each chunk is recomputed in
        the backward pass instead of keeping its probabilities, so training memory also grows with the chunk.
        """
        recompute = torch.is_grad_enabled() and query.requires_grad
        outputs = []
        for start in range(0, query.shape[-2], self.chunk_size):
            end = min(start + self.chunk_size, query.shape[-2])
            block = partial(causal_attention_block, start=start, dropout=dropout, training=self.training)
            args = (query[:, :, start:end], key[:, :, :end], value[:, :, :end])
            outputs.append(checkpoint(block, *args, use_reentrant=False) if recompute else block(*args))
        return torch.cat(outputs, dim=2)


class LatentDecoderBlock(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = LatentDecoderAttention(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor, rotary) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), rotary)
        return x + self.mlp(self.mlp_norm(x))


class LatentDecoder(nn.Module):
    """Positional information (RoPE, absolute sinusoids or none), causal blocks, final LayerNorm."""

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(LatentDecoderBlock(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        length, size = h.shape[1], h.shape[2]
        rotary = None
        if self.config.position_encoding == "rope":
            head_size = size // self.config.num_heads
            rotary = rotary_tables(length, head_size, self.config.rope_theta, h.device, h.dtype)
        elif self.config.position_encoding == "sinusoidal":
            h = h + sinusoidal_table(length, size, h.device, h.dtype)
        for block in self.blocks:
            h = block(h, rotary)
        return self.norm(h)


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------


class LatentDynamicsPreTrainedModel(PreTrainedModel):
    config_class = LatentDynamicsConfig
    config: LatentDynamicsConfig
    base_model_prefix = "latent_dynamics"
    main_input_name = "input_ids"
    _no_split_modules = ["LatentDecoderBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            # the gate's layers start input-scaled, so the gate is not stuck near 0.5 at the first steps
            gate_std = module.weight.shape[1] ** -0.5 if getattr(module, "is_latent_gate", False) else std
            init.normal_(module.weight, mean=0.0, std=gate_std)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.GRU):
            bound = module.hidden_size**-0.5
            for param in module.parameters():
                init.uniform_(param, -bound, bound)
        if isinstance(module, LatentDynamics) and module.leak_logit is not None:
            init.copy_(module.leak_logit, module.initial_leak_logit())


class LatentDynamicsForCausalLM(LatentDynamicsPreTrainedModel):
    """
    Next-token prediction over long sequences: `LatentEncoder` -> sequence mixer (`LatentDynamics` or a baseline's)
    -> `LatentDecoder` -> LM head. `labels` follow the transformers convention (the logits at position t are scored
    against `labels[t + 1]`; -100 is ignored), so a task can score only the positions it makes predictable.

    `loss_weights` (optional, `(batch, length)`, aligned with `labels`: `loss_weights[b, t]` weighs the loss on
    `labels[b, t]`) turns the loss into `Σ w·CE / Σ w` over the labelled positions, so a task whose answer is one
    position among thousands (long_increment's jump) can give that position a fixed share of the gradient
    (`training.synthetic_tasks.scored_loss_weights`). Without them every labelled position counts the same.
    """

    def __init__(self, config: LatentDynamicsConfig):
        super().__init__(config)
        self.encoder = LatentEncoder(config)
        self.dynamics = build_sequence_mixer(config)
        self.decoder = LatentDecoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embedding = value

    def latents(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """The latent states the decoder attends over: the mixer's `h_t` (or the token latents `z_t`)."""
        z = self.encoder(input_ids)
        return z if self.dynamics is None else self.dynamics(z).to(z.dtype)

    def forward(
        self,
        input_ids: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        loss_weights: torch.Tensor | None = None,
        output_latents: bool = False,
        return_dict: bool | None = None,
    ) -> LatentDynamicsCausalLMOutput | tuple:
        if input_ids.dim() != 2:
            raise ValueError(f"`input_ids` must be (batch, length), got shape {tuple(input_ids.shape)}.")
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= self.config.vocab_size):
            raise ValueError(
                f"Token ids must lie in [0, {self.config.vocab_size}) (the config's vocab_size), got "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]."
            )
        if labels is not None and labels.shape != input_ids.shape:
            raise ValueError(
                f"`labels` {tuple(labels.shape)} must have the shape of `input_ids` {tuple(input_ids.shape)}."
            )
        if loss_weights is not None and (labels is None or loss_weights.shape != labels.shape):
            raise ValueError(
                f"`loss_weights` {tuple(loss_weights.shape)} need `labels` of the same shape, got "
                f"{None if labels is None else tuple(labels.shape)}."
            )
        latents = self.latents(input_ids)
        logits = self.lm_head(self.decoder(latents))
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, loss_weights)
        output = LatentDynamicsCausalLMOutput(loss=loss, logits=logits, latents=latents if output_latents else None)
        return output if return_dict is not False else output.to_tuple()


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.LongTensor, loss_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Next-token cross-entropy (logits at t against labels at t + 1, -100 ignored); weighted mean with weights."""
    labels = labels[:, 1:].flatten().to(logits.device)
    losses = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels, ignore_index=-100, reduction="none")
    if loss_weights is None:
        return losses.sum() / (labels != -100).sum().clamp(min=1)
    weights = loss_weights[:, 1:].flatten().to(losses.device, torch.float32) * (labels != -100)
    return (losses * weights).sum() / weights.sum().clamp(min=torch.finfo(torch.float32).tiny)


__all__ = [
    "GRUMixer",
    "LatentDecoder",
    "LatentDynamics",
    "LatentDynamicsCausalLMOutput",
    "LatentDynamicsForCausalLM",
    "LatentDynamicsPreTrainedModel",
    "LatentEncoder",
    "MinGRUMixer",
]
