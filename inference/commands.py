"""The work behind each `run_inference.py` subcommand, callable from Python too."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .data import Records
from .latent_space_inference import InterpolationStep, LatentSpaceInference, Neighbor

logger = logging.getLogger(__name__)


def _open_output(output: str | Path | None) -> tuple[TextIO, bool]:
    if output is None or str(output) == "-":
        return sys.stdout, False
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8"), True


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def generate_jsonl(
    inference: LatentSpaceInference,
    records: Records,
    output: str | Path | None = None,
    text_column: str = "dialogue",
    keep_columns: bool = False,
    progress: bool = True,
    **settings: Any,
) -> list[str]:
    """
    Summarizes every record and writes one JSON object a line to `output` (stdout when None or "-"):
    `{"id", <text_column>, "prediction"}`, or every input column plus `prediction` with `keep_columns`.
    """
    predictions = inference.summarize(records.texts, progress=progress, **settings)
    handle, close = _open_output(output)
    try:
        for i, (row_id, text, prediction) in enumerate(zip(records.ids, records.texts, predictions, strict=True)):
            row = {name: values[i] for name, values in records.columns.items()} if keep_columns else {}
            row.update({"id": _jsonable(row_id), text_column: text, "prediction": prediction})
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
    finally:
        if close:
            handle.close()
    if close:
        logger.info(f"Wrote {len(predictions)} summaries to {output}")
    return predictions


def latents_metadata_path(output: str | Path) -> Path:
    """`latents.npy` -> `latents.json`, the ids and settings that go with the array."""
    return Path(output).with_suffix(".json")


def dump_latents(
    inference: LatentSpaceInference,
    records: Records,
    output: str | Path,
    stage: str = "out",
    source: str | None = None,
    model: str | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """
    Writes the records' latents as a float32 `(n, latent_dim)` array to `output` (`.npy`) and, beside it
    (`<name>.json`), the row ids in the same order, with the stage, model and source file.
    Load them back with `np.load(path)` and `json.load(open(<name>.json))["ids"]`.
    """
    output = Path(output)
    if output.suffix != ".npy":
        raise ValueError(f"--output must end in .npy, got {output}.")
    latents = inference.get_latent(records.texts, stage, progress=progress).numpy().astype(np.float32)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, latents)
    metadata = {
        "ids": [_jsonable(i) for i in records.ids],
        "stage": stage,
        "shape": list(latents.shape),
        "model": model,
        "source": source,
    }
    meta_path = latents_metadata_path(output)
    meta_path.write_text(json.dumps(metadata, ensure_ascii=False) + "\n")
    logger.info(f"Wrote {latents.shape[0]} z_{stage} latents of dim {latents.shape[1]} to {output} (ids: {meta_path})")
    return output, meta_path


def format_interpolation(steps: Sequence[InterpolationStep]) -> str:
    return "\n".join(f"alpha={step.alpha:<6.3g} {step.text}" for step in steps)


def write_interpolation(steps: Sequence[InterpolationStep], output: str | Path, method: str, stage: str) -> None:
    """One JSON object a line: `{"alpha", "text", "method", "stage"}`."""
    handle, close = _open_output(output)
    try:
        for step in steps:
            row = {"alpha": step.alpha, "text": step.text, "method": method, "stage": stage}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if close:
            handle.close()


def pick_texts(records: Records, id_a: str, id_b: str) -> tuple[str, str]:
    """The texts of two rows given by id (compared as text, so `--id_a 12` finds the integer id 12)."""
    by_id = {str(row_id): text for row_id, text in zip(records.ids, records.texts, strict=True)}
    missing = [i for i in (id_a, id_b) if str(i) not in by_id]
    if missing:
        sample = ", ".join(map(str, list(by_id)[:5]))
        raise ValueError(
            f"No row with id {', '.join(map(repr, missing))} in the input file (ids look like: {sample})."
        )
    return by_id[str(id_a)], by_id[str(id_b)]


def format_neighbors(neighbors: Sequence[Neighbor], ids: Sequence[Any], width: int = 100) -> str:
    lines = []
    for rank, neighbor in enumerate(neighbors, start=1):
        text = " ".join(neighbor.text.split())
        text = text if len(text) <= width else text[: width - 1] + "…"
        lines.append(f"{rank:>2}. {neighbor.score:.3f}  [{ids[neighbor.index]}] {text}")
    return "\n".join(lines)


__all__ = [
    "dump_latents",
    "format_interpolation",
    "format_neighbors",
    "generate_jsonl",
    "latents_metadata_path",
    "pick_texts",
    "write_interpolation",
]
