"""Loading dialogue/summary data from the Hub or local files, checking it, and tokenizing it for the model."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, concatenate_datasets, load_dataset
from datasets.exceptions import DatasetGenerationError

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
    parts = []
    for path in paths:
        try:
            parts.append(load_dataset(_builder_for(path), data_files={split: path}, split=split))
        except DatasetGenerationError:
            check_data_file(path)  # names the file and line of the cause, which datasets buries in its message
            raise
    if len(parts) == 1:
        return parts[0]
    shared = [c for c in parts[0].column_names if all(c in part.column_names for part in parts[1:])]
    return concatenate_datasets([part.select_columns(shared) for part in parts])


class DataFileError(ValueError):
    """A local data file that cannot be read as rows of text, with where and why."""


# A few problems are enough to see what is wrong with a file; listing thousands helps nobody.
MAX_PROBLEMS_SHOWN = 10


def _json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(`line N`, row) for each non-blank line of a JSON Lines file; a malformed line is a row of `DataFileError`."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as error:
                yield f"line {number}", DataFileError(f"not valid JSON ({error.msg} at column {error.colno})")


def _json_document(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    """Rows of a .json file: a list of objects, an object of columns, or (as `datasets` also accepts) JSON Lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith("["):
            yield f"line {error.lineno}", DataFileError(f"not valid JSON ({error.msg} at column {error.colno})")
            return
        yield from _json_lines(path)
        return
    if isinstance(document, list):
        yield from ((f"row {index}", row) for index, row in enumerate(document))
    elif isinstance(document, dict) and document and all(isinstance(v, list) for v in document.values()):
        length = max(len(values) for values in document.values())
        for index in range(length):
            yield f"row {index}", {key: values[index] for key, values in document.items() if index < len(values)}
    else:
        yield "line 1", DataFileError("a JSON document that is neither a list of rows nor an object of columns")


def _csv_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """Rows of a CSV file by header name; a row with more fields than the header is a `DataFileError`."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                return
            start = reader.line_num + 1
            for fields in reader:
                where, start = f"line {start}", reader.line_num + 1
                if not fields:
                    continue
                if len(fields) > len(header):
                    yield where, DataFileError(f"{len(fields)} fields, but the header has {len(header)}")
                else:
                    yield where, dict(zip(header, fields, strict=False))
        except csv.Error as error:
            yield f"line {reader.line_num}", DataFileError(f"not valid CSV ({error})")


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    if path.suffix == ".csv":
        return _csv_rows(path)
    if path.suffix == ".jsonl":
        return _json_lines(path)
    return _json_document(path, path.read_text(encoding="utf-8"))


def check_data_file(
    path: str | Path, columns: Sequence[str] = (), id_column: str | None = "id", role: str = "data"
) -> int:
    """
    Reads a local .jsonl/.json/.csv file row by row before anything slow loads and raises a `DataFileError` naming
    the file, the line (or row) and the example id of each problem: a malformed line, a row that is not an object, a
    row without one of `columns` or whose value there is not a string. Returns the number of rows.

    Generic on purpose: each family passes its own columns (`dialogue`/`summary`, `question`/`answer`, `text`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The {role} file {path} does not exist.")
    problems: list[str] = []
    missing_everywhere = set(columns)
    seen_columns: dict[str, None] = {}
    rows = 0
    try:
        for where, row in _rows(path):
            if isinstance(row, DataFileError):
                problems.append(f"{where}: {row}")
                continue
            rows += 1
            if not isinstance(row, dict):
                problems.append(f"{where}: a JSON {type(row).__name__}, not an object of columns")
                continue
            seen_columns.update(dict.fromkeys(row))
            missing_everywhere -= set(row)
            row_id = row.get(id_column) if id_column else None
            label = f"{where} (id {row_id!r})" if row_id is not None else where
            for column in columns:
                if column not in row:
                    problems.append(f"{label}: no {column!r}")
                elif not isinstance(row[column], str):
                    value = row[column]
                    shown = "null" if value is None else f"{json.dumps(value)[:40]} ({type(value).__name__})"
                    problems.append(f"{label}: {column!r} is {shown}, not a string")
    except UnicodeDecodeError as error:
        problems.append(f"byte {error.start}: not UTF-8 text ({error.reason})")
    if missing_everywhere and rows:
        raise DataFileError(
            f"The {role} file {path} has no column(s) {', '.join(map(repr, sorted(missing_everywhere)))}; its "
            f"columns are {list(seen_columns)}. Set the column options (e.g. --text_column / --summary_column) "
            "to match."
        )
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise DataFileError(
            f"{len(problems)} problem(s) in the {role} file {path}:\n  {shown}"
            + (f"\n  ... and {more} more." if more > 0 else "")
        )
    if rows == 0:
        raise DataFileError(f"The {role} file {path} holds no rows.")
    return rows


def check_data_files(
    data_files: Mapping[str, str | Sequence[str] | None], columns: Sequence[str], id_column: str | None = "id"
) -> dict[str, int]:
    """`check_data_file` on every local file of every split (`{"train": [...], "validation": path}`); rows per split."""
    counts: dict[str, int] = {}
    for split, paths in data_files.items():
        if not paths:
            continue
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            counts[split] = counts.get(split, 0) + check_data_file(path, columns, id_column, role=split)
    return counts


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
