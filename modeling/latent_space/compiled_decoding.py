"""
A decoding loop that is not host-bound: greedy or sampled decoding over a transformers `StaticCache` in which each
step's whole work (the decoder on one token, argmax or sampling, writing the token into a preallocated output buffer,
EOS bookkeeping) is one function, compiled with `torch.compile(mode="reduce-overhead")` (CUDA graphs) on a GPU. The
host only launches the step and asks "all finished?" every `check_every` steps, so a decoding step costs one graph
launch instead of `generate`'s Python work (logits processors, stopping criteria, mask and position updates).

    from modeling.latent_space.compiled_decoding import compiled_generate

    new_tokens = compiled_generate(decoder, inputs_embeds=prefix, attention_mask=mask, max_new_tokens=64)
    sequences = compiled_generate(decoder, input_ids=ids, attention_mask=mask, max_new_tokens=64)  # prompt + new

Greedy decoding gives the same tokens as `decoder.generate(do_sample=False, ...)` with the same settings
(`max_new_tokens`, `min_new_tokens`, `eos_token_id`, `pad_token_id`); sampling supports `temperature`, `top_k` and
`top_p` (the same distribution as `generate`, not the same random draws). Any other setting that changes the output
(beams, repetition penalties, n-gram blocking, ...) raises `UnsupportedDecodingSetting` naming it: use `generate`.

The prompt is either token ids (returned with the new tokens after them, as `generate` does) or embeddings such as the
latent-space model's soft prompt (only the new tokens are returned, as `generate` does). The cache, the buffers and
the compiled step are kept per shape (batch size, cache length rounded up to `cache_granularity`) on the decoder, so
later batches of the same shape reuse the same CUDA graphs.
"""

from __future__ import annotations

import copy
import inspect
import types
from typing import Any, NamedTuple

import torch
from torch import nn
from transformers import GenerationConfig, PreTrainedModel, StaticCache

DECODING_CHOICES = ("generate", "compiled")

# Settings that change nothing here when left at transformers' defaults; any other value is refused.
_NEUTRAL_SETTINGS: dict[str, Any] = {
    "num_beams": 1,
    "num_return_sequences": 1,
    "min_length": 0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "force_words_ids": None,
    "constraints": None,
    "sequence_bias": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "exponential_decay_length_penalty": None,
    "remove_invalid_values": False,
    "guidance_scale": None,
    "watermarking_config": None,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "min_p": None,
    "top_h": None,
    "penalty_alpha": None,
    "dola_layers": None,
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
    "max_time": None,
    "stop_strings": None,
    "token_healing": None,
    "output_scores": False,
    "output_logits": False,
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict_in_generate": False,
    "prompt_lookup_num_tokens": None,
    "use_cache": True,
}


class UnsupportedDecodingSetting(ValueError):
    """A generation setting the compiled decoding loop does not implement: use `generate` for it."""


def resolve_generation_config(
    model: PreTrainedModel, generation_config: GenerationConfig | None = None, **kwargs: Any
) -> tuple[GenerationConfig, dict[str, Any]]:
    """
    The settings `model.generate(generation_config=..., **kwargs)` would use (the given config, then the model's own,
    then transformers' global defaults, then `kwargs`), and the keyword arguments that are not generation settings.
    """
    config = copy.deepcopy(generation_config if generation_config is not None else model.generation_config)
    config.update(**model.generation_config.to_dict(), defaults_only=True, allow_custom_entries=True)
    config.update(**GenerationConfig._get_default_generation_params(), defaults_only=True)
    model_kwargs = config.update(**kwargs)
    return config, model_kwargs


def check_supported(config: GenerationConfig, model_kwargs: dict[str, Any] | None = None) -> None:
    """Raises `UnsupportedDecodingSetting` naming every setting (or extra argument) the loop would not honour."""
    problems = []
    for name, neutral in _NEUTRAL_SETTINGS.items():
        value = getattr(config, name, neutral)
        if value is not None and value != neutral:
            problems.append(f"{name}={value!r}")
    for name in ("assistant_model", "streamer", "logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn"):
        if (model_kwargs or {}).get(name) is not None:
            problems.append(name)
    others = sorted(set(model_kwargs or {}) - {"use_cache"})
    problems += [name for name in others if name not in problems and (model_kwargs or {}).get(name) is not None]
    if config.max_new_tokens is None:
        problems.append("max_new_tokens unset (the loop needs it)")
    if problems:
        raise UnsupportedDecodingSetting(
            "The compiled decoding loop does greedy or sampled (temperature / top_k / top_p) decoding with "
            "max_new_tokens, min_new_tokens, eos_token_id and pad_token_id only; it cannot honour: "
            f"{', '.join(problems)}. Use generate for these (decoding='generate')."
        )


class _Sampling(NamedTuple):
    """What each step does with the logits; baked into the compiled graph (changing it compiles again)."""

    do_sample: bool
    top_k: int  # 0: off
    use_top_p: bool
    use_temperature: bool


class _Session:
    """The StaticCache and step buffers for one (batch size, cache length, dtype, device, options) shape."""

    def __init__(
        self, decoder: PreTrainedModel, batch: int, length: int, hidden: int, dtype: torch.dtype, device, n_eos: int
    ):
        self.cache = StaticCache(config=decoder.config, max_cache_len=length)
        self.compiled = None  # the compiled step, made on first use
        self.length = length
        make = dict(device=device)
        self.mask = torch.ones(batch, length, dtype=torch.long, **make)
        self.tokens = torch.zeros(batch, dtype=torch.long, **make)
        self.positions = torch.zeros(batch, dtype=torch.long, **make)
        self.unfinished = torch.ones(batch, dtype=torch.bool, **make)
        self.finished_at = torch.zeros(batch, dtype=torch.long, **make)
        self.step = torch.zeros((), dtype=torch.long, **make)
        self.out = torch.zeros(batch, length, dtype=torch.long, **make)
        self.token_shift = torch.zeros(batch, hidden, dtype=dtype, **make)
        self.logits_shift = torch.zeros(batch, hidden, dtype=dtype, **make)
        self.eos = torch.zeros(max(n_eos, 1), dtype=torch.long, **make)
        # min_new_tokens, pad, temperature, top_p, whether EOS stops a row (1) or not (0)
        self.scalars = torch.zeros(5, dtype=torch.float32, **make)
        for tensor in self.buffers():
            # Fixed addresses: CUDA graphs then update them in place instead of copying them in and out.
            torch._dynamo.mark_static_address(tensor)

    def buffers(self) -> list[torch.Tensor]:
        names = ("mask", "tokens", "positions", "unfinished", "finished_at", "step", "out", "token_shift")
        return [getattr(self, name) for name in (*names, "logits_shift", "eos", "scalars")]


def _accepts(module: nn.Module, name: str) -> bool:
    return name in inspect.signature(module.forward).parameters


def _last_logits(
    decoder: PreTrainedModel,
    inputs: dict[str, torch.Tensor],
    mask: torch.Tensor,
    positions: torch.Tensor | None,
    cache: StaticCache,
    logits_shift: torch.Tensor | None,
) -> torch.Tensor:
    """The decoder's float32 logits at the last input position, `(batch, vocab)`; `logits_shift` added before the head."""
    extra = {} if positions is None else {"position_ids": positions}
    if logits_shift is None:
        logits = decoder(
            **inputs, attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1, **extra
        ).logits
        return logits[:, -1].float()
    hidden = decoder.base_model(**inputs, attention_mask=mask, past_key_values=cache, use_cache=True, **extra)
    head = decoder.get_output_embeddings()
    return head(hidden.last_hidden_state[:, -1] + logits_shift.to(hidden.last_hidden_state.dtype)).float()


def _choose(logits: torch.Tensor, session_tensors: dict[str, torch.Tensor], sampling: _Sampling) -> torch.Tensor:
    """Next tokens from float32 logits: EOS held back before min_new_tokens, then argmax or a sample."""
    step, eos, scalars = session_tensors["step"], session_tensors["eos"], session_tensors["scalars"]
    too_early = step < scalars[0].long()
    eos_columns = logits.index_select(1, eos)
    logits = logits.index_copy(1, eos, torch.where(too_early, float("-inf"), eos_columns))
    if not sampling.do_sample:
        return logits.argmax(-1)
    if sampling.use_temperature:
        logits = logits / scalars[2]
    if sampling.top_k:
        kth = torch.topk(logits, min(sampling.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.use_top_p:
        ordered, order = torch.sort(logits, descending=False, dim=-1)
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative <= (1 - scalars[3])
        drop[:, -1] = False  # keep at least one token
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    probs = logits.softmax(-1)
    # Exponential race (Gumbel-max): argmax(p / E) with E ~ Exp(1) is a draw from p, with no host sync.
    noise = -torch.log(torch.rand_like(probs).clamp_(min=torch.finfo(probs.dtype).tiny))
    return (probs / noise).argmax(-1)


def _record(next_tokens: torch.Tensor, s: dict[str, torch.Tensor]) -> None:
    """Writes the step's tokens (pad for finished rows) into the output buffer and updates the EOS bookkeeping."""
    unfinished = s["unfinished"]
    pad = s["scalars"][1].long()
    next_tokens = torch.where(unfinished, next_tokens, pad)
    s["out"].index_copy_(1, s["step"].view(1), next_tokens[:, None])
    hit_eos = (next_tokens[:, None] == s["eos"][None, :]).any(-1) & (s["scalars"][4] > 0)
    s["finished_at"].copy_(torch.where(unfinished & hit_eos, s["step"] + 1, s["finished_at"]))
    unfinished.copy_(unfinished & ~hit_eos)
    s["tokens"].copy_(next_tokens)
    s["step"].add_(1)


def _decode_step(
    decoder: PreTrainedModel,
    cache: StaticCache,
    s: dict[str, torch.Tensor],
    sampling: _Sampling,
    use_token_shift: bool,
    use_logits_shift: bool,
    use_positions: bool,
) -> None:
    """One decoding step, all on the device: embed the last tokens, run the decoder, choose, record."""
    embeds = decoder.get_input_embeddings()(s["tokens"][:, None])
    if use_token_shift:
        embeds = embeds + s["token_shift"][:, None].to(embeds.dtype)
    positions = s["positions"][:, None] if use_positions else None
    logits = _last_logits(
        decoder,
        {"inputs_embeds": embeds},
        s["mask"],
        positions,
        cache,
        s["logits_shift"] if use_logits_shift else None,
    )
    _record(_choose(logits, s, sampling), s)
    s["positions"].add_(1)


class CompiledDecoder:
    """
    The compiled decoding loop for one causal LM (see the module's docstring); get it with `compiled_decoder(model)`.

    Args:
        decoder: a transformers causal LM whose layers support `StaticCache`.
        compile: compile the step with `torch.compile` (default: on CUDA only; on a CPU the loop runs eagerly).
        compile_options: `torch.compile` keyword arguments over the default `mode="reduce-overhead"` (the step in a
            CUDA graph) and `dynamic=False` (one graph per shape), e.g. `{"backend": "eager", "fullgraph": True}`.
        check_every: steps between the host's "all finished?" checks (each one waits for the device).
        cache_granularity: the cache length (prompt + new tokens) is rounded up to a multiple of this, so prompts of
            nearby lengths share one compiled graph.
        step_attention: the attention implementation of the decoding steps only (the prefill keeps the decoder's
            own), e.g. `"eager"`: for a one-token query PyTorch's SDPA picks cuDNN's flash kernel, which took 62 % of
            a SmolLM2 step at batch 256 on an H200 (BENCHMARKS section 5), while eager attention's matmuls and
            softmax compile into the step's own fused kernels. None (default): the decoder's.
    """

    def __init__(
        self,
        decoder: PreTrainedModel,
        compile: bool | None = None,
        compile_options: dict[str, Any] | None = None,
        check_every: int = 16,
        cache_granularity: int = 64,
        step_attention: str | None = None,
    ):
        if check_every < 1 or cache_granularity < 1:
            raise ValueError("check_every and cache_granularity must be at least 1.")
        if step_attention is not None and step_attention not in ("eager", "sdpa"):
            raise ValueError(f"step_attention must be None, 'eager' or 'sdpa', got {step_attention!r}.")
        self.step_attention = step_attention
        self.decoder = decoder
        self.compile = compile
        self.compile_options = {"mode": "reduce-overhead", "dynamic": False, **(compile_options or {})}
        self.check_every = check_every
        self.cache_granularity = cache_granularity
        self._sessions: dict[tuple, _Session] = {}
        self._positions = _accepts(decoder, "position_ids")

    def clear(self) -> None:
        """Frees the caches, buffers and compiled graphs of every shape seen so far."""
        self._sessions.clear()

    def __deepcopy__(self, memo: dict) -> None:
        return None  # caches and compiled graphs belong to this decoder; a copy builds its own

    def __reduce__(self):
        return (type(None), ())

    def _step_function(self, session: _Session, device: torch.device):
        use_compile = self.compile if self.compile is not None else device.type == "cuda"
        if not use_compile:
            return _decode_step
        if session.compiled is None:
            # A copy of the step's code object per session: dynamo keeps its graphs per code object, so each
            # session has its own (one per sampling mode) instead of all sharing dynamo's limit of 8.
            code = _decode_step.__code__.replace(co_name=f"_decode_step_{len(self._sessions)}")
            step = types.FunctionType(code, _decode_step.__globals__, code.co_name)
            session.compiled = torch.compile(step, **self.compile_options)
        return session.compiled

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        generation_config: GenerationConfig | None = None,
        token_shift: torch.Tensor | None = None,
        logits_shift: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.LongTensor:
        """
        Decodes from a prompt of token ids or of embeddings (one of the two), with `generate`'s settings.

        `token_shift` / `logits_shift` (`(batch, hidden)`) are added to the embedding of each written token and to
        the hidden state the LM head reads (the latent-space model's idea routes). Returns `(batch, new)` new tokens
        for an embedding prompt, `(batch, prompt + new)` for token ids, as `generate` does.
        """
        decoder = self.decoder
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of `input_ids` and `inputs_embeds`.")
        config, model_kwargs = resolve_generation_config(decoder, generation_config, **kwargs)
        check_supported(config, model_kwargs)
        prompt = input_ids if input_ids is not None else inputs_embeds
        batch, prompt_len = prompt.shape[:2]
        device = prompt.device
        if attention_mask is None:
            attention_mask = torch.ones(batch, prompt_len, dtype=torch.long, device=device)
        eos = config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        pad = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
        new_tokens = int(config.max_new_tokens)
        sampling = _Sampling(
            do_sample=bool(config.do_sample),
            top_k=int(config.top_k or 0) if config.do_sample else 0,
            use_top_p=bool(config.do_sample and config.top_p is not None and config.top_p < 1.0),
            use_temperature=bool(config.do_sample and config.temperature not in (None, 1.0)),
        )
        if sampling.use_temperature and not config.temperature > 0:
            raise UnsupportedDecodingSetting(f"temperature must be > 0 to sample, got {config.temperature}.")

        granularity = self.cache_granularity
        length = -(-(prompt_len + new_tokens) // granularity) * granularity
        embedding = decoder.get_input_embeddings()
        dtype = embedding.weight.dtype
        key = (batch, length, dtype, str(device), len(eos))
        session = self._sessions.get(key)
        if session is None:
            hidden = embedding.weight.shape[1]
            session = self._sessions[key] = _Session(decoder, batch, length, hidden, dtype, device, len(eos))
        session.cache.reset()
        s = {name: getattr(session, name) for name in ("mask", "tokens", "positions", "unfinished", "finished_at")}
        s.update({name: getattr(session, name) for name in ("step", "out", "token_shift", "logits_shift")})
        s.update(eos=session.eos, scalars=session.scalars)
        s["mask"].fill_(1)
        s["mask"][:, :prompt_len].copy_(attention_mask)
        s["unfinished"].fill_(True)
        s["finished_at"].zero_()
        s["step"].zero_()
        if eos:
            s["eos"].copy_(torch.tensor(eos, device=device))
        temperature = config.temperature if sampling.use_temperature else 1.0
        top_p = config.top_p if sampling.use_top_p else 1.0
        min_new = (config.min_new_tokens or 0) if eos else 0
        s["scalars"].copy_(torch.tensor([min_new, pad, temperature, top_p, float(bool(eos))], dtype=torch.float32))
        if token_shift is not None:
            s["token_shift"].copy_(token_shift)
        if logits_shift is not None:
            s["logits_shift"].copy_(logits_shift)

        # Prefill (eager, any prompt length): the whole prompt into the cache, and the first new token.
        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 0)
        if input_ids is not None and token_shift is None:
            inputs = {"input_ids": input_ids}
        else:
            embeds = inputs_embeds if inputs_embeds is not None else embedding(input_ids)
            if input_ids is not None:
                embeds = embeds + token_shift[:, None].to(embeds.dtype)
            inputs = {"inputs_embeds": embeds}
        logits = _last_logits(
            decoder, inputs, s["mask"], positions if self._positions else None, session.cache, logits_shift
        )
        _record(_choose(logits, s, sampling), s)
        s["positions"].copy_(positions[:, -1] + 1)

        step = self._step_function(session, device)
        done = 1
        own_attention = decoder.config._attn_implementation
        if self.step_attention is not None:
            decoder.config._attn_implementation = self.step_attention
        try:
            while done < new_tokens:
                if done % self.check_every == 0 and not bool(s["unfinished"].any()):
                    break
                step(
                    decoder,
                    session.cache,
                    s,
                    sampling,
                    token_shift is not None,
                    logits_shift is not None,
                    self._positions,
                )
                done += 1
        finally:
            decoder.config._attn_implementation = own_attention
        # As generate: stop at the step where the last row finished.
        written = int(torch.where(s["unfinished"], done, s["finished_at"]).max())
        new = s["out"][:, :written].clone()
        return new if input_ids is None else torch.cat([input_ids, new], dim=1)


def compiled_decoder(decoder: PreTrainedModel, **options: Any) -> CompiledDecoder:
    """The decoder's `CompiledDecoder`, made on first use and kept on it (so its caches and graphs are reused)."""
    existing = decoder.__dict__.get("_compiled_decoder")
    if existing is None or existing.decoder is not decoder or options:
        existing = CompiledDecoder(decoder, **options)
        decoder.__dict__["_compiled_decoder"] = existing
    return existing


def compiled_generate(decoder: PreTrainedModel, **kwargs: Any) -> torch.LongTensor:
    """`decoder.generate(...)`'s greedy / sampled output from the compiled loop: see `CompiledDecoder.generate`."""
    return compiled_decoder(decoder).generate(**kwargs)


__all__ = [
    "DECODING_CHOICES",
    "CompiledDecoder",
    "UnsupportedDecodingSetting",
    "check_supported",
    "compiled_decoder",
    "compiled_generate",
    "resolve_generation_config",
]
