"""
The CALM family (after Shao et al. 2025, "Continuous Autoregressive Language Models"):

    tokens (K per chunk) -> CalmAutoencoder.encode -> one latent vector per chunk (D values)
    latents of chunks 0..n-1 -> CalmForCausalLM (RoPE transformer) -> predicted latent of chunk n
    predicted latent -> CalmAutoencoder.decode -> K token distributions -> K tokens per autoregressive step

The autoencoder is trained first (reconstruction + clamped KL) and frozen; the student is then trained with three
weighted losses: latent MSE, token cross-entropy through the frozen decoder, and KL to a token-level teacher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_calm import CalmAutoencoderConfig, CalmConfig

# -- shared blocks ------------------------------------------------------------------------------------------------------


class CalmRMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class CalmMLP(nn.Module):
    """SwiGLU feed-forward, as in Llama."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class CalmResidualMLPBlock(nn.Module):
    """Pre-norm residual MLP: the autoencoder's only layer type (it never mixes chunks)."""

    def __init__(self, hidden_size: int, intermediate_size: int, eps: float, dropout: float):
        super().__init__()
        self.norm = CalmRMSNorm(hidden_size, eps)
        self.mlp = CalmMLP(hidden_size, intermediate_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.mlp(self.norm(x)))


# -- autoencoder ----------------------------------------------------------------------------------------------------


@dataclass
class CalmAutoencoderOutput(ModelOutput):
    """
    Args:
        loss: `recon_loss + kl_weight * kl_loss` (training objective).
        recon_loss: token cross-entropy times K (per chunk, as in the seed).
        kl_loss: KL to N(0, I) summed over latent dimensions, each clamped from below at `kl_clamp`; mean over chunks.
        logits: token logits, `(batch, chunks * K, vocab)`.
        latent_mean: posterior means `(batch, chunks, D)` (the deterministic encoding).
        latent_logvar: posterior log-variances `(batch, chunks, D)`.
    """

    loss: torch.FloatTensor | None = None
    recon_loss: torch.FloatTensor | None = None
    kl_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latent_mean: torch.FloatTensor | None = None
    latent_logvar: torch.FloatTensor | None = None


class CalmPreTrainedModel(PreTrainedModel):
    """Shared weight initialisation of both CALM models."""

    config_class = CalmConfig
    base_model_prefix = "calm"
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, CalmRMSNorm):
            nn.init.ones_(module.weight)


class CalmAutoencoder(CalmPreTrainedModel):
    """
    K tokens <-> one latent vector. Encoder: embeddings -> MLP layers on each token -> squeeze (the K token states of a
    chunk concatenated, K*H -> H) -> MLP layers on the chunk -> (mean, logvar) of D values. Decoder: D -> H -> MLP
    layers -> expand (H -> K*H) -> MLP layers on each token -> token logits.
    """

    config_class = CalmAutoencoderConfig
    base_model_prefix = "calm_autoencoder"
    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}

    def __init__(self, config: CalmAutoencoderConfig):
        super().__init__(config)
        h, k = config.hidden_size, config.patch_size

        def blocks(count: int) -> nn.ModuleList:
            return nn.ModuleList(
                CalmResidualMLPBlock(h, config.intermediate_size, config.rms_norm_eps, config.hidden_dropout)
                for _ in range(count)
            )

        self.embed_tokens = nn.Embedding(config.vocab_size, h)
        self.encoder_token_layers = blocks(config.num_encoder_layers)
        self.squeeze = nn.Linear(k * h, h)
        self.encoder_chunk_layers = blocks(config.num_encoder_layers)
        self.encoder_norm = CalmRMSNorm(h, config.rms_norm_eps)
        self.to_latent = nn.Linear(h, 2 * config.latent_size)
        self.from_latent = nn.Linear(config.latent_size, h)
        self.decoder_chunk_layers = blocks(config.num_decoder_layers)
        self.expand = nn.Linear(h, k * h)
        self.decoder_token_layers = blocks(config.num_decoder_layers)
        self.decoder_norm = CalmRMSNorm(h, config.rms_norm_eps)
        self.lm_head = nn.Linear(h, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def _check_chunks(self, input_ids: torch.Tensor) -> None:
        if input_ids.shape[-1] % self.config.patch_size:
            raise ValueError(
                f"The autoencoder reads chunks of K={self.config.patch_size} tokens: the sequence length must be a "
                f"multiple of K, got {input_ids.shape[-1]} (left-pad with the pad token)."
            )

    def encode(self, input_ids: torch.LongTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, chunks * K)` token ids -> posterior `(mean, logvar)`, each `(batch, chunks, D)`."""
        self._check_chunks(input_ids)
        x = self.embed_tokens(input_ids)
        if self.training and self.config.token_dropout > 0:
            keep = torch.rand(input_ids.shape, device=x.device) >= self.config.token_dropout
            x = x * keep.unsqueeze(-1).to(x.dtype)
        for layer in self.encoder_token_layers:
            x = layer(x)
        batch, length, hidden = x.shape
        x = self.squeeze(x.reshape(batch, length // self.config.patch_size, self.config.patch_size * hidden))
        for layer in self.encoder_chunk_layers:
            x = layer(x)
        mean, logvar = self.to_latent(self.encoder_norm(x)).chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """`(batch, chunks, D)` latents -> token logits `(batch, chunks * K, vocab)`."""
        x = self.from_latent(latents)
        for layer in self.decoder_chunk_layers:
            x = layer(x)
        batch, chunks, hidden = x.shape
        x = self.expand(x).reshape(batch, chunks * self.config.patch_size, hidden)
        for layer in self.decoder_token_layers:
            x = layer(x)
        return self.lm_head(self.decoder_norm(x))

    def clamped_kl(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(logvar)) || N(0, 1)) per dimension, clamped from below at `kl_clamp`, summed over D."""
        kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float())
        return kl.clamp(min=self.config.kl_clamp).sum(-1).mean()

    def forward(
        self,
        input_ids: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        latent_noise_std: float = 0.0,
        **kwargs,
    ) -> CalmAutoencoderOutput:
        """
        Encodes, samples (training) or takes the mean (eval), optionally adds Gaussian noise of `latent_noise_std`
        to the latent (robustness checks), decodes. `labels` defaults to `input_ids`; -100 marks padding that is not
        scored. `attention_mask` is accepted for collators' sake; padding is marked in `labels`.
        """
        mean, logvar = self.encode(input_ids)
        latent = mean
        if self.training:
            latent = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
            latent = F.dropout(latent, p=self.config.latent_dropout, training=True)
        if latent_noise_std > 0:
            latent = latent + torch.randn_like(latent) * latent_noise_std
        logits = self.decode(latent)
        labels = input_ids if labels is None else labels
        recon = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        recon = recon * self.config.patch_size
        kl = self.clamped_kl(mean, logvar)
        loss = recon + self.config.kl_weight * kl
        return CalmAutoencoderOutput(
            loss=loss, recon_loss=recon, kl_loss=kl, logits=logits, latent_mean=mean, latent_logvar=logvar
        )


# -- student ---------------------------------------------------------------------------------------------------------


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos/sin of the rotary embedding for integer `positions` `(batch, length)`: `(batch, 1, length, head_dim)`."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float().unsqueeze(-1) * inv_freq
    angles = torch.cat((angles, angles), dim=-1).unsqueeze(1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class CalmAttention(nn.Module):
    """Causal self-attention with RoPE and grouped-query heads; appends this step's keys/values to the cache."""

    def __init__(self, config: CalmConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.dropout
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, past: tuple[torch.Tensor, torch.Tensor] | None):
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        present = (k, v)
        if self.num_kv_heads != self.num_heads:
            repeat = self.num_heads // self.num_kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None and length > 1,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1)), present


class CalmDecoderLayer(nn.Module):
    def __init__(self, config: CalmConfig):
        super().__init__()
        self.input_norm = CalmRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attention = CalmAttention(config)
        self.post_attention_norm = CalmRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = CalmMLP(config.hidden_size, config.intermediate_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, cos, sin, mask, past):
        attended, present = self.attention(self.input_norm(x), cos, sin, mask, past)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.mlp(self.post_attention_norm(x)))
        return x, present


@dataclass
class CalmCausalLMOutput(ModelOutput):
    """
    Args:
        loss: `mse_weight * mse_loss + ce_weight * ce_loss + kd_weight * kd_loss` (terms with weight 0 are skipped).
        mse_loss: mean squared error between predicted and target latents (the autoencoder's posterior means).
        ce_loss: token cross-entropy of the frozen decoder's logits for the predicted latents.
        kd_loss: KL(teacher || student) of next-token distributions at `kd_temperature`, times its square.
        predicted_latents: `(batch, chunks, D)`, the prediction for the chunk after each input chunk.
        past_key_values: per-layer `(key, value)` tensors for the next step (with `use_cache=True`).
    """

    loss: torch.FloatTensor | None = None
    mse_loss: torch.FloatTensor | None = None
    ce_loss: torch.FloatTensor | None = None
    kd_loss: torch.FloatTensor | None = None
    predicted_latents: torch.FloatTensor | None = None
    past_key_values: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None


@dataclass
class CalmGenerationOutput(ModelOutput):
    """
    Args:
        sequences: new token ids `(batch, tokens)`, the pad token after a row's EOS.
        num_new_tokens: tokens each row generated (up to and including its EOS).
        ar_steps: autoregressive steps taken (one student forward and one K-token decode each).
        texts: the decoded continuations, when a tokenizer was available.
    """

    sequences: torch.LongTensor | None = None
    num_new_tokens: list[int] | None = None
    ar_steps: int | None = None
    texts: list[str] | None = None


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Keeps the `top_k` most likely tokens (0: all) and the smallest set holding `top_p` of the mass (1: all)."""
    if top_k > 0 and top_k < logits.shape[-1]:
        threshold = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # tokens whose predecessors already hold top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def sample_tokens(
    logits: torch.Tensor, temperature: float, top_k: int, top_p: float, generator: torch.Generator | None
) -> torch.LongTensor:
    """One token per row of `(..., vocab)` logits; temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


class CalmForCausalLM(CalmPreTrainedModel):
    """
    The student: latent vectors -> input projection -> RoPE transformer layers -> RMSNorm -> output projection ->
    the next latent vector, decoded into K tokens by the frozen autoencoder it holds (`self.autoencoder`).

    A teacher (any causal LM with the same tokenizer) can be attached with `set_teacher` for the KD loss; it is not a
    submodule, so it is neither trained nor saved.
    """

    config_class = CalmConfig
    _no_split_modules = ["CalmDecoderLayer"]

    def __init__(self, config: CalmConfig):
        super().__init__(config)
        self.autoencoder = CalmAutoencoder(config.autoencoder)
        self.input_proj = nn.Linear(config.latent_size, config.hidden_size)
        self.layers = nn.ModuleList(CalmDecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = CalmRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.output_proj = nn.Linear(config.hidden_size, config.latent_size)
        self.post_init()
        self.autoencoder.requires_grad_(False)
        self._teacher: list[nn.Module] = []  # a list, so nn.Module does not register (and save) the teacher

    # -- set-up --------------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """Loads as usual, then freezes the autoencoder again (loading makes fresh parameters that require grad)."""
        model = super().from_pretrained(*args, **kwargs)
        model.autoencoder.requires_grad_(False)
        return model

    def train(self, mode: bool = True):
        """The frozen autoencoder stays in eval mode (no token/latent dropout) while the student trains."""
        super().train(mode)
        self.autoencoder.eval()
        return self

    def set_teacher(self, teacher: nn.Module | None) -> None:
        """Attaches (or with None, detaches) the frozen token-level teacher used by the KD loss."""
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        self._teacher = [] if teacher is None else [teacher]

    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher[0] if self._teacher else None

    def load_autoencoder(self, autoencoder: CalmAutoencoder) -> None:
        """Copies a trained autoencoder's weights in (its config must match this model's)."""
        mine, theirs = self.config.autoencoder, autoencoder.config
        for name in ("vocab_size", "patch_size", "latent_size", "hidden_size", "intermediate_size"):
            if getattr(mine, name) != getattr(theirs, name):
                raise ValueError(
                    f"The autoencoder's {name} is {getattr(theirs, name)}, the config says {getattr(mine, name)}."
                )
        self.autoencoder.load_state_dict(autoencoder.state_dict())

    # -- the transformer over latents ----------------------------------------------------------------------------------

    def predict_latents(
        self,
        latents: torch.Tensor,
        chunk_mask: torch.Tensor | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, tuple | None]:
        """
        `(batch, n, D)` input latents (after any cached ones) -> `(batch, n, D)` predictions of each next latent.
        `chunk_mask` `(batch, cached + n)` marks real chunks (False: left padding); None means all are real.
        """
        batch, length, _ = latents.shape
        past_length = past_key_values[0][0].shape[2] if past_key_values else 0
        if past_length + length > self.config.max_position_embeddings:
            raise ValueError(
                f"The context is {past_length + length} latent vectors, more than max_position_embeddings "
                f"({self.config.max_position_embeddings})."
            )
        x = self.input_proj(latents.to(self.input_proj.weight.dtype))
        positions = torch.arange(past_length, past_length + length, device=x.device).expand(batch, length)
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        cos, sin = rotary_cos_sin(positions, head_dim, self.config.rope_theta, x.dtype)
        mask = None
        if chunk_mask is not None:
            total = past_length + length
            query = torch.arange(past_length, total, device=x.device)[:, None]
            key = torch.arange(total, device=x.device)[None, :]
            mask = (key <= query)[None, None] & chunk_mask[:, None, None, :].bool()
            mask = mask | (key == query)[None, None]  # a padding chunk attends to itself: no empty rows
        elif past_length and length > 1:
            query = torch.arange(past_length, past_length + length, device=x.device)[:, None]
            mask = (torch.arange(past_length + length, device=x.device)[None, :] <= query)[None, None]
        presents = []
        for index, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, mask, past_key_values[index] if past_key_values else None)
            presents.append(present)
        predicted = self.output_proj(self.norm(x))
        return predicted, (tuple(presents) if use_cache else None)

    # -- training ------------------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> CalmCausalLMOutput:
        """
        `input_ids` `(batch, chunks * K)`: the latent of each chunk predicts the next one. `labels` (default
        `input_ids`; -100 marks padding) are the tokens scored by the CE and KD terms. The teacher, when attached and
        `kd_weight > 0`, reads the same tokens (with `attention_mask` if given).
        """
        config, k = self.config, self.config.patch_size
        labels = input_ids if labels is None else labels
        with torch.no_grad():
            targets, _ = self.autoencoder.encode(input_ids)
        predicted, _ = self.predict_latents(targets[:, :-1])
        losses: dict[str, torch.Tensor] = {}
        losses["mse_loss"] = F.mse_loss(predicted.float(), targets[:, 1:].float())
        need_logits = config.ce_weight > 0 or (config.kd_weight > 0 and self.teacher is not None)
        if need_logits:
            logits = self.autoencoder.decode(predicted).float()  # gradients flow through the frozen decoder
            target_tokens = labels[:, k:]
            scored = target_tokens != -100
            losses["ce_loss"] = F.cross_entropy(logits.flatten(0, 1), target_tokens.flatten(), ignore_index=-100)
            if config.kd_weight > 0 and self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = self.teacher(input_ids=input_ids, attention_mask=attention_mask).logits
                # the teacher's logits at position t predict token t + 1: tokens k.. are predicted from k - 1 ..
                teacher_logits = teacher_logits[:, k - 1 : -1, : logits.shape[-1]].float()
                losses["kd_loss"] = self.distillation_loss(logits, teacher_logits, scored)
        weights = {"mse_loss": config.mse_weight, "ce_loss": config.ce_weight, "kd_loss": config.kd_weight}
        loss = sum(weights[name] * value for name, value in losses.items() if weights[name] > 0)
        return CalmCausalLMOutput(loss=loss, predicted_latents=predicted, **losses)

    def distillation_loss(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, scored: torch.Tensor
    ) -> torch.Tensor:
        """KL(teacher || student) at `kd_temperature`, times its square (so gradients keep their scale), over scored
        tokens."""
        temperature = self.config.kd_temperature
        teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
        student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
        kl = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(-1)
        kl = (kl * scored).sum() / scored.sum().clamp(min=1)
        return kl * temperature**2

    # -- generation ----------------------------------------------------------------------------------------------------

    def _prompt_ids(self, prompt, tokenizer) -> tuple[torch.LongTensor, torch.Tensor]:
        if tokenizer is None:
            raise ValueError("A text prompt needs a tokenizer: pass `tokenizer=` (the one saved with the model).")
        texts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("`prompt` must be a string or a non-empty list of strings.")
        rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        return self._left_pad(rows)

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.LongTensor, torch.Tensor]:
        """Left-pads token rows to a common multiple of K, so every row's last chunk ends with its last token."""
        k, pad = self.config.patch_size, self._pad_id()
        width = max(1, max(math.ceil(len(r) / k) for r in rows)) * k
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                mask[i, width - len(row) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def _pad_id(self) -> int:
        for value in (self.config.pad_token_id, self.config.eos_token_id, 0):
            if value is not None:
                return int(value[0] if isinstance(value, (list, tuple)) else value)
        return 0

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        prompt: str | list[str] | None = None,
        tokenizer=None,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        eos_token_id: int | None = None,
        stop_at_eos: bool = True,
        use_cache: bool = True,
    ) -> CalmGenerationOutput:
        """
        Continues a prompt K tokens per autoregressive step: the prompt (text with `tokenizer`, or `input_ids` whose
        length is padded on the left to a multiple of K) is encoded chunk by chunk, the student predicts the next
        latent, the decoder turns it into K token distributions (sampled with `temperature` — 0 is greedy — `top_k`,
        `top_p`, `seed`), and the chunk's tokens are re-encoded as the next input. A row stops at its first EOS
        (unless `stop_at_eos=False`); all stop at `max_new_tokens`.
        """
        if max_new_tokens < 0:
            raise ValueError(f"`max_new_tokens` must be >= 0, got {max_new_tokens}.")
        if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
            raise ValueError(
                f"Need temperature >= 0, 0 < top_p <= 1 and top_k >= 0; got {temperature}, {top_p}, {top_k}."
            )
        if prompt is not None:
            input_ids, attention_mask = self._prompt_ids(prompt, tokenizer)
        elif input_ids is None:
            raise ValueError("Pass a text `prompt` (with `tokenizer`) or `input_ids`.")
        else:
            rows = [
                [int(t) for t, m in zip(row, mask_row, strict=True) if m]
                for row, mask_row in zip(
                    input_ids.tolist(),
                    (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).tolist(),
                    strict=True,
                )
            ]
            input_ids, attention_mask = self._left_pad(rows)
        k, batch = self.config.patch_size, input_ids.shape[0]
        eos = self.config.eos_token_id if eos_token_id is None else eos_token_id
        eos = eos[0] if isinstance(eos, (list, tuple)) else eos
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
        chunk_mask = attention_mask.view(batch, -1, k).any(-1)
        if bool(chunk_mask.all()):
            chunk_mask = None  # no padding chunk: plain causal attention, no mask to grow
        autoencoder = self.autoencoder
        inputs, _ = autoencoder.encode(input_ids)
        all_inputs = inputs
        predicted, cache = self.predict_latents(inputs, chunk_mask, None, use_cache)
        steps = math.ceil(max_new_tokens / k)
        chunks: list[torch.Tensor] = []
        finished = torch.zeros(batch, dtype=torch.bool, device=self.device)
        ar_steps = 0
        for step in range(steps):
            logits = autoencoder.decode(predicted[:, -1:])  # (batch, K, vocab)
            tokens = sample_tokens(logits, temperature, top_k, top_p, generator)
            ar_steps += 1
            chunks.append(tokens)
            if stop_at_eos and eos is not None:
                finished |= (tokens == eos).any(-1)
                if bool(finished.all()):
                    break
            if step == steps - 1:
                break
            if chunk_mask is not None:
                chunk_mask = torch.cat((chunk_mask, torch.ones_like(chunk_mask[:, :1])), dim=1)
            next_input, _ = autoencoder.encode(tokens)
            if use_cache:
                predicted, cache = self.predict_latents(next_input, chunk_mask, cache, True)
            else:
                all_inputs = torch.cat((all_inputs, next_input), dim=1)
                predicted, _ = self.predict_latents(all_inputs, chunk_mask)
        new = torch.cat(chunks, dim=1)[:, :max_new_tokens] if chunks else input_ids[:, :0]
        lengths = []
        for row in range(batch):
            length = new.shape[1]
            if stop_at_eos and eos is not None:
                hits = (new[row] == eos).nonzero()
                if len(hits):
                    length = int(hits[0]) + 1
            new[row, length:] = self._pad_id()
            lengths.append(length)
        texts = None
        if tokenizer is not None:
            texts = [tokenizer.decode(new[row, : lengths[row]], skip_special_tokens=True) for row in range(batch)]
        return CalmGenerationOutput(sequences=new, num_new_tokens=lengths, ar_steps=ar_steps, texts=texts)
