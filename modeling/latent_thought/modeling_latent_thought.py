"""A causal LM that learns to run its reasoning steps in hidden states instead of written tokens.

Data flows through this file top to bottom:

    question <bot> steps <eot> answer   (token ids, with each step's tokens numbered in `step_ids`)
      -> the Coconut stage, when that schedule runs: the first k steps become k*c <latent> thoughts
      -> input embeddings; at written reasoning positions mixed with the previous position's hidden state
         (RMS-normalised, rescaled to the embedding scale), when the mixing schedule runs
      -> the wrapped causal LM; a thought's input is the hidden state before it, so thoughts run one pass each
      -> cross-entropy on reasoning and answer tokens + latent MSE / cosine between hidden states and next embeddings

The decoder is an ordinary `AutoModelForCausalLM`; the model adds no parameters besides the new tokens' embeddings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, GenerationConfig, PreTrainedModel
from transformers.generation import GenerationMixin
from transformers.modeling_outputs import ModelOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
from transformers.utils import logging

from .configuration_latent_thought import BOT_TOKEN, EOT_TOKEN, LATENT_TOKEN, LatentThoughtConfig

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100


@dataclass
class LatentThoughtCausalLMOutput(ModelOutput):
    """
    Output of [`LatentThoughtForCausalLM.forward`].

    Args:
        loss (`torch.FloatTensor`, *optional*, returned with `labels`):
            `ce_loss_weight * ce_loss + mse_loss_weight * mse_loss + cosine_loss_weight * cosine_loss`.
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`):
            Next-token scores at every position of the sequence the decoder read.
        ce_loss, mse_loss, cosine_loss (`torch.FloatTensor`, *optional*, returned with `labels`):
            The loss terms before weighting (MSE and cosine are 0 when no written reasoning token is a target).
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, sequence_length, hidden_size)`):
            The decoder's last hidden states, the ones fed back as thoughts.
        inputs_embeds (`torch.FloatTensor` of shape `(batch_size, sequence_length, hidden_size)`):
            What the decoder read: token embeddings, mixed ones at written reasoning positions, thoughts at `<latent>`.
        input_ids, attention_mask, labels (`torch.LongTensor`):
            The sequence after the Coconut stage was applied (the same as given otherwise).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    ce_loss: torch.FloatTensor | None = None
    mse_loss: torch.FloatTensor | None = None
    cosine_loss: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    inputs_embeds: torch.FloatTensor | None = None
    input_ids: torch.LongTensor | None = None
    attention_mask: torch.LongTensor | None = None
    labels: torch.LongTensor | None = None


@dataclass
class LatentThoughtGenerateOutput(ModelOutput):
    """
    Output of [`LatentThoughtForCausalLM.generate`] with `return_dict_in_generate=True`.

    Args:
        sequences (`torch.LongTensor` of shape `(batch_size, new_tokens)`):
            The tokens written after the prompt (and after the latent reasoning, when there is some).
        latent_steps (`torch.LongTensor` of shape `(batch_size,)`):
            Reasoning positions run in hidden-state space: continuous thoughts, or mixed positions.
        reasoning_ids (`torch.LongTensor` of shape `(batch_size, steps)`, *optional*):
            With mixing, the token read at each mixed position (the model's own argmax; padding once it stopped).
    """

    sequences: torch.LongTensor | None = None
    latent_steps: torch.LongTensor | None = None
    reasoning_ids: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Masks: which positions are prompt, written reasoning and continuous thoughts
# ----------------------------------------------------------------------------------------------------------------------


def reasoning_masks(
    input_ids: torch.LongTensor, config: LatentThoughtConfig, attention_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    `(written, thoughts)`: boolean masks of the written reasoning tokens and of the `<latent>` thoughts, the positions
    strictly between the first `<bot>` and the next `<eot>` (to the end when no `<eot>` came yet). The prompt (up to
    `<bot>`) and the answer (from `<eot>`) are in neither, so they are never mixed and never predicted as latents.
    """
    if config.bot_token_id is None or config.eot_token_id is None:
        empty = torch.zeros_like(input_ids, dtype=torch.bool)
        return empty, empty
    is_bot = input_ids == config.bot_token_id
    after_bot = (is_bot.cumsum(-1) - is_bot.long()) > 0
    before_eot = (input_ids == config.eot_token_id).cumsum(-1) == 0
    inside = after_bot & before_eot
    if attention_mask is not None:
        inside &= attention_mask.bool()
    thoughts = inside & (input_ids == config.latent_token_id) if config.latent_token_id is not None else inside & False
    return inside & ~thoughts, thoughts


def positions_from_mask(attention_mask: torch.Tensor) -> torch.LongTensor:
    """Position ids that skip padding (left, right or in between), as `generate` computes them."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def apply_coconut_stage(
    input_ids: torch.LongTensor,
    attention_mask: torch.LongTensor,
    labels: torch.LongTensor | None,
    step_ids: torch.LongTensor,
    config: LatentThoughtConfig,
    stage: int,
) -> tuple[torch.LongTensor, torch.LongTensor, torch.LongTensor | None]:
    """
    Coconut's curriculum on a batch of `question <bot> steps <eot> answer` rows: the first `k` steps (all of them
    after `max_latent_stage`) are dropped and `question <bot> <latent>*n <eot> remaining steps answer` is built, with
    `n = c * min(k, max_latent_stage)`. Rows are padded so that `<bot>` falls in the same column everywhere: thought
    `i` of every row is then one column, and one decoder pass per thought serves the whole batch. The padding goes
    between the question and `<bot>` (and after the answer), never before the question: a padded position then still
    attends to the question before it, whereas leading padding leaves query rows with nothing to attend to, whose
    attention backward can give NaN gradients in half-precision GPU kernels.
    """
    replaced = config.steps_replaced(stage)
    thoughts = config.num_thoughts(stage)
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    rows = []
    for row in range(input_ids.shape[0]):
        keep = attention_mask[row].bool()
        ids, steps = input_ids[row][keep].tolist(), step_ids[row][keep].tolist()
        targets = labels[row][keep].tolist() if labels is not None else [IGNORE_INDEX] * len(ids)
        if config.bot_token_id not in ids:
            raise ValueError("A row has no <bot> token: Coconut stages need `question <bot> steps <eot> answer` rows.")
        bot = ids.index(config.bot_token_id)
        head_ids, head_targets = ids[: bot + 1], targets[: bot + 1]
        tail = [
            (token, target)
            for token, target, step in zip(ids[bot + 1 :], targets[bot + 1 :], steps[bot + 1 :], strict=True)
            if token != config.eot_token_id and not (step > 0 and (replaced is None or step <= replaced))
        ]
        eot_target = config.eot_token_id if labels is not None else IGNORE_INDEX
        new_ids = head_ids + [config.latent_token_id] * thoughts + [config.eot_token_id] + [t for t, _ in tail]
        new_targets = head_targets + [IGNORE_INDEX] * thoughts + [eot_target] + [g for _, g in tail]
        rows.append((bot, new_ids, new_targets))
    bot_column = max(bot for bot, _, _ in rows)
    length = max(bot_column - bot + len(ids) for bot, ids, _ in rows)
    out_ids = input_ids.new_full((len(rows), length), pad)
    out_mask = attention_mask.new_zeros((len(rows), length))
    out_labels = input_ids.new_full((len(rows), length), IGNORE_INDEX)
    for row, (bot, ids, targets) in enumerate(rows):
        ids, targets = torch.tensor(ids, dtype=input_ids.dtype), torch.tensor(targets, dtype=input_ids.dtype)
        end = bot_column + len(ids) - bot
        out_ids[row, :bot], out_ids[row, bot_column:end] = ids[:bot], ids[bot:]
        out_mask[row, :bot], out_mask[row, bot_column:end] = 1, 1
        out_labels[row, :bot], out_labels[row, bot_column:end] = targets[:bot], targets[bot:]
    return out_ids, out_mask, (out_labels if labels is not None else None)


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------


class LatentThoughtPreTrainedModel(PreTrainedModel):
    config_class = LatentThoughtConfig
    config: LatentThoughtConfig
    base_model_prefix = "latent_thought"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True


class LatentThoughtForCausalLM(LatentThoughtPreTrainedModel, GenerationMixin):
    """
    Any causal LM, taught to reason in hidden states: embedding mixing (the seed) or Coconut's continuous thoughts,
    each a schedule over training set in the config. Build it with
    [`~LatentThoughtForCausalLM.from_decoder_pretrained`], which also adds `<bot>`, `<eot>` and `<latent>` to the
    tokenizer.
    """

    def __init__(self, config: LatentThoughtConfig, decoder: PreTrainedModel | None = None):
        if type(config.decoder) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise ValueError(
                f"The decoder must be a causal LM (AutoModelForCausalLM, e.g. Llama or GPT-2), got "
                f"{type(config.decoder).__name__}."
            )
        super().__init__(config)
        self.decoder = decoder if decoder is not None else AutoModelForCausalLM.from_config(config.decoder)
        self.config.decoder._attn_implementation = self.decoder.config._attn_implementation
        self.decoder.config = self.config.decoder
        self.post_init()
        self._add_lora_adapters()
        self.generation_config = self._default_generation_config()

    # -- set-up --------------------------------------------------------------------------------------------------------

    def _add_lora_adapters(self) -> None:
        """LoRA injected in place (no wrapper), so parameter names and checkpoints stay the model's own."""
        if self.config.decoder_lora is None:
            return
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError as error:
            raise ImportError("`decoder_lora` is set, which needs peft: pip install peft") from error
        inject_adapter_in_model(LoraConfig(**self.config.decoder_lora), self.decoder)
        self._freeze_all_but_lora()

    def _freeze_all_but_lora(self) -> None:
        names = [name for name, _ in self.decoder.named_parameters() if "lora_" in name]
        if not names:
            raise ValueError("`decoder_lora` matched no module of the decoder: check `target_modules`.")
        for name, param in self.decoder.named_parameters():
            param.requires_grad_("lora_" in name and param.is_floating_point())
            # Trainable adapters in float32, as peft keeps them: fp16 mixed precision cannot train fp16 weights.
            if param.requires_grad and param.dtype in (torch.float16, torch.bfloat16):
                param.data = param.data.float()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """Loads a checkpoint; with LoRA, only the adapters stay trainable (loading makes fresh parameters)."""
        model = super().from_pretrained(*args, **kwargs)
        loaded = model[0] if isinstance(model, tuple) else model
        if loaded.config.decoder_lora is not None:
            loaded._freeze_all_but_lora()
        return model

    def _default_generation_config(self) -> GenerationConfig:
        generation_config = GenerationConfig(
            bos_token_id=self.config.bos_token_id,
            eos_token_id=self.config.eos_token_id,
            pad_token_id=self.config.pad_token_id,
            max_new_tokens=64,
            do_sample=False,
        )
        return generation_config

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.decoder.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.decoder.get_output_embeddings()

    # -- hidden states as inputs ---------------------------------------------------------------------------------------

    def embedding_scale(self) -> torch.Tensor:
        """RMS of the token embeddings, the size a hidden state is brought to before it is read as an input."""
        weight = self.get_input_embeddings().weight.detach()
        return weight.float().pow(2).mean().sqrt()

    def to_embedding_space(self, hidden: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """A last hidden state as an input: RMS-normalised and rescaled to the embedding scale (or as is, if off)."""
        if not self.config.latent_norm_matching:
            return hidden
        scale = self.embedding_scale() if scale is None else scale
        hidden_float = hidden.float()
        normed = hidden_float * torch.rsqrt(hidden_float.pow(2).mean(-1, keepdim=True) + 1e-6)
        return (normed * scale).to(hidden.dtype)

    def _run_decoder(self, inputs_embeds, attention_mask, position_ids, past_key_values=None):
        output = self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=past_key_values is not None,
            output_hidden_states=True,
        )
        return output.logits, output.hidden_states[-1]

    def mix_embeddings(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor,
        ratio: float,
        token_embeddings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        The seed's embedding mixing with teacher forcing: a first pass over the written tokens gives each position's
        last hidden state; at written reasoning positions the input becomes `(1 - ratio) * token embedding + ratio *
        norm(hidden state of the position before)`. The first pass carries no gradient (the latent loss aligns the
        two spaces instead), so training costs one forward more, not one backward more.
        """
        embeds = self.get_input_embeddings()(input_ids) if token_embeddings is None else token_embeddings
        written, _ = reasoning_masks(input_ids, self.config, attention_mask)
        if ratio == 0.0 or not written.any():
            return embeds
        with torch.no_grad():
            _, hidden = self._run_decoder(embeds, attention_mask, positions_from_mask(attention_mask))
        previous = torch.cat([hidden.new_zeros(hidden[:, :1].shape), hidden[:, :-1]], dim=1)
        latent = self.to_embedding_space(previous).to(embeds.dtype)
        mixed = (1.0 - ratio) * embeds + ratio * latent
        return torch.where(written.unsqueeze(-1), mixed, embeds)

    # -- forward -------------------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        step_ids: torch.LongTensor | None = None,
        mixing_ratio: float | None = None,
        latent_stage: int | None = None,
        **kwargs,
    ) -> LatentThoughtCausalLMOutput:
        """
        One training or scoring pass. `labels` are the input ids with -100 where nothing is predicted (the prompt,
        padding); thoughts are never targets. `step_ids` numbers each written step's tokens (1, 2, ...; 0 elsewhere):
        with the Coconut schedule they let the current stage replace steps by thoughts. `mixing_ratio` and
        `latent_stage` default to the config's current values, which the schedule callback moves.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        ratio = self.config.mixing_ratio if mixing_ratio is None else mixing_ratio
        stage = self.config.latent_stage if latent_stage is None else latent_stage
        if self.config.schedule == "coconut" and step_ids is not None:
            input_ids, attention_mask, labels = apply_coconut_stage(
                input_ids, attention_mask, labels, step_ids, self.config, stage
            )

        written, thoughts = reasoning_masks(input_ids, self.config, attention_mask)
        token_embeddings = self.get_input_embeddings()(input_ids)
        inputs_embeds = self.mix_embeddings(input_ids, attention_mask, ratio, token_embeddings)
        position_ids = positions_from_mask(attention_mask)
        if thoughts.any():
            logits, hidden, inputs_embeds = self._forward_with_thoughts(
                inputs_embeds, attention_mask, position_ids, thoughts
            )
        else:
            logits, hidden = self._run_decoder(inputs_embeds, attention_mask, position_ids)

        output = LatentThoughtCausalLMOutput(
            logits=logits,
            last_hidden_state=hidden,
            inputs_embeds=inputs_embeds,
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
        )
        if labels is not None:
            labels = labels.masked_fill(thoughts | (attention_mask == 0), IGNORE_INDEX)
            output.ce_loss = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE_INDEX
            )
            output.mse_loss, output.cosine_loss = self.latent_losses(hidden, token_embeddings, written)
            config = self.config
            output.loss = config.ce_loss_weight * output.ce_loss
            if config.mse_loss_weight:
                output.loss = output.loss + config.mse_loss_weight * output.mse_loss
            if config.cosine_loss_weight:
                output.loss = output.loss + config.cosine_loss_weight * output.cosine_loss
        return output

    def latent_losses(
        self, hidden: torch.Tensor, token_embeddings: torch.Tensor, written: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        MSE and `1 - cosine` between each hidden state as it would be fed back and the embedding of the written
        reasoning token that follows it (the target is detached: the hidden states move, the vocabulary does not).
        MSE is measured in units of the embedding RMS, so its weight means the same for every backbone.
        """
        targets_mask = written[:, 1:]
        if not targets_mask.any():
            zero = hidden.new_zeros((), dtype=torch.float32)
            return zero, zero
        scale = self.embedding_scale()
        predicted = self.to_embedding_space(hidden[:, :-1][targets_mask], scale).float()
        target = token_embeddings[:, 1:][targets_mask].detach().float()
        mse = ((predicted - target) / scale).pow(2).mean()
        cosine = 1.0 - F.cosine_similarity(predicted, target, dim=-1).mean()
        return mse, cosine

    def _forward_with_thoughts(self, inputs_embeds, attention_mask, position_ids, thoughts):
        """
        Continuous thoughts: thought `i` reads the last hidden state of the position before it, so the sequence runs
        in pieces through a KV cache (up to the first thought, each thought, then the rest), and gradients flow back
        through every thought as in Coconut. Thought columns are shared by the batch (see `apply_coconut_stage`).
        """
        columns = thoughts.any(0).nonzero().flatten().tolist()
        if any(not bool(thoughts[attention_mask[:, c].bool(), c].all()) for c in columns):
            raise ValueError(
                "Thoughts must sit in the same columns in every row: build rows with apply_coconut_stage."
            )
        cache = DynamicCache(config=self.config.decoder)
        scale = self.embedding_scale()
        pieces_logits, pieces_hidden, pieces_embeds = [], [], []
        start = 0
        embeds = inputs_embeds
        for column in columns:
            if column > start:
                logits, hidden = self._run_decoder(
                    embeds[:, start:column], attention_mask[:, :column], position_ids[:, start:column], cache
                )
                (
                    pieces_logits.append(logits),
                    pieces_hidden.append(hidden),
                    pieces_embeds.append(embeds[:, start:column]),
                )
                start = column
            thought = self.to_embedding_space(pieces_hidden[-1][:, -1:], scale).to(embeds.dtype)
            logits, hidden = self._run_decoder(
                thought, attention_mask[:, : column + 1], position_ids[:, column : column + 1], cache
            )
            pieces_logits.append(logits), pieces_hidden.append(hidden), pieces_embeds.append(thought)
            start = column + 1
        if start < embeds.shape[1]:
            logits, hidden = self._run_decoder(embeds[:, start:], attention_mask, position_ids[:, start:], cache)
            pieces_logits.append(logits), pieces_hidden.append(hidden), pieces_embeds.append(embeds[:, start:])
        return torch.cat(pieces_logits, 1), torch.cat(pieces_hidden, 1), torch.cat(pieces_embeds, 1)

    # -- generation ----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor | None = None,
        generation_config: GenerationConfig | None = None,
        num_thoughts: int | None = None,
        mixing_ratio: float | None = None,
        return_dict_in_generate: bool = False,
        **kwargs,
    ) -> torch.LongTensor | LatentThoughtGenerateOutput:
        """
        Reads the question (left-padded `input_ids`; `<bot>` is appended when the model reasons), runs the latent
        reasoning, then writes the answer with the decoder's own `generate` from the KV cache (greedy, beams,
        sampling and every `GenerationConfig` setting; `max_new_tokens` counts answer tokens).

        Latent reasoning follows the config's current schedule: Coconut runs `num_thoughts` continuous thoughts (the
        trained stage's count by default) then reads `<eot>`; mixing runs mixed positions until the model predicts
        `<eot>` (or `max_reasoning_steps`); with neither, the model writes its reasoning as text. Returns the new
        tokens, or a [`LatentThoughtGenerateOutput`] with the latent step counts when `return_dict_in_generate`.
        """
        for training_only in ("labels", "step_ids"):
            kwargs.pop(training_only, None)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if bool((attention_mask[:, -1] == 0).any()):
            raise ValueError("Pad prompts on the left for generation (tokenizer.padding_side = 'left').")
        generation_config = copy.deepcopy(
            generation_config if generation_config is not None else self.generation_config
        )
        model_kwargs = generation_config.update(**kwargs)
        if generation_config.max_new_tokens is not None:
            generation_config.max_length = None
        config = self.config
        thoughts = config.num_thoughts() if num_thoughts is None else num_thoughts
        ratio = config.mixing_ratio if mixing_ratio is None else mixing_ratio
        batch = input_ids.shape[0]
        latent_steps = input_ids.new_zeros(batch)
        reasoning_ids = None

        if config.use_reasoning and not bool((input_ids[:, -1] == config.bot_token_id).all()):
            input_ids = torch.cat([input_ids, input_ids.new_full((batch, 1), config.bot_token_id)], 1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((batch, 1))], 1)
        if not config.use_reasoning or (thoughts == 0 and ratio == 0.0 and config.schedule != "coconut"):
            prompt_length = input_ids.shape[1]
            sequences = self.decoder.generate(
                input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config, **model_kwargs
            )[:, prompt_length:]
        else:
            cache = DynamicCache(config=config.decoder)
            scale = self.embedding_scale()
            embed = self.get_input_embeddings()
            logits, hidden = self._run_decoder(
                embed(input_ids), attention_mask, positions_from_mask(attention_mask), cache
            )
            ids, mask = [input_ids], [attention_mask]
            if thoughts > 0 or config.schedule == "coconut":
                for _ in range(thoughts):
                    mask.append(attention_mask.new_ones((batch, 1)))
                    ids.append(input_ids.new_full((batch, 1), config.latent_token_id))
                    logits, hidden = self._step(self.to_embedding_space(hidden[:, -1:], scale), mask, cache)
                latent_steps += thoughts
            else:
                stopped = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
                reasoning = []
                for _ in range(config.max_reasoning_steps):
                    token = logits[:, -1].argmax(-1)
                    stopped |= (token == config.eot_token_id) | (token == config.eos_token_id)
                    if bool(stopped.all()):
                        break
                    active = ~stopped
                    token = token.masked_fill(stopped, config.pad_token_id)
                    mixed = (1.0 - ratio) * embed(token)[:, None] + ratio * self.to_embedding_space(
                        hidden[:, -1:], scale
                    ).to(embed.weight.dtype)
                    mask.append(active.long()[:, None].to(attention_mask.dtype))
                    ids.append(token[:, None])
                    reasoning.append(token[:, None])
                    latent_steps += active.long()
                    logits, hidden = self._step(mixed, mask, cache)
                reasoning_ids = torch.cat(reasoning, 1) if reasoning else input_ids.new_zeros((batch, 0))
            ids.append(input_ids.new_full((batch, 1), config.eot_token_id))
            mask.append(attention_mask.new_ones((batch, 1)))
            full_ids, full_mask = torch.cat(ids, 1), torch.cat(mask, 1)
            sequences = self.decoder.generate(
                input_ids=full_ids,
                attention_mask=full_mask,
                past_key_values=cache,
                generation_config=generation_config,
                **model_kwargs,
            )[:, full_ids.shape[1] :]
        if return_dict_in_generate:
            return LatentThoughtGenerateOutput(
                sequences=sequences, latent_steps=latent_steps, reasoning_ids=reasoning_ids
            )
        return sequences

    def _step(self, inputs_embeds, mask_pieces, cache):
        """One more position through the cache; the mask covers everything read so far."""
        attention_mask = torch.cat(mask_pieces, 1)
        position = positions_from_mask(attention_mask)[:, -1:]
        return self._run_decoder(inputs_embeds, attention_mask, position, cache)

    # -- construction from a pretrained decoder ------------------------------------------------------------------------

    @classmethod
    def from_decoder_pretrained(cls, decoder_name_or_path: str, tokenizer=None, **kwargs):
        """
        Wraps a pretrained causal LM (Hub id or folder) and returns `(model, tokenizer)`: `<bot>`, `<eot>` and
        `<latent>` are added to the tokenizer (loaded from the same place unless given) as special tokens, the
        embeddings are resized to hold them, and their ids go into the config. Keyword arguments that are
        [`LatentThoughtConfig`] fields set the config; the others (`dtype`, `attn_implementation`, `revision`, ...)
        go to the decoder's `from_pretrained`.
        """
        config_fields = set(LatentThoughtConfig.__dataclass_fields__) - {"decoder"}
        config_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in config_fields}
        try:
            decoder = AutoModelForCausalLM.from_pretrained(decoder_name_or_path, **kwargs)
        except ValueError as error:
            if "Unrecognized configuration class" not in str(error):
                raise
            raise ValueError(
                f"The decoder must be a causal LM that AutoModelForCausalLM can load (e.g. Llama, GPT-2); "
                f"{decoder_name_or_path} is not: {error}"
            ) from error
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(decoder_name_or_path)
        tokenizer.add_special_tokens({"additional_special_tokens": [BOT_TOKEN, EOT_TOKEN, LATENT_TOKEN]})
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if len(tokenizer) > decoder.get_input_embeddings().weight.shape[0]:
            decoder.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64, mean_resizing=True)
        config = LatentThoughtConfig(
            decoder=decoder.config,
            decoder_name_or_path=str(decoder_name_or_path),
            bot_token_id=tokenizer.convert_tokens_to_ids(BOT_TOKEN),
            eot_token_id=tokenizer.convert_tokens_to_ids(EOT_TOKEN),
            latent_token_id=tokenizer.convert_tokens_to_ids(LATENT_TOKEN),
            pad_token_id=tokenizer.pad_token_id,
            **config_kwargs,
        )
        return cls(config, decoder=decoder), tokenizer


__all__ = [
    "LatentThoughtCausalLMOutput",
    "LatentThoughtForCausalLM",
    "LatentThoughtGenerateOutput",
    "LatentThoughtPreTrainedModel",
    "apply_coconut_stage",
    "positions_from_mask",
    "reasoning_masks",
]
