"""A run killed while writing a checkpoint restarts from the last complete one, with the same command."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

import run_summarization
from tests.test_recipes_and_scripts import backbones, tiny_recipe  # noqa: F401  (backbones is a fixture)
from training.checkpoints import checkpoint_problem, last_complete_checkpoint


def kill_during_save(complete, partial) -> None:
    """What `kill -9` leaves while the Trainer writes the weights of `partial`: a temporary-named model file only."""
    shutil.copytree(complete, partial)
    (partial / "model.safetensors").rename(partial / "model.safetensors.tmp8f2c1a")
    for name in ("optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pth"):
        (partial / name).unlink(missing_ok=True)


def test_a_run_killed_mid_save_resumes_from_the_last_complete_checkpoint_and_finishes(tmp_path, backbones, caplog):  # noqa: F811
    recipe = tiny_recipe(tmp_path, backbones, do_eval=False)
    run_summarization.main([str(recipe), "--max_steps", "2"])
    run = tmp_path / "run"
    kill_during_save(run / "checkpoint-2", run / "checkpoint-4")
    assert "temporary file" in checkpoint_problem(run / "checkpoint-4")

    with caplog.at_level(logging.WARNING, logger="training.checkpoints"):
        run_summarization.main([str(recipe), "--max_steps", "4"])  # the same command a user re-runs
    assert "Skipping" in caplog.text and "checkpoint-4" in caplog.text and "model.safetensors.tmp8f2c1a" in caplog.text
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]
    assert checkpoint_problem(run / "checkpoint-4") is None  # written again, whole
    assert (run / "incomplete-checkpoint-4" / "model.safetensors.tmp8f2c1a").is_file()  # kept aside, not deleted


def test_truncated_or_stateless_checkpoints_are_not_complete(tmp_path, backbones):  # noqa: F811
    recipe = tiny_recipe(tmp_path, backbones, do_eval=False)
    run_summarization.main([str(recipe), "--max_steps", "2"])
    run = tmp_path / "run"
    assert checkpoint_problem(run / "checkpoint-2") is None

    truncated = run / "checkpoint-3"
    shutil.copytree(run / "checkpoint-2", truncated)
    weights = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    assert "model.safetensors is truncated" in checkpoint_problem(truncated)
    no_state = run / "checkpoint-5"
    shutil.copytree(run / "checkpoint-2", no_state)
    (no_state / "trainer_state.json").unlink()
    assert "no trainer_state.json" in checkpoint_problem(no_state)

    assert last_complete_checkpoint(run, move_incomplete=False) == str(run / "checkpoint-2")
    with pytest.raises(ValueError, match="checkpoint-5 cannot be resumed from: it has no trainer_state.json"):
        run_summarization.main([str(recipe), "--resume_from_checkpoint", str(no_state)])
