"""Trainer callbacks shared by the run_* scripts."""

from __future__ import annotations

import logging
import time

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class TimeBudgetCallback(TrainerCallback):
    """
    Ends training once `minutes` of wall time have passed since it began (checked after each optimizer step); the
    script then saves, evaluates and writes its card as after a full run. For fixed-budget comparisons and shared
    machines; the learning-rate schedule still runs to the planned number of steps.
    """

    def __init__(self, minutes: float):
        if minutes <= 0:
            raise ValueError(f"The time budget must be positive, got {minutes} minutes.")
        self.seconds = 60.0 * minutes
        self.start: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start >= self.seconds:
            logger.warning(
                f"Time budget of {self.seconds / 60:g} minutes reached at step {state.global_step} of "
                f"{state.max_steps}: stopping training."
            )
            control.should_training_stop = True
        return control
