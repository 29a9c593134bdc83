"""Tiny random backbones and locally built tokenizers, so tests run offline and fast on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    BertConfig,
    GPT2Config,
    LlamaConfig,
    ModernBertConfig,
    PreTrainedTokenizerFast,
)

from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration, LatentSpaceProcessor

WORDS = (
    "hi hello hey yes no ok okay sure thanks see you tomorrow today tonight at the a an to for and or but is are was "
    "will can meet meeting lunch dinner coffee cinema park office home school party call send bring buy book "
    "i we they he she it my your our what when where why how time noon five six seven eight nine ten pm am "
    "anna tom kate john mia leo sam eva max zoe wants asks says tells agrees decides forgot late early plan plans "
    "? ! . , :"
).split()

PAIRS = [
    (
        "anna : hi tom ! lunch at noon ?\ntom : sure , see you at the park .",
        "anna and tom will meet for lunch at noon .",
    ),
    ("kate : can you buy coffee ?\njohn : okay , i will buy coffee tonight .", "john will buy coffee tonight ."),
    ("mia : party at my home at eight ?\nleo : yes ! i will bring cake", "leo will come to mia 's party at eight ."),
    ("sam : i forgot the book .\neva : no , send it tomorrow .", "sam will send the book tomorrow ."),
    ("max : dinner at seven ?\nzoe : no , at nine pm .", "max and zoe will have dinner at nine pm ."),
    ("tom : call me when you are home .\nanna : ok , at ten .", "anna will call tom at ten ."),
]


def _word_level_tokenizer(special: dict[str, str], corpus_words: tuple[str, ...]) -> Tokenizer:
    vocab: dict[str, int] = {}
    for token in [*special.values(), *corpus_words, "'s", "cake", "come", "have", "me", "with", "\n"]:
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=special["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer


def encoder_tokenizer() -> PreTrainedTokenizerFast:
    """A BERT-like tokenizer: [CLS] text [SEP], with a pad token."""
    special = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    backend = _word_level_tokenizer(special, WORDS)
    from tokenizers import processors

    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, backend.token_to_id(t)) for t in ("[CLS]", "[SEP]")]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special)


def decoder_tokenizer() -> PreTrainedTokenizerFast:
    """A GPT-2-like tokenizer: one <|endoftext|> token for BOS and EOS, and no pad token."""
    special = {"unk_token": "<unk>", "eos_token": "<|endoftext|>"}
    backend = _word_level_tokenizer(special, WORDS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    tokenizer.bos_token = "<|endoftext|>"
    return tokenizer


def tiny_encoder_config(kind: str = "bert", vocab_size: int = 256):
    if kind == "llama":  # a causal LM's base model as encoder (the decoder's own model, as the offline recipes use)
        return tiny_decoder_config("llama", vocab_size)
    if kind == "modernbert":
        return ModernBertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            cls_token_id=2,
            sep_token_id=3,
            global_attn_every_n_layers=2,
            local_attention=16,
        )
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
    )


def tiny_decoder_config(kind: str = "gpt2", vocab_size: int = 256, eos_token_id: int = 1):
    if kind == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            bos_token_id=eos_token_id,
            eos_token_id=eos_token_id,
            tie_word_embeddings=True,
            initializer_range=0.3,
        )
    return GPT2Config(
        vocab_size=vocab_size,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        # Wider than the default 0.02, like trained weights: logits of a frozen random decoder then vary enough for
        # the heads to steer it.
        initializer_range=0.3,
    )


def tiny_config(encoder: str = "bert", decoder: str = "gpt2", **kwargs) -> LatentSpaceConfig:
    """Small heads too: latent 16, prefix 4 vectors, no dropout unless asked."""
    defaults = dict(
        latent_dim=16,
        compression_hidden_dims=[24],
        middle_hidden_dim=24,
        prefix_len=4,
        prefix_hidden_dim=32,
        head_dropout=0.0,
        num_latent_slots=2,
        middle_num_heads=2,
        num_reasoning_steps=2,
    )
    defaults.update(kwargs)
    return LatentSpaceConfig.from_encoder_decoder_configs(
        tiny_encoder_config(encoder), tiny_decoder_config(decoder), **defaults
    )


def tiny_model(encoder: str = "bert", decoder: str = "gpt2", seed: int = 0, **kwargs):
    import torch

    torch.manual_seed(seed)
    return LatentSpaceForConditionalGeneration(tiny_config(encoder, decoder, **kwargs))


def tiny_processor() -> LatentSpaceProcessor:
    return LatentSpaceProcessor(encoder_tokenizer(), decoder_tokenizer())


def tiny_batch(processor: LatentSpaceProcessor | None = None) -> dict:
    """`PAIRS` tokenized and collated as the Trainer feeds them (input ids, attention mask, padded labels)."""
    from data_collators import DataCollatorForLatentPrefix

    processor = processor or tiny_processor()
    encoded = processor([d for d, _ in PAIRS], [s for _, s in PAIRS])
    features = [{key: encoded[key][i] for key in encoded} for i in range(len(PAIRS))]
    return DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer)(features)


def save_tiny_backbones(
    directory: Path, encoder: str = "bert", decoder: str = "gpt2", seed: int = 0
) -> tuple[Path, Path]:
    """Writes a tiny encoder and decoder (with their tokenizers) as ordinary HF folders, like Hub checkpoints."""
    import torch

    torch.manual_seed(seed)
    encoder_dir, decoder_dir = Path(directory) / "encoder", Path(directory) / "decoder"
    AutoModel.from_config(tiny_encoder_config(encoder)).save_pretrained(encoder_dir)
    encoder_tokenizer().save_pretrained(encoder_dir)
    AutoModelForCausalLM.from_config(tiny_decoder_config(decoder)).save_pretrained(decoder_dir)
    decoder_tokenizer().save_pretrained(decoder_dir)
    return encoder_dir, decoder_dir
