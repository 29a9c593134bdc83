"""
The real backbone shapes the benchmarks run, as configs: random weights of these shapes cost the same GPU memory and
time as the pretrained ones, and need no Hub access.

    ModernBERT-base   ModernBertConfig() defaults (768 hidden, 22 layers, GLU MLP 1152, 12 heads, vocab 50368)
    ModernBERT-large  1024 hidden, 28 layers, GLU MLP 2624, 16 heads
    GPT-2 small       GPT2Config() defaults (768 hidden, 12 layers, 12 heads, vocab 50257)
    all-MiniLM-L6-v2  384 hidden, 6 layers, MLP 1536, 12 heads, vocab 30522 (a BERT; the offline recipes' encoder)
    SmolLM2-135M      576 hidden, 30 layers, MLP 1536, 9 heads / 3 kv heads, vocab 49152, tied embeddings (the offline
                      recipes' encoder and decoder; a Llama)
    Llama-3.2-1B      2048 hidden, 16 layers, MLP 8192, 32 heads / 8 kv heads, vocab 128256, tied embeddings
    Llama-3.2-3B      3072 hidden, 28 layers, MLP 8192, 24 heads / 8 kv heads, vocab 128256, tied embeddings
    BART-base         768 d_model, 6 + 6 layers, FFN 3072, 12 heads, vocab 50265 (the stock seq2seq baseline)

Each name also has a `tiny-*` twin of the same family for fast CPU dry runs (`--tiny`).
"""

from __future__ import annotations

from collections.abc import Callable

from transformers import BartConfig, BertConfig, GPT2Config, LlamaConfig, ModernBertConfig, PretrainedConfig

# Llama 3.2's rotary settings; they change no cost, but keep the configs faithful.
_LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
}


def modernbert_base() -> ModernBertConfig:
    return ModernBertConfig()


def modernbert_large() -> ModernBertConfig:
    return ModernBertConfig(hidden_size=1024, num_hidden_layers=28, intermediate_size=2624, num_attention_heads=16)


def gpt2_small() -> GPT2Config:
    return GPT2Config()


def _llama(hidden: int, layers: int, heads: int, head_dim: int) -> LlamaConfig:
    return LlamaConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=8192,
        num_attention_heads=heads,
        num_key_value_heads=8,
        head_dim=head_dim,
        vocab_size=128256,
        tie_word_embeddings=True,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        bos_token_id=128000,
        eos_token_id=128001,
        rope_parameters=dict(_LLAMA3_ROPE),
    )


def minilm_l6() -> BertConfig:
    """backbones/all-MiniLM-L6-v2/config.json."""
    return BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )


def smollm2_135m() -> LlamaConfig:
    """backbones/SmolLM2-135M-Instruct/config.json."""
    return LlamaConfig(
        hidden_size=576,
        num_hidden_layers=30,
        intermediate_size=1536,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        vocab_size=49152,
        tie_word_embeddings=True,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    )


def llama_3_2_1b() -> LlamaConfig:
    return _llama(hidden=2048, layers=16, heads=32, head_dim=64)


def llama_3_2_3b() -> LlamaConfig:
    return _llama(hidden=3072, layers=28, heads=24, head_dim=128)


def bart_base() -> BartConfig:
    return BartConfig(
        vocab_size=50265,
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_position_embeddings=1024,
    )


# -- tiny twins for CPU dry runs -----------------------------------------------------------------------------------


def tiny_modernbert() -> ModernBertConfig:
    return ModernBertConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=2,
        local_attention=16,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        cls_token_id=2,
        sep_token_id=3,
    )


def tiny_bert() -> BertConfig:
    return BertConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
    )


def tiny_gpt2() -> GPT2Config:
    return GPT2Config(vocab_size=512, n_embd=64, n_layer=2, n_head=2, n_positions=512, bos_token_id=1, eos_token_id=1)


def tiny_llama() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=1,
    )


def tiny_bart() -> BartConfig:
    return BartConfig(
        vocab_size=512,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=512,
    )


ENCODERS: dict[str, Callable[[], PretrainedConfig]] = {
    "modernbert-base": modernbert_base,
    "modernbert-large": modernbert_large,
    "minilm-l6": minilm_l6,
    "smollm2-135m": smollm2_135m,  # a decoder-only model read as an encoder (AutoModel), as the offline recipes do
    "tiny-modernbert": tiny_modernbert,
    "tiny-llama": tiny_llama,
    "tiny-bert": tiny_bert,
}
DECODERS: dict[str, Callable[[], PretrainedConfig]] = {
    "gpt2": gpt2_small,
    "smollm2-135m": smollm2_135m,
    "llama-3.2-1b": llama_3_2_1b,
    "llama-3.2-3b": llama_3_2_3b,
    "tiny-gpt2": tiny_gpt2,
    "tiny-llama": tiny_llama,
}
SEQ2SEQ: dict[str, Callable[[], PretrainedConfig]] = {"bart-base": bart_base, "tiny-bart": tiny_bart}

# The tiny twin each real shape is swapped for under --tiny.
TINY = {
    "modernbert-base": "tiny-modernbert",
    "modernbert-large": "tiny-modernbert",
    "minilm-l6": "tiny-bert",
    "gpt2": "tiny-gpt2",
    "smollm2-135m": "tiny-llama",
    "llama-3.2-1b": "tiny-llama",
    "llama-3.2-3b": "tiny-llama",
    "bart-base": "tiny-bart",
}

# LoRA target modules per backbone family (the attention projections), as in recipes/samsum/*.yaml.
LORA_TARGETS = {
    "modernbert": ["Wqkv"],
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def encoder_config(name: str) -> PretrainedConfig:
    return ENCODERS[name]()


def decoder_config(name: str) -> PretrainedConfig:
    return DECODERS[name]()


def seq2seq_config(name: str) -> PretrainedConfig:
    return SEQ2SEQ[name]()


def lora_kwargs(config: PretrainedConfig, r: int, alpha: int) -> dict:
    """peft LoraConfig kwargs on the attention projections of a backbone of this config's family."""
    return {"r": r, "lora_alpha": alpha, "lora_dropout": 0.05, "target_modules": LORA_TARGETS[config.model_type]}
