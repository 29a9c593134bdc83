"""
Text for the CALM family, built offline: chat conversations of the `chitchat-dataset` PyPI package, GSM8K problems
and solutions and SAMSum/DialogSum dialogues from `../shared/data` (train files only), optionally text the teacher
samples itself. Held-out text (a seeded share of chitchat conversations, SAMSum and GSM8K validation files) goes to
`validation.jsonl` and is never trained on. Texts are cut into blocks whose chunks of K tokens never straddle two
documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# (relative path, split, fields joined into one text)
SHARED_FILES = (
    ("samsum/train.jsonl", "train", ("dialogue", "summary")),
    ("dialogsum/train.jsonl", "train", ("dialogue", "summary")),
    ("gsm8k/train.jsonl", "train", ("question", "answer")),
    ("samsum/validation.jsonl", "validation", ("dialogue", "summary")),
    ("gsm8k/validation.jsonl", "validation", ("question", "answer")),
)


def chitchat_conversations() -> Iterator[tuple[str, str]]:
    """(conversation id, text) of every chitchat-dataset conversation, turns as `A: ...` / `B: ...` lines."""
    try:
        import chitchat_dataset
    except ImportError as error:
        raise ImportError(
            "The chat corpus comes from the `chitchat-dataset` package: `pip install chitchat-dataset==0.9.0`."
        ) from error
    with open(chitchat_dataset._PATH) as handle:  # the package's own data file, read without its helpers' copies
        conversations = json.load(handle)
    for conversation_id, conversation in conversations.items():
        speakers: dict[str, str] = {}
        lines = []
        for message in conversation["messages"]:
            if not message:
                continue
            sender = message[0].get("sender", "")
            name = speakers.setdefault(sender, "AB"[len(speakers) % 2])
            lines.append(f"{name}: " + " ".join(part["text"].strip() for part in message))
        if lines:
            yield conversation_id, "\n".join(lines)


def held_out(key: str, share: float) -> bool:
    """A stable, seed-free split: the same conversation is held out on every machine and run."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def shared_texts(data_dir: str | Path) -> Iterator[tuple[str, str, str]]:
    """(split, source, text) from the train and validation files of `../shared/data`."""
    data_dir = Path(data_dir)
    for relative, split, fields in SHARED_FILES:
        path = data_dir / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: pass --data_dir pointing at the shared data folder.")
        with path.open() as handle:
            for line in handle:
                row = json.loads(line)
                text = "\n".join(str(row[field]).strip() for field in fields if row.get(field))
                if text:
                    yield split, relative.split("/")[0], text


def build_corpus(
    output_dir: str | Path,
    data_dir: str | Path | None,
    use_chitchat: bool = True,
    chitchat_validation_share: float = 0.02,
    max_chitchat: int | None = None,
) -> dict[str, Any]:
    """Writes `train.jsonl` and `validation.jsonl` (`{"text", "source"}` rows); returns the counts per source."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter] = {"train": Counter(), "validation": Counter()}
    handles = {split: (output_dir / f"{split}.jsonl").open("w") for split in counts}
    try:

        def write(split: str, source: str, text: str) -> None:
            handles[split].write(json.dumps({"text": text, "source": source}, ensure_ascii=False) + "\n")
            counts[split][source] += 1

        if use_chitchat:
            for number, (conversation_id, text) in enumerate(chitchat_conversations()):
                if max_chitchat is not None and number >= max_chitchat:
                    break
                split = "validation" if held_out(conversation_id, chitchat_validation_share) else "train"
                write(split, "chitchat", text)
        if data_dir is not None:
            for split, source, text in shared_texts(data_dir):
                write(split, source, text)
    finally:
        for handle in handles.values():
            handle.close()
    summary = {split: dict(counter) for split, counter in counts.items()}
    (output_dir / "corpus_info.json").write_text(json.dumps(summary, indent=2))
    return summary


@torch.no_grad()
def teacher_texts(
    teacher,
    tokenizer,
    prompts: list[str],
    prompt_tokens: int = 32,
    max_new_tokens: int = 128,
    temperature: float = 1.0,
    top_p: float = 0.95,
    batch_size: int = 16,
    seed: int = 0,
) -> list[str]:
    """
    Distillation text the teacher writes itself: each prompt's first `prompt_tokens` tokens, continued by sampling
    (`temperature`, `top_p`) for up to `max_new_tokens`. Prompts should come from training text only.
    """
    torch.manual_seed(seed)
    device = next(teacher.parameters()).device
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = []
    try:
        for start in tqdm(range(0, len(prompts), batch_size), desc="Teacher text", unit="batch"):
            batch = [
                tokenizer.decode(tokenizer(p, add_special_tokens=False)["input_ids"][:prompt_tokens])
                for p in prompts[start : start + batch_size]
            ]
            encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            output = teacher.generate(
                **encoded,
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
            texts += tokenizer.batch_decode(output, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = padding_side
    return texts


def read_texts(path: str | Path, text_column: str = "text", limit: int | None = None) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build it with `python scripts/build_calm_corpus.py`.")
    texts = []
    with path.open() as handle:
        for line in handle:
            if limit is not None and len(texts) >= limit:
                break
            row = json.loads(line)
            if text_column not in row:
                raise ValueError(f"{path} has no `{text_column}` column (columns: {', '.join(row)}).")
            texts.append(row[text_column])
    return texts


def pack_blocks(
    token_rows: Iterable[list[int]], patch_size: int, block_size: int, separator_id: int, pad_id: int
) -> dict[str, list[list[int]]]:
    """
    Documents (token ids) -> blocks of `block_size` tokens. Each document gets the separator at its end and is
    left-padded to a multiple of K, so every chunk belongs to one document and documents start the way prompts do at
    generation (left padding). `labels` are the ids with -100 on padding. A last partial block is dropped.
    """
    if block_size % patch_size:
        raise ValueError(f"`block_size` ({block_size}) must be a multiple of K ({patch_size}).")
    ids: list[int] = []
    labels: list[int] = []
    blocks: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
    for row in token_rows:
        row = [*row, separator_id]
        padding = (-len(row)) % patch_size
        ids += [pad_id] * padding + row
        labels += [-100] * padding + row
        while len(ids) >= block_size:
            blocks["input_ids"].append(ids[:block_size])
            blocks["labels"].append(labels[:block_size])
            ids, labels = ids[block_size:], labels[block_size:]
    return blocks


def tokenized_blocks(
    path: str | Path,
    tokenizer,
    patch_size: int,
    block_size: int,
    text_column: str = "text",
    max_texts: int | None = None,
    max_blocks: int | None = None,
) -> Dataset:
    """A `datasets.Dataset` of `input_ids`/`labels` blocks from a JSONL text file."""
    texts = read_texts(path, text_column, max_texts)
    if not texts:
        raise ValueError(f"{path} holds no text.")
    separator = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else separator
    rows = tokenizer(texts, add_special_tokens=False)["input_ids"]
    blocks = pack_blocks(rows, patch_size, block_size, separator, pad)
    if not blocks["input_ids"]:
        raise ValueError(f"{path} holds fewer than block_size={block_size} tokens.")
    dataset = Dataset.from_dict(blocks)
    if max_blocks is not None:
        dataset = dataset.select(range(min(max_blocks, len(dataset))))
    logger.info(f"{path}: {len(texts):,} texts -> {len(dataset):,} blocks of {block_size} tokens")
    return dataset
