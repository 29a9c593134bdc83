"""The training-side half of the schedules: a `TrainerCallback` that moves the mixing ratio or the Coconut stage."""

from __future__ import annotations

import logging

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def _unwrap(model):
    """The `LatentThoughtForCausalLM` inside DDP/FSDP/compile wrappers, where the schedule's config lives."""
    while not hasattr(model.config, "mixing_ratio_at") and hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


class LatentThoughtScheduleCallback(TrainerCallback):
    """
    Advances the model's schedule with training progress and shows it in the logs.

    - `mixing`: the ratio follows `config.mixing_ratio_at(global_step / max_steps)` (text -> latent -> mixed).
    - `coconut`: the stage follows `config.stage_at(epoch)`; when it changes, the optimizer's state (Adam moments)
      is cleared, as Coconut resets its optimizer at each stage.

    Both are functions of the trainer state alone, so `--resume_from_checkpoint` restores them: the state is set on
    `on_train_begin` from the restored step and epoch, and a stage change is applied at the end of the step that
    crosses it, before that step's checkpoint is written (the saved optimizer state is the reset one).
    """

    def __init__(self) -> None:
        self.stage_changes: list[tuple[int, int]] = []  # (global_step, new stage), for logs and tests

    def _update(self, state, model, optimizer=None, starting: bool = False) -> None:
        model = _unwrap(model)
        config = model.config
        if config.schedule == "mixing":
            progress = state.global_step / state.max_steps if state.max_steps else 0.0
            config.mixing_ratio = float(config.mixing_ratio_at(progress))
        elif config.schedule == "coconut":
            stage = config.stage_at(state.epoch or 0.0)
            if stage != config.latent_stage:
                if not starting and optimizer is not None:
                    inner = getattr(optimizer, "optimizer", optimizer)
                    inner.state.clear()
                    logger.info(f"Coconut stage {config.latent_stage} -> {stage}: optimizer state reset.")
                self.stage_changes.append((state.global_step, stage))
                config.latent_stage = stage

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is not None:
            self._update(state, model, optimizer, starting=True)

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is not None:
            self._update(state, model, optimizer)

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        """The schedule's current value beside the loss, in the printed logs and in `trainer_state.json`."""
        if model is None or logs is None or "loss" not in logs:
            return
        config = _unwrap(model).config
        values = {}
        if config.schedule == "mixing":
            values["mixing_ratio"] = round(config.mixing_ratio, 4)
        elif config.schedule == "coconut":
            values["latent_stage"] = config.latent_stage
            values["thoughts"] = config.num_thoughts()
        logs.update(values)
        if state.log_history:
            state.log_history[-1].update(values)


__all__ = ["LatentThoughtScheduleCallback"]
