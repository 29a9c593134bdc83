"""Latent dynamics family (seed 002): task generators, the recurrence, chunked attention, switches, harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModelForCausalLM, EvalPrediction

import run_sequence_tasks
from modeling import LatentDynamicsConfig, LatentDynamicsForCausalLM
from modeling.latent_dynamics.modeling_latent_dynamics import MinGRUMixer
from training.arguments import parse_args
from training.synthetic_tasks import (
    IGNORE,
    JUMP,
    NOISE,
    TASKS,
    SyntheticTaskDataset,
    TaskOptions,
    collate_sequences,
    generate,
    scored_accuracy,
    scored_loss_weights,
)

REPO = Path(__file__).resolve().parents[1]
OPTIONS = TaskOptions(vocab_size=32, num_kv_pairs=4, num_tokens_to_copy=4, num_data_tokens=8, max_period=6)


def tiny_config(**overrides) -> LatentDynamicsConfig:
    settings = {"vocab_size": 32, "hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32}
    return LatentDynamicsConfig(**(settings | overrides))


# -- generators ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_generators_are_deterministic_per_seed(task):
    first, again, other = (generate(task, 64, seed, OPTIONS) for seed in (3, 3, 4))
    assert np.array_equal(first.input_ids, again.input_ids) and np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.input_ids, other.input_ids)
    assert first.input_ids.shape == (64,) and first.input_ids.max() < OPTIONS.vocab_size
    assert first.score_mask.any() and (first.labels[first.score_mask] != IGNORE).all()


def test_long_increment_counts_up_and_jumps_by_five_at_the_end():
    example = generate("long_increment", 50, 0, OPTIONS)
    steps = np.diff(example.input_ids) % OPTIONS.vocab_size
    assert (steps[:-1] == 1).all() and steps[-1] == 5
    assert np.flatnonzero(example.score_mask).tolist() == [49]


def test_hidden_rule_switch_scores_only_tokens_the_new_rule_predicts():
    for seed in range(5):
        example = generate("hidden_rule_switch", 64, seed, OPTIONS)
        steps = np.diff(example.input_ids) % OPTIONS.vocab_size
        scored = np.flatnonzero(example.score_mask)
        assert len(set(steps[: scored[0] - 2])) == 1 and len(set(steps[scored[0] - 1 :])) == 1
        assert steps[0] != steps[-1]
        # each scored token follows from the two before it
        for t in scored:
            assert (2 * example.input_ids[t - 1] - example.input_ids[t - 2]) % OPTIONS.vocab_size == example.labels[t]


def test_structured_token_repeats_its_period_and_scores_after_the_first():
    example = generate("structured_token", 40, 1, OPTIONS)
    period = int(np.argmax(example.score_mask))
    assert OPTIONS.min_period <= period <= OPTIONS.max_period
    assert np.array_equal(example.input_ids[period:], example.input_ids[:-period])


def test_mqar_answers_are_the_values_paired_with_the_queried_keys():
    example = generate("mqar", 64, 2, OPTIONS)
    pairs = OPTIONS.num_kv_pairs
    memory = dict(zip(example.input_ids[0 : 2 * pairs : 2], example.input_ids[1 : 2 * pairs : 2], strict=True))
    answered = np.flatnonzero(example.score_mask)
    assert len(answered) == pairs and (answered >= 2 * pairs).all()
    for position in answered:
        assert example.labels[position] == memory[example.input_ids[position - 1]]


def test_selective_copying_answers_are_the_data_tokens_in_order():
    example = generate("selective_copying", 40, 5, OPTIONS)
    copies = OPTIONS.num_tokens_to_copy
    region = example.input_ids[: 40 - 1 - copies]
    assert np.array_equal(example.labels[example.score_mask], region[region != NOISE])
    assert example.score_mask.sum() == copies and example.score_mask[-copies:].all()


def test_bad_task_settings_fail_with_the_reason():
    with pytest.raises(ValueError, match="Unknown task"):
        generate("copy", 64, 0)
    with pytest.raises(ValueError, match="num_kv_pairs"):
        generate("mqar", 8, 0, OPTIONS)
    with pytest.raises(ValueError, match="num_heads"):
        tiny_config(num_heads=3)
    with pytest.raises(ValueError, match="vocab_size"):
        LatentDynamicsForCausalLM(tiny_config())(torch.tensor([[1, 40]]))


def test_scored_loss_weights_give_the_scored_positions_their_share():
    example = generate("long_increment", 40, 0, OPTIONS)
    weights = scored_loss_weights(example, 0.25)
    assert weights.dtype == np.float32 and weights.sum() == pytest.approx(1.0)
    assert weights[-1] == pytest.approx(0.25) and weights[0] == 0.0  # position 0 has no label
    assert np.allclose(weights[1:-1], 0.75 / 38)
    windowed = scored_loss_weights(example, 0.25, window=3)  # the jump and the 3 positions before it share 0.25
    assert np.allclose(windowed[-4:], 0.25 / 4) and np.allclose(windowed[1:-4], 0.75 / 35)
    copying = generate("selective_copying", 40, 0, OPTIONS)  # every trained label is scored: they share it all
    assert np.allclose(scored_loss_weights(copying, 0.25)[copying.score_mask], 1 / OPTIONS.num_tokens_to_copy)
    with pytest.raises(ValueError, match="scored_loss_share"):
        scored_loss_weights(example, 0.0)


def test_training_items_carry_loss_weights_only_when_asked_and_collate_pads_them_with_zeros():
    plain = SyntheticTaskDataset("long_increment", 12, 4, 0, "train", OPTIONS)
    weighted = SyntheticTaskDataset("long_increment", 12, 4, 0, "train", OPTIONS, scored_loss_share=0.5)
    assert "loss_weights" not in plain[0] and "loss_weights" not in collate_sequences([plain[0], plain[1]])
    short = weighted[1]
    weighted.length = 16
    batch = collate_sequences([weighted[0], short])
    assert batch["loss_weights"].shape == (2, 16) and (batch["loss_weights"][1, 12:] == 0).all()
    torch.testing.assert_close(batch["loss_weights"].sum(dim=1), torch.ones(2))
    evaluation = SyntheticTaskDataset("long_increment", 12, 4, 0, "eval", OPTIONS, scored_loss_share=0.5)
    assert "loss_weights" not in evaluation[0] and (evaluation[0]["labels"] != IGNORE).sum() == 1
    evaluation.all_labels = True
    assert (evaluation[0]["labels"] != IGNORE).sum() == 11


def test_weighted_loss_is_the_weighted_mean_of_the_per_position_losses():
    torch.manual_seed(0)
    model = LatentDynamicsForCausalLM(tiny_config()).eval()
    input_ids = torch.randint(0, 32, (2, 9))
    labels = input_ids.clone()
    labels[:, :3] = IGNORE
    logits = model(input_ids).logits
    per_position = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE, reduction="none"
    )
    weights = torch.rand(2, 9)
    expected = (per_position * weights[:, 1:]).sum() / (weights[:, 1:] * (labels[:, 1:] != IGNORE)).sum()
    torch.testing.assert_close(model(input_ids, labels=labels, loss_weights=weights).loss, expected)
    unweighted = model(input_ids, labels=labels).loss
    torch.testing.assert_close(model(input_ids, labels=labels, loss_weights=torch.full((2, 9), 3.0)).loss, unweighted)
    torch.testing.assert_close(unweighted, per_position.sum() / (labels[:, 1:] != IGNORE).sum())
    with pytest.raises(ValueError, match="loss_weights"):
        model(input_ids, labels=labels, loss_weights=weights[:, :4])


def test_all_positions_evaluation_catches_a_jump_predicted_everywhere():
    """Predicting long_increment's jump at every position is right on the scored token and wrong on all others."""
    dataset = SyntheticTaskDataset("long_increment", 10, 3, 0, "eval", OPTIONS)
    inputs = torch.stack([dataset[i]["input_ids"] for i in range(3)]).numpy()
    jump_everywhere = (inputs + JUMP) % OPTIONS.vocab_size  # the prediction at t is for the token at t + 1
    scored = np.stack([dataset[i]["labels"].numpy() for i in range(3)])
    dataset.all_labels = True
    every = np.stack([dataset[i]["labels"].numpy() for i in range(3)])
    assert scored_accuracy(EvalPrediction(jump_everywhere, scored)) == {"accuracy": 1.0, "sequence_accuracy": 1.0}
    assert scored_accuracy(EvalPrediction(jump_everywhere, every))["sequence_accuracy"] == 0.0


# -- the recurrence -----------------------------------------------------------------------------------------------


def test_alpha_stays_strictly_inside_zero_one():
    dynamics = LatentDynamicsForCausalLM(tiny_config()).dynamics
    low, high = dynamics.leak_init_range
    assert low * 0.999 <= dynamics.alpha.min() and dynamics.alpha.max() <= high * 1.001
    with torch.no_grad():
        dynamics.leak_logit.copy_(torch.linspace(-1e4, 1e4, dynamics.leak_logit.numel()))
    assert 0.0 < dynamics.alpha.min() and dynamics.alpha.max() < 1.0


@pytest.mark.parametrize("switches", [{}, {"use_gate": False}, {"use_leak": False}])
def test_recurrence_matches_the_seed_formula_step_by_step(switches):
    torch.manual_seed(0)
    dynamics = LatentDynamicsForCausalLM(tiny_config(**switches)).dynamics
    z = torch.randn(3, 20, 16)
    h, expected = torch.zeros(3, 16), []
    alpha = dynamics.alpha if dynamics.alpha is not None else torch.zeros(16)
    for t in range(20):
        gate = 1.0
        if dynamics.gate_h is not None:
            gate = torch.sigmoid(dynamics.gate_h(h) + dynamics.gate_z(z[:, t]))
        h = torch.tanh((1 - alpha) * h + gate * z[:, t])
        expected.append(h)
    expected = torch.stack(expected, dim=1)
    for impl in ("loop", "hoisted"):
        torch.testing.assert_close(dynamics(z, impl=impl), expected, atol=1e-6, rtol=1e-5)


def test_mingru_parallel_scan_matches_its_sequential_loop_across_chunks():
    torch.manual_seed(0)
    mixer = MinGRUMixer(tiny_config(sequence_mixer="mingru", chunk_size=7))
    x = torch.randn(2, 30, 16)
    torch.testing.assert_close(mixer(x), mixer.reference(x), atol=1e-5, rtol=1e-4)


# -- attention and switches ---------------------------------------------------------------------------------------


def test_chunked_attention_equals_full_causal_attention_with_gradients():
    torch.manual_seed(0)
    input_ids = torch.randint(0, 32, (2, 37))
    outputs = {}
    reference = LatentDynamicsForCausalLM(tiny_config(chunk_size=8))
    for attention in ("chunked", "full", "sdpa"):
        model = LatentDynamicsForCausalLM(tiny_config(chunk_size=8, attention=attention))
        model.load_state_dict(reference.state_dict())
        out = model(input_ids, labels=input_ids)
        out.loss.backward()
        outputs[attention] = (out.logits.detach(), model.encoder.embedding.weight.grad)
    for attention in ("full", "sdpa"):
        torch.testing.assert_close(outputs["chunked"][0], outputs[attention][0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(outputs["chunked"][1], outputs[attention][1], atol=1e-5, rtol=1e-4)


def test_ablation_switches_remove_what_they_name():
    names = lambda config: {n for n, _ in LatentDynamicsForCausalLM(config).named_parameters()}  # noqa: E731
    full = names(tiny_config())
    assert {"dynamics.gate_h.weight", "dynamics.gate_z.weight", "dynamics.leak_logit"} <= full
    assert not any("gate" in n for n in names(tiny_config(**run_sequence_tasks.VARIANTS["no_gate"])))
    assert "dynamics.leak_logit" not in names(tiny_config(**run_sequence_tasks.VARIANTS["no_leak"]))
    assert tiny_config(**run_sequence_tasks.VARIANTS["no_chunking"]).attention == "full"
    assert not any(n.startswith("dynamics.") for n in names(tiny_config(**run_sequence_tasks.VARIANTS["transformer"])))


def test_without_positions_one_attention_layer_ignores_the_order_of_earlier_tokens():
    torch.manual_seed(0)
    tokens = torch.tensor([[3, 9, 4, 17, 5, 11]])
    shuffled = torch.tensor([[17, 4, 9, 3, 5, 11]])
    for position, same in (("none", True), ("rope", False)):
        model = LatentDynamicsForCausalLM(
            tiny_config(sequence_mixer="none", position_encoding=position, num_layers=1, initializer_range=0.5)
        ).eval()
        last = [model(ids).logits[0, -1] for ids in (tokens, shuffled)]
        assert torch.allclose(*last, atol=1e-5) is same


def test_save_and_reload_is_exact_also_as_remote_code(tmp_path):
    model = LatentDynamicsForCausalLM(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForCausalLM"].endswith("LatentDynamicsForCausalLM")
    assert (tmp_path / "modeling_latent_dynamics.py").is_file()
    input_ids = torch.randint(0, 32, (2, 19))
    for loaded in (
        AutoModelForCausalLM.from_pretrained(tmp_path),
        AutoModelForCausalLM.from_pretrained(tmp_path, trust_remote_code=True),
    ):
        assert torch.equal(loaded.eval()(input_ids).logits, model(input_ids).logits)
    config = AutoConfig.from_pretrained(tmp_path)
    for key in ("sequence_mixer", "use_gate", "use_leak", "leak_init_range", "attention", "chunk_size", "hidden_size"):
        assert getattr(config, key) == getattr(model.config, key)


# -- harness ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes" / "synthetic").glob("*.yaml")), ids=lambda p: p.name)
def test_synthetic_recipes_parse(recipe):
    model_args, task_args, training_args = parse_args([str(recipe)], run_sequence_tasks.ARGUMENT_CLASSES)
    assert task_args.task in TASKS and training_args.do_train and model_args.models


def test_baselines_get_the_parameter_count_of_the_first_model():
    model_args, _, _ = parse_args(
        ["--models", "latent_dynamics", "transformer", "gru_transformer", "mingru_transformer", "--output_dir", "x"],
        run_sequence_tasks.ARGUMENT_CLASSES,
    )
    counts = {
        n: run_sequence_tasks.count_parameters(c) for n, c in run_sequence_tasks.model_configs(model_args, 32).items()
    }
    for name, count in counts.items():
        assert abs(count - counts["latent_dynamics"]) / counts["latent_dynamics"] < 0.01, (name, counts)


def test_harness_trains_evaluates_plots_and_saves_latents(tmp_path):
    recipe = {
        "task": "long_increment",
        "models": ["latent_dynamics", "transformer"],
        "vocab_size": 16,
        "train_length": 32,
        "eval_lengths": [32, 48],
        "num_train_examples": 256,
        "num_eval_examples": 4,
        "hidden_size": 16,
        "num_heads": 2,
        "intermediate_size": 32,
        "chunk_size": 8,
        "save_latents": 2,
        "output_dir": str(tmp_path / "run"),
        "do_train": True,
        "do_eval": True,
        "max_steps": 24,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-2,
        "logging_steps": 4,
        "save_steps": 100,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    results = run_sequence_tasks.main([str(path)])
    run = tmp_path / "run"
    summary = json.loads((run / "results.json").read_text())
    assert set(summary["models"]) == {"latent_dynamics", "transformer"}
    assert (run / "accuracy_vs_length.png").is_file() and (run / "latent_dynamics" / "README.md").is_file()
    assert np.load(run / "latent_dynamics" / "latents_48.npy").shape == (2, 48, 16)
    history = json.loads((run / "latent_dynamics" / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0]  # x -> x + 1 is learnable: ln(16) = 2.77 falls to ~2.1 in 24 steps
    assert 0.0 <= results["latent_dynamics"]["lengths"][32]["accuracy"] <= 1.0
