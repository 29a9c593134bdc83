"""The pair of tokenizers a latent-space model needs: one for the encoder's input, one for the decoder's output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, BatchEncoding, PreTrainedTokenizerBase, ProcessorMixin
from transformers.utils import logging

logger = logging.get_logger(__name__)

ENCODER_TOKENIZER_SUBFOLDER = "encoder_tokenizer"
DECODER_TOKENIZER_SUBFOLDER = "decoder_tokenizer"


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase, role: str) -> PreTrainedTokenizerBase:
    """Gives a tokenizer without a pad token one it already knows (EOS, SEP or UNK), as GPT-2 users usually do."""
    if tokenizer.pad_token is not None:
        return tokenizer
    for candidate in ("eos_token", "sep_token", "unk_token"):
        token = getattr(tokenizer, candidate)
        if token is not None:
            logger.info(f"The {role} tokenizer has no pad token: padding with its {candidate} {token!r}.")
            tokenizer.pad_token = token
            return tokenizer
    raise ValueError(
        f"The {role} tokenizer has no pad, EOS, SEP or UNK token to pad with: set `tokenizer.pad_token` first."
    )


class LatentSpaceProcessor(ProcessorMixin):
    """
    Holds the encoder's and the decoder's tokenizers and saves/loads them together with the model:
    `save_pretrained(dir)` writes `dir/encoder_tokenizer/`, `dir/decoder_tokenizer/` and `dir/processor_config.json`,
    and `LatentSpaceProcessor.from_pretrained(dir_or_hub_id)` reads both tokenizers back. Calling it tokenizes
    dialogues (and summaries as `labels`); `batch_decode` turns generated ids into text.

    A transformers `ProcessorMixin`: once registered with `register_for_auto_class("AutoProcessor")` (as `modeling`
    does), a saved folder also holds this file and an `auto_map`, so `AutoProcessor.from_pretrained(dir_or_hub_id,
    trust_remote_code=True)` loads it without this repository. Folders saved before that (tokenizer subfolders only)
    still load with `LatentSpaceProcessor.from_pretrained`.

    It exposes `pad_token_id` / `eos_token_id` of the decoder tokenizer, so it can be the `processing_class` of a
    `Seq2SeqTrainer`, which then saves both tokenizers into every checkpoint.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, encoder_tokenizer: PreTrainedTokenizerBase, decoder_tokenizer: PreTrainedTokenizerBase):
        # `ProcessorMixin` finds the two tokenizers by these argument names and saves each in a subfolder of its name.
        super().__init__(
            ensure_pad_token(encoder_tokenizer, "encoder"), ensure_pad_token(decoder_tokenizer, "decoder")
        )

    @classmethod
    def from_encoder_decoder_pretrained(
        cls, encoder_name_or_path: str | os.PathLike, decoder_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> LatentSpaceProcessor:
        """Loads the two backbones' own tokenizers (Hub ids or local folders)."""
        return cls(
            AutoTokenizer.from_pretrained(encoder_name_or_path, **kwargs),
            AutoTokenizer.from_pretrained(decoder_name_or_path, **kwargs),
        )

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> LatentSpaceProcessor:
        """Loads both tokenizers saved beside a latent-space checkpoint (a folder or a Hub repo)."""
        local = Path(name_or_path)
        if local.is_dir() and not (local / ENCODER_TOKENIZER_SUBFOLDER).is_dir():
            raise FileNotFoundError(
                f"{local} holds no `{ENCODER_TOKENIZER_SUBFOLDER}/` folder: it was not saved with a "
                "LatentSpaceProcessor. Save one there with `processor.save_pretrained(...)`."
            )
        return super().from_pretrained(name_or_path, **kwargs)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The decoder's tokenizer: summaries are written in its vocabulary (what `Trainer` and pipelines decode)."""
        return self.decoder_tokenizer

    # The Trainer pads generated ids with these.
    @property
    def pad_token_id(self) -> int:
        return self.decoder_tokenizer.pad_token_id

    @property
    def eos_token_id(self) -> int | None:
        return self.decoder_tokenizer.eos_token_id

    def tokenize_targets(self, summaries: list[str], max_length: int | None = None) -> list[list[int]]:
        """Summary ids without special tokens; the collator appends EOS, so `max_length` keeps one slot for it."""
        limit = None if max_length is None else max(max_length - 1, 1)
        return self.decoder_tokenizer(
            summaries, add_special_tokens=False, truncation=limit is not None, max_length=limit
        )["input_ids"]

    def __call__(
        self,
        text: str | list[str],
        text_target: str | list[str] | None = None,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        return_tensors: str | None = None,
        padding: bool | str = False,
    ) -> BatchEncoding:
        """Tokenizes dialogues for the encoder and, when given, summaries for the decoder as `labels`."""
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise ValueError("No text to tokenize: pass at least one dialogue.")
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"Empty dialogue at position(s) {empty}: every input needs some text to summarize.")
        encoding = self.encoder_tokenizer(
            texts,
            truncation=max_source_length is not None,
            max_length=max_source_length,
            padding=padding,
            return_tensors=return_tensors,
            return_token_type_ids=False,  # the model reads ids and mask only; extra keys would break `generate`
        )
        if text_target is not None:
            targets = [text_target] if isinstance(text_target, str) else list(text_target)
            if len(targets) != len(texts):
                raise ValueError(f"Got {len(texts)} dialogues but {len(targets)} summaries.")
            encoding["labels"] = self.tokenize_targets(targets, max_target_length)
        return encoding

    def batch_decode(self, token_ids: Any, skip_special_tokens: bool = True, **kwargs: Any) -> list[str]:
        return [
            text.strip()
            for text in self.decoder_tokenizer.batch_decode(
                token_ids, skip_special_tokens=skip_special_tokens, **kwargs
            )
        ]

    def decode(self, token_ids: Any, skip_special_tokens: bool = True, **kwargs: Any) -> str:
        return self.decoder_tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens, **kwargs).strip()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(encoder_tokenizer={type(self.encoder_tokenizer).__name__}, "
            f"decoder_tokenizer={type(self.decoder_tokenizer).__name__})"
        )


__all__ = ["LatentSpaceProcessor", "ensure_pad_token"]
