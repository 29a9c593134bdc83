"""What every run_*.py script does first: logging at the Trainer's level, and where to resume from."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import datasets
import transformers

from .checkpoints import check_resumable, last_complete_checkpoint

logger = logging.getLogger(__name__)


def setup_logging(training_args, script_logger: logging.Logger | None = None) -> None:
    """Timestamps on stdout; this process's level (the main one logs, the others warn) for the script and libraries."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = training_args.get_process_log_level()
    for name in ("__main__", "training", "inference"):
        logging.getLogger(name).setLevel(level)
    if script_logger is not None:
        script_logger.setLevel(level)
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)


def find_checkpoint(training_args, data_args) -> str | None:
    """
    An explicit --resume_from_checkpoint wins; otherwise a run killed earlier in output_dir resumes from its last
    complete checkpoint (one cut short by a crash during the save is skipped, named in the log and moved aside).
    `data_args.overwrite_output_dir` starts over instead.
    """
    need_optimizer = not training_args.save_only_model
    if training_args.resume_from_checkpoint is not None:
        check_resumable(training_args.resume_from_checkpoint, need_optimizer)
        return training_args.resume_from_checkpoint
    output_dir = Path(training_args.output_dir)
    if not training_args.do_train or getattr(data_args, "overwrite_output_dir", False) or not output_dir.is_dir():
        return None
    # The main process looks (and moves incomplete folders aside) first; the others then see the same folders.
    with training_args.main_process_first(desc="finding the last complete checkpoint"):
        last = last_complete_checkpoint(output_dir, need_optimizer, move_incomplete=training_args.should_save)
    if last is not None:
        logger.info(f"Resuming from {last} (pass --overwrite_output_dir true to start over).")
    return last
