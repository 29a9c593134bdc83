"""A run killed while writing a checkpoint restarts from the last complete one, with the same command."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from safetensors import safe_open

import run_summarization
from tests.test_recipes_and_scripts import backbones, tiny_recipe  # noqa: F401  (backbones is a fixture)
from training.checkpoints import checkpoint_problem, last_complete_checkpoint


def kill_during_save(complete, partial) -> None:
    """What `kill -9` leaves while the Trainer writes the weights of `partial`: a temporary-named model file only."""
    shutil.copytree(complete, partial)
    (partial / "model.safetensors").rename(partial / "model.safetensors.tmp8f2c1a")
    for name in ("optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pth"):
        (partial / name).unlink(missing_ok=True)


def test_a_run_killed_mid_save_resumes_from_the_last_complete_checkpoint_and_ends_as_an_uninterrupted_run(
    tmp_path,
    backbones,  # noqa: F811
    caplog,
):
    uninterrupted = tmp_path / "uninterrupted"
    run_summarization.main([str(tiny_recipe(tmp_path, backbones, do_eval=False, output_dir=str(uninterrupted)))])
    # Checkpoints are lean: the frozen backbones are referenced, not stored.
    with safe_open(str(uninterrupted / "checkpoint-2" / "model.safetensors"), "pt") as handle:
        assert not any(key.startswith(("encoder.", "decoder.")) for key in handle.keys())

    # The same run, killed by `kill -9` while it wrote checkpoint-4 (after a complete checkpoint-2).
    run = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, backbones, do_eval=False, output_dir=str(run))
    run.mkdir()
    shutil.copytree(uninterrupted / "checkpoint-2", run / "checkpoint-2")
    kill_during_save(uninterrupted / "checkpoint-4", run / "checkpoint-4")
    assert "temporary file" in checkpoint_problem(run / "checkpoint-4")

    with caplog.at_level(logging.WARNING, logger="training.checkpoints"):
        run_summarization.main([str(recipe)])  # the same command a user re-runs
    assert "Skipping" in caplog.text and "checkpoint-4" in caplog.text and "model.safetensors.tmp8f2c1a" in caplog.text
    logs = {}
    for folder in (run, uninterrupted):
        state = json.loads((folder / "trainer_state.json").read_text())
        logs[folder.name] = [entry for entry in state["log_history"] if "loss" in entry]
    assert [entry["step"] for entry in logs["run"]] == [1, 2, 3, 4]
    for resumed, straight in zip(logs["run"], logs["uninterrupted"], strict=True):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert resumed[key] == pytest.approx(straight[key], rel=1e-5), (resumed["step"], key)
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
