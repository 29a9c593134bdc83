"""Dialogues to run inference on, from a local JSONL/JSON/CSV file or a Hub dataset split, with clear errors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from training.data import load_raw_splits

logger = logging.getLogger(__name__)


@dataclass
class Records:
    """
    The rows to work on, column-wise: `texts` (non-empty dialogues), their `ids`, and every column of the kept rows
    in `columns` (so outputs can carry them along and plots can colour by them).
    """

    texts: list[str]
    ids: list[Any]
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_texts(cls, texts: list[str]) -> Records:
        """Texts typed in by hand: numbered 0, 1, 2, ..."""
        return cls(texts=list(texts), ids=list(range(len(texts))))


def load_records(
    input_file: str | os.PathLike | None = None,
    text_column: str = "dialogue",
    id_column: str | None = None,
    required_columns: list[str] | tuple[str, ...] = (),
    max_samples: int | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "validation",
) -> Records:
    """
    Reads `input_file` (.jsonl, .json or .csv) or the `split` of the Hub dataset `dataset_name`, with the same loader
    as training. `id_column=None` uses an `id` column when there is one and row numbers otherwise. A missing column
    (text, id or one of `required_columns`) is an error that lists the columns there are. `max_samples` keeps the
    first rows; rows with an empty text are then skipped and counted in the log, since they cannot be summarized.
    """
    if (input_file is None) == (dataset_name is None):
        raise ValueError("Give exactly one source of dialogues: --input_file FILE or --dataset_name NAME (--split).")
    if input_file is not None:
        source, split = str(input_file), "input"
        raw = load_raw_splits(data_files={split: source}, splits=(split,))
    else:
        source = f"{dataset_name}[{split}]"
        raw = load_raw_splits(dataset_name, dataset_config_name, splits=(split,))
        if split not in raw:
            raise ValueError(f"The dataset {dataset_name!r} has no {split!r} split: set --split.")
    dataset = raw[split]

    available = dataset.column_names
    wanted = [text_column, *([id_column] if id_column else []), *required_columns]
    missing = [column for column in dict.fromkeys(wanted) if column not in available]
    if missing:
        raise ValueError(
            f"{source} has no column(s) {', '.join(map(repr, missing))}; its columns are {available}. "
            "Set --text_column / --id_column / --color_column to match."
        )
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    if id_column is None and "id" in available:
        id_column = "id"

    texts = dataset[text_column]
    keep = [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]
    if len(keep) < len(texts):
        logger.warning(f"Skipped {len(texts) - len(keep)} row(s) of {source} with an empty {text_column!r}.")
    if not keep:
        raise ValueError(f"{source} has no row with a non-empty {text_column!r}.")
    ids = dataset[id_column] if id_column else list(range(len(texts)))
    columns = {name: [values[i] for i in keep] for name, values in dataset.to_dict().items()}
    return Records(texts=[texts[i] for i in keep], ids=[ids[i] for i in keep], columns=columns)


__all__ = ["Records", "load_records"]
