"""Loading dialogue/summary data from the Hub or local files, checking it, and tokenizing it for the model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, concatenate_datasets, load_dataset

from modeling import LatentSpaceProcessor

logger = logging.getLogger(__name__)


def _builder_for(path: str) -> str:
    return "csv" if Path(path).suffix == ".csv" else "json"


def _load_local_split(split: str, paths: list[str]) -> Dataset:
    """One split from one or more local files; several files keep the columns they share and are concatenated."""
    for path in paths:
        if Path(path).suffix not in (".json", ".jsonl", ".csv"):
            raise ValueError(f"The {split} file {path} must be .json, .jsonl or .csv.")
        if not Path(path).is_file():
            raise FileNotFoundError(f"The {split} file {path} does not exist.")
    parts = [load_dataset(_builder_for(path), data_files={split: path}, split=split) for path in paths]
    if len(parts) == 1:
        return parts[0]
    shared = [c for c in parts[0].column_names if all(c in part.column_names for part in parts[1:])]
    return concatenate_datasets([part.select_columns(shared) for part in parts])


def load_raw_splits(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    data_files: dict[str, str | list[str] | None] | None = None,
    splits: tuple[str, ...] = ("train", "validation", "test"),
) -> DatasetDict:
    """A Hub dataset by name, or local json/jsonl/csv files per split; raises clearly when nothing can be read."""
    data_files = {split: path for split, path in (data_files or {}).items() if path}
    if data_files:
        # One load per file: files of different splits or sources may carry different extra columns.
        raw = {
            split: _load_local_split(split, [paths] if isinstance(paths, str) else list(paths))
            for split, paths in data_files.items()
            if split in splits
        }
    elif dataset_name:
        try:
            raw = load_dataset(dataset_name, dataset_config_name)
        except Exception as error:  # the Hub raises many kinds; the user needs one message
            raise RuntimeError(
                f"Could not load the dataset {dataset_name!r} ({type(error).__name__}: {error}). Without Hub access, "
                "pass local files with --train_file/--validation_file/--test_file instead."
            ) from error
    else:
        raise ValueError("No data: give --dataset_name or local --train_file/--validation_file/--test_file.")
    return DatasetDict({split: raw[split] for split in splits if split in raw})


def check_columns(dataset: Dataset, split: str, columns: list[str]) -> None:
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The {split} split has no column(s) {', '.join(map(repr, missing))}; its columns are "
            f"{dataset.column_names}. Set --text_column / --summary_column / --id_column to match."
        )
    if len(dataset) == 0:
        raise ValueError(f"The {split} split is empty.")


def select_rows(dataset: Dataset, limit: int | None) -> Dataset:
    return dataset if limit is None else dataset.select(range(min(limit, len(dataset))))


def drop_empty_dialogues(dataset: Dataset, text_column: str, split: str, num_proc: int | None = None) -> Dataset:
    """Rows whose dialogue is empty or whitespace cannot be summarized; they are dropped and counted in the log."""
    kept = dataset.filter(
        lambda rows: [isinstance(t, str) and bool(t.strip()) for t in rows[text_column]],
        batched=True,
        num_proc=num_proc,
        desc=f"Dropping empty dialogues ({split})",
    )
    if len(kept) < len(dataset):
        logger.warning(f"{split}: dropped {len(dataset) - len(kept)} row(s) with an empty dialogue.")
    if len(kept) == 0:
        raise ValueError(f"Every dialogue of the {split} split is empty.")
    return kept


def tokenize_split(
    dataset: Dataset,
    processor: LatentSpaceProcessor,
    split: str,
    text_column: str,
    summary_column: str | None,
    max_source_length: int,
    max_target_length: int,
    num_proc: int | None = None,
) -> Dataset:
    """Encoder ids for dialogues and decoder ids for summaries (no specials; the collator appends EOS)."""

    def tokenize(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
        untruncated = processor.encoder_tokenizer(rows[text_column], truncation=False)["input_ids"]
        features = processor.encoder_tokenizer(rows[text_column], truncation=True, max_length=max_source_length)
        features = dict(features)
        features["source_truncated"] = [len(ids) > max_source_length for ids in untruncated]
        if summary_column is not None:
            features["labels"] = processor.tokenize_targets(
                [s if isinstance(s, str) else "" for s in rows[summary_column]], max_target_length
            )
        return features

    tokenized = dataset.map(
        tokenize,
        batched=True,
        num_proc=num_proc,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {split}",
    )
    truncated = sum(tokenized["source_truncated"])
    if truncated:
        logger.info(
            f"{split}: {truncated} of {len(tokenized)} dialogues ({100 * truncated / len(tokenized):.1f}%) were "
            f"longer than max_source_length={max_source_length} tokens and were truncated."
        )
    return tokenized.remove_columns("source_truncated")
