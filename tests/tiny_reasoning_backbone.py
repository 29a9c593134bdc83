"""A tiny random Llama with a character-level tokenizer, for the latent-thought tests and the GPU script's smoke run."""

from __future__ import annotations

import json
import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

SPECIAL = {"unk_token": "<unk>", "eos_token": "</s>", "pad_token": "<pad>"}


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per printable character, so numbers, `<<48/2=24>>` and `#### 72` survive a round trip."""
    vocab: dict[str, int] = {}
    for token in [SPECIAL["pad_token"], SPECIAL["eos_token"], SPECIAL["unk_token"], *string.printable]:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL)


def tiny_llama_config(vocab_size: int = 128, hidden_size: int = 32, layers: int = 2) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
        tie_word_embeddings=True,
    )


def save_tiny_reasoner_backbone(directory: str | Path, upstream: str | None = None, **config_kwargs) -> Path:
    """Writes the tiny decoder and its tokenizer as an ordinary HF folder (with `backbone_source.json` if asked)."""
    import torch

    torch.manual_seed(0)
    directory = Path(directory)
    AutoModelForCausalLM.from_config(tiny_llama_config(**config_kwargs)).save_pretrained(directory)
    char_tokenizer().save_pretrained(directory)
    if upstream:
        (directory / "backbone_source.json").write_text(json.dumps({"upstream": upstream}))
    return directory


if __name__ == "__main__":
    import sys

    print(save_tiny_reasoner_backbone(sys.argv[1]))
