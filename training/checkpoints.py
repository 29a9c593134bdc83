"""
Which `checkpoint-*` folder a restarted run resumes from: the last *complete* one.

The Trainer writes a checkpoint in place, file after file (weights, optimizer, scheduler, RNG state, and
`trainer_state.json` last), so a run killed mid-save leaves a folder that looks like a checkpoint but cannot be resumed
("Can't find a valid checkpoint at ..."). Here a folder counts only when every file the Trainer needs is present and
whole; incomplete ones are named in the log and moved aside, so the resumed run can write that step again.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"
# One of these holds the weights (plain, sharded, peft adapters, FSDP sharded state).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "pytorch_model_fsdp_0",
)
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin", "optimizer_0")
SCHEDULER_FILE = "scheduler.pt"
INCOMPLETE_PREFIX = "incomplete-"


def _is_temporary(name: str) -> bool:
    """Names that writers (safetensors, huggingface_hub, torch.save wrappers) give a file until it is whole."""
    return ".tmp" in name or name.startswith("tmp")


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is whole when its header parses and its size is exactly header + tensor bytes."""
    try:
        with path.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > 100_000_000:
                return f"{path.name} has a corrupt header"
            header = json.loads(handle.read(header_size))
    except (OSError, struct.error, ValueError):
        return f"{path.name} is truncated or not a safetensors file"
    data_end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if path.stat().st_size != 8 + header_size + data_end:
        return f"{path.name} is truncated ({path.stat().st_size:,} bytes, its header promises {8 + header_size + data_end:,})"
    return None


def checkpoint_problem(folder: str | Path, need_optimizer: bool = True) -> str | None:
    """Why `folder` cannot be resumed from, in a few words, or None when it is complete."""
    folder = Path(folder)
    try:
        names = {entry.name for entry in folder.iterdir()}
        temporary = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if _is_temporary(p.name))
    except OSError as error:
        return f"it cannot be read ({error})"
    if temporary:
        return f"{', '.join(temporary)} is a temporary file left by an interrupted save"
    if not any(name in names for name in WEIGHT_FILES):
        return "it holds no model weights"
    for name in sorted(names):
        if name.endswith(".safetensors"):
            problem = _safetensors_problem(folder / name)
            if problem:
                return problem
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index_name in names:
            try:
                shards = set(json.loads((folder / index_name).read_text())["weight_map"].values())
            except (OSError, ValueError, KeyError):
                return f"{index_name} is unreadable"
            missing = sorted(shard for shard in shards if shard not in names)
            if missing:
                return f"the weight shard(s) {', '.join(missing)} are missing"
    if need_optimizer:
        if not any(name in names for name in OPTIMIZER_FILES):
            return "it has no optimizer state"
        if SCHEDULER_FILE not in names:
            return f"it has no {SCHEDULER_FILE}"
    if TRAINER_STATE not in names:
        return f"it has no {TRAINER_STATE} (the Trainer writes it last)"
    try:
        json.loads((folder / TRAINER_STATE).read_text())["global_step"]
    except (OSError, ValueError, KeyError):
        return f"its {TRAINER_STATE} is incomplete"
    return None


def _move_aside(folder: Path) -> Path:
    """Renames an incomplete checkpoint out of the Trainer's `checkpoint-*` namespace (kept, never deleted)."""
    target = folder.with_name(INCOMPLETE_PREFIX + folder.name)
    number = 1
    while target.exists():
        number += 1
        target = folder.with_name(f"{INCOMPLETE_PREFIX}{number}-{folder.name}")
    folder.rename(target)
    return target


def last_complete_checkpoint(
    output_dir: str | Path, need_optimizer: bool = True, move_incomplete: bool = True
) -> str | None:
    """
    The highest-numbered complete `checkpoint-N` in `output_dir`, or None. Each newer incomplete one is logged with
    the reason and, with `move_incomplete` (do it on one process only), renamed `incomplete-checkpoint-N` so the
    resumed run can save step N again into a clean folder.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    for _, folder in sorted(found, reverse=True):
        if not folder.is_dir():
            continue
        problem = checkpoint_problem(folder, need_optimizer)
        if problem is None:
            return str(folder)
        message = f"Skipping {folder}: incomplete, {problem} (a run stopped while saving it)."
        if move_incomplete:
            message += f" Moved to {_move_aside(folder).name}; delete it when you like."
        logger.warning(message)
    return None


def check_resumable(folder: str | Path, need_optimizer: bool = True) -> None:
    """For an explicit `--resume_from_checkpoint`: a clear error when the folder is missing or incomplete."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {folder} does not exist.")
    problem = checkpoint_problem(folder, need_optimizer)
    if problem is not None:
        raise ValueError(
            f"--resume_from_checkpoint {folder} cannot be resumed from: {problem}. Pick an earlier checkpoint, or "
            "leave the option out to resume from the last complete one automatically."
        )
