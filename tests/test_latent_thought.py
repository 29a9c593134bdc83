"""Behaviour of the latent-thought family: mixing, thoughts, losses, schedules, generation, answers, the run script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, Trainer, TrainerState, TrainingArguments

from metrics.answers import accuracy, extract_answer, normalize_number
from modeling import LatentThoughtConfig, LatentThoughtForCausalLM, LatentThoughtScheduleCallback
from modeling.latent_thought.modeling_latent_thought import apply_coconut_stage, positions_from_mask, reasoning_masks
from tests.tiny_reasoning_backbone import save_tiny_reasoner_backbone
from training.reasoning import DataCollatorForLatentThought, ReasoningDataArguments, encode_example, split_solution

PROBLEMS = [
    ("Tom has 3 apples and buys 2 more. How many apples?", "Tom has 3+2 = <<3+2=5>>5 apples.\n#### 5"),
    ("Ann has 4 pens and loses 1. How many pens?", "Ann has 4-1 = <<4-1=3>>3 pens.\nThen 3*2=<<3*2=6>>6.\n#### 6"),
    ("A box holds 6 eggs. How many in 2 boxes?", "6*2 = <<6*2=12>>12 eggs.\n#### 12"),
    ("Sam saves 1,200 dollars and spends 200. Left?", "1200-200 = <<1200-200=1000>>1000.\n#### 1,000"),
]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    return save_tiny_reasoner_backbone(tmp_path_factory.mktemp("tiny") / "decoder", upstream="someone/tiny-llama")


def build(backbone: Path, seed: int = 0, **fields):
    torch.manual_seed(seed)
    return LatentThoughtForCausalLM.from_decoder_pretrained(str(backbone), **fields)


def batch_of(model, tokenizer, problems=PROBLEMS):
    features = []
    for question, solution in problems:
        steps, answer = split_solution(solution)
        features.append(encode_example(tokenizer, question, steps, answer, model.config))
    return DataCollatorForLatentThought(tokenizer.pad_token_id, pad_to_multiple_of=None)(features)


# -- construction and round trips ---------------------------------------------------------------------------------------


def test_from_decoder_pretrained_adds_special_tokens_and_resizes_embeddings(backbone):
    model, tokenizer = build(backbone)
    for name, token in (("bot_token_id", "<bot>"), ("eot_token_id", "<eot>"), ("latent_token_id", "<latent>")):
        assert getattr(model.config, name) == tokenizer.convert_tokens_to_ids(token)
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    assert tokenizer("<bot>", add_special_tokens=False)["input_ids"] == [model.config.bot_token_id]


def test_save_and_load_round_trip_is_exact(backbone, tmp_path):
    model, tokenizer = build(backbone, schedule="coconut", latent_stage=2, thoughts_per_step=1)
    model.eval()
    batch = batch_of(model, tokenizer)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModelForCausalLM"].endswith(
        "LatentThoughtForCausalLM"
    )
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, trust_remote_code=True).eval()
    saved, original = loaded.config.to_dict(), model.config.to_dict()
    saved.pop("_name_or_path"), original.pop("_name_or_path")
    assert saved == original
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


# -- embedding mixing -------------------------------------------------------------------------------------------------


def test_mixing_at_ratio_zero_equals_the_plain_model_logits(backbone):
    model, tokenizer = build(backbone, schedule="mixing")
    model.eval()
    batch = batch_of(model, tokenizer)
    plain = AutoModelForCausalLM.from_pretrained(backbone).eval()
    plain.resize_token_embeddings(model.get_input_embeddings().weight.shape[0])
    plain.get_input_embeddings().weight.data.copy_(model.get_input_embeddings().weight.data)
    with torch.no_grad():
        mixed = model(batch["input_ids"], batch["attention_mask"], mixing_ratio=0.0).logits
        reference = plain(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=positions_from_mask(batch["attention_mask"]),
        ).logits
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(mixed[mask], reference[mask])


def test_mixing_at_ratio_one_feeds_the_normalised_hidden_states_at_reasoning_positions(backbone):
    model, tokenizer = build(backbone, schedule="mixing")
    model.eval()
    batch = batch_of(model, tokenizer)
    with torch.no_grad():
        text = model(batch["input_ids"], batch["attention_mask"], mixing_ratio=0.0)
        mixed = model(batch["input_ids"], batch["attention_mask"], mixing_ratio=1.0)
    written, _ = reasoning_masks(batch["input_ids"], model.config, batch["attention_mask"])
    assert written.any()
    previous = torch.cat([text.last_hidden_state[:, :1] * 0, text.last_hidden_state[:, :-1]], 1)
    expected = model.to_embedding_space(previous)
    torch.testing.assert_close(mixed.inputs_embeds[written], expected[written])
    rms = mixed.inputs_embeds[written].pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, float(model.embedding_scale())), rtol=1e-3, atol=1e-4)
    # The prompt and the answer are read as tokens whatever the ratio.
    torch.testing.assert_close(mixed.inputs_embeds[~written], text.inputs_embeds[~written])


def test_latent_loss_is_zero_when_prediction_equals_target(backbone):
    model, tokenizer = build(backbone, schedule="mixing", latent_norm_matching=False)
    batch = batch_of(model, tokenizer)
    ids = batch["input_ids"]
    embeddings = model.get_input_embeddings()(ids)
    written, _ = reasoning_masks(ids, model.config, batch["attention_mask"])
    hidden = torch.cat([embeddings[:, 1:], embeddings[:, :1]], 1)  # position t-1 "predicts" the embedding at t
    mse, cosine = model.latent_losses(hidden, embeddings, written)
    assert mse.item() == pytest.approx(0.0, abs=1e-6) and cosine.item() == pytest.approx(0.0, abs=1e-6)
    # With norm matching, a hidden state of any size pointing at the target costs nothing either.
    model.config.latent_norm_matching = True
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        weight.mul_(0.3 / weight.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12))  # every row at RMS 0.3
    embeddings = model.get_input_embeddings()(ids)
    hidden = 7.0 * torch.cat([embeddings[:, 1:], embeddings[:, :1]], 1)
    mse, cosine = model.latent_losses(hidden, embeddings, written)
    assert mse.item() == pytest.approx(0.0, abs=1e-4) and cosine.item() == pytest.approx(0.0, abs=1e-5)
    mse, cosine = model.latent_losses(-hidden, embeddings, written)
    assert mse.item() > 1.0 and cosine.item() == pytest.approx(2.0, abs=1e-4)


def test_loss_weights_come_from_the_config(backbone):
    model, tokenizer = build(backbone, schedule="mixing", mse_loss_weight=0.5, cosine_loss_weight=2.0)
    batch = batch_of(model, tokenizer)
    output = model(**batch, mixing_ratio=0.5)
    expected = output.ce_loss + 0.5 * output.mse_loss + 2.0 * output.cosine_loss
    torch.testing.assert_close(output.loss, expected)
    assert output.mse_loss > 0 and output.cosine_loss > 0


# -- Coconut thoughts --------------------------------------------------------------------------------------------------


def test_coconut_stage_replaces_the_first_steps_by_aligned_thoughts(backbone):
    model, tokenizer = build(backbone, schedule="coconut", thoughts_per_step=2, max_latent_stage=1)
    batch = batch_of(model, tokenizer)
    config = model.config
    ids, mask, labels = apply_coconut_stage(
        batch["input_ids"], batch["attention_mask"], batch["labels"], batch["step_ids"], config, stage=1
    )
    bot_columns = {row.tolist().index(config.bot_token_id) for row in ids}
    assert len(bot_columns) == 1  # every row's <bot> in one column, so thought i is one column
    bot = bot_columns.pop()
    assert (ids[:, bot + 1 : bot + 3] == config.latent_token_id).all()
    assert (labels[:, bot + 1 : bot + 3] == -100).all() and (ids[:, bot + 3] == config.eot_token_id).all()
    second = tokenizer.decode(ids[1][mask[1].bool()], skip_special_tokens=True)
    assert "4-1=3" not in second and "3*2=6" in second  # step 1 replaced, step 2 still written
    ids, mask, _ = apply_coconut_stage(
        batch["input_ids"], batch["attention_mask"], batch["labels"], batch["step_ids"], config, stage=2
    )
    text = tokenizer.decode(ids[1][mask[1].bool()], skip_special_tokens=True)
    assert "=" not in text.split("\n", 1)[1] and text.endswith("#### 6")  # the last stage drops every step


def test_coconut_rows_never_start_with_padding_and_score_as_if_alone(backbone):
    # Leading padding leaves query rows that attend to nothing (NaN gradients in half-precision GPU kernels), so the
    # alignment pads between question and <bot>; a padded batch must still score each row as that row alone.
    model, tokenizer = build(backbone, schedule="coconut", thoughts_per_step=2, max_latent_stage=1, latent_stage=1)
    model.eval()
    batch = batch_of(model, tokenizer)
    with torch.no_grad():
        output = model(**batch)
    assert output.attention_mask[:, 0].all()
    assert len({row.tolist().index(model.config.bot_token_id) for row in output.input_ids}) == 1
    for row in range(len(PROBLEMS)):
        alone = batch_of(model, tokenizer, PROBLEMS[row : row + 1])
        with torch.no_grad():
            single = model(**alone)
        torch.testing.assert_close(
            output.logits[row][output.attention_mask[row].bool()], single.logits[0], rtol=1e-4, atol=1e-4
        )


def test_thoughts_read_the_hidden_state_before_them_like_a_full_recompute(backbone):
    model, tokenizer = build(backbone, schedule="coconut", thoughts_per_step=2, max_latent_stage=1, latent_stage=1)
    model.eval()
    batch = batch_of(model, tokenizer, PROBLEMS[:2])
    with torch.no_grad():
        output = model(**batch)
        ids, mask = output.input_ids, output.attention_mask
        positions = positions_from_mask(mask)
        embeds = model.get_input_embeddings()(ids)
        for column in output.input_ids[0].eq(model.config.latent_token_id).nonzero().flatten().tolist():
            hidden = model.decoder(
                inputs_embeds=embeds[:, :column],
                attention_mask=mask[:, :column],
                position_ids=positions[:, :column],
                output_hidden_states=True,
            ).hidden_states[-1]
            embeds[:, column] = model.to_embedding_space(hidden[:, -1])
        reference = model.decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).logits
    real = mask.bool()
    torch.testing.assert_close(output.logits[real], reference[real], rtol=1e-4, atol=1e-4)


# -- training: loss falls, schedules move and resume -------------------------------------------------------------------


class _Rows(torch.utils.data.Dataset):
    def __init__(self, features):
        self.features = features

    def __len__(self):
        return len(self.features)

    def __getitem__(self, index):
        return self.features[index]


def _trainer(model, tokenizer, output_dir, **overrides):
    features = []
    for question, solution in PROBLEMS * 2:
        steps, answer = split_solution(solution)
        features.append(encode_example(tokenizer, question, steps, answer, model.config))
    args = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        num_train_epochs=4,
        learning_rate=3e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    args.update(overrides)
    return Trainer(
        model=model,
        args=TrainingArguments(**args),
        train_dataset=_Rows(features),
        data_collator=DataCollatorForLatentThought(tokenizer.pad_token_id),
        callbacks=[LatentThoughtScheduleCallback()],
    )


def test_loss_falls_on_a_learnable_task(backbone, tmp_path):
    model, tokenizer = build(backbone)
    trainer = _trainer(
        model, tokenizer, tmp_path, num_train_epochs=6, per_device_train_batch_size=8, learning_rate=1e-2
    )
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0]


def test_mixing_schedule_goes_text_then_latent_then_mixed():
    config = LatentThoughtConfig(
        schedule="mixing", text_phase_fraction=0.2, latent_phase_fraction=0.5, max_mixing_ratio=1.0
    )
    config.final_mixing_ratio = 0.5
    assert [config.mixing_ratio_at(p) for p in (0.0, 0.19, 0.2, 0.45, 0.69, 0.7, 1.0)] == pytest.approx(
        [0.0, 0.0, 0.0, 0.5, 0.98, 0.5, 0.5]
    )
    coconut = LatentThoughtConfig(schedule="coconut", max_latent_stage=3, epochs_per_stage=1.5, thoughts_per_step=2)
    assert [coconut.stage_at(e) for e in (0, 1.49, 1.5, 3.0, 4.5, 6.0, 30)] == [0, 0, 1, 2, 3, 4, 4]
    assert [coconut.num_thoughts(s) for s in range(5)] == [0, 2, 4, 6, 6]
    assert [coconut.steps_replaced(s) for s in range(5)] == [0, 1, 2, 3, None]


def test_schedule_callback_moves_the_stage_resets_the_optimizer_and_logs_it(backbone, tmp_path):
    model, tokenizer = build(backbone, schedule="coconut", thoughts_per_step=1, max_latent_stage=1)
    trainer = _trainer(model, tokenizer, tmp_path, num_train_epochs=3, save_strategy="epoch")
    callback = next(c for c in trainer.callback_handler.callbacks if isinstance(c, LatentThoughtScheduleCallback))
    trainer.train()
    assert callback.stage_changes == [(2, 1), (4, 2)]  # 2 steps an epoch, one stage an epoch
    logged = [(entry["step"], entry["latent_stage"]) for entry in trainer.state.log_history if "loss" in entry]
    assert logged == [(1, 0), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
    assert model.config.latent_stage == 2 and model.config.num_thoughts() == 1
    # The optimizer state saved at a stage boundary is the reset one: Adam starts over in the next stage.
    saved = torch.load(tmp_path / "checkpoint-4" / "optimizer.pt", weights_only=False)
    assert saved["state"] == {}

    # Resuming from the checkpoint written at the first boundary gives the same schedule and the same final weights.
    resumed_model, _ = build(backbone, schedule="coconut", thoughts_per_step=1, max_latent_stage=1)
    resumed = _trainer(resumed_model, tokenizer, tmp_path, num_train_epochs=3, save_strategy="no")
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    resumed_logged = [(e["step"], e["latent_stage"]) for e in resumed.state.log_history if "loss" in e]
    assert resumed_logged == logged
    assert resumed_model.config.latent_stage == 2
    for (name, a), (_, b) in zip(model.named_parameters(), resumed_model.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_mixing_ratio_follows_the_trainer_state_so_resuming_restores_it(backbone):
    model, _ = build(backbone, schedule="mixing", text_phase_fraction=0.25, latent_phase_fraction=0.5)
    callback = LatentThoughtScheduleCallback()
    ratios = []
    for step in range(9):  # what a run of 8 steps sees, or a run resumed at any of these steps
        state = TrainerState(global_step=step, max_steps=8)
        callback.on_train_begin(None, state, None, model=model)
        ratios.append(model.config.mixing_ratio)
    assert ratios == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 0.5, 0.5, 0.5])
    state = TrainerState(global_step=4, max_steps=8)
    state.log_history = [{"loss": 1.0, "step": 4}]
    logs = {"loss": 1.0}
    callback.on_step_end(None, state, None, model=model)
    callback.on_log(None, state, None, logs=logs, model=model)
    assert logs["mixing_ratio"] == state.log_history[-1]["mixing_ratio"] == pytest.approx(0.5)


# -- generation --------------------------------------------------------------------------------------------------------


def _prompts(tokenizer):
    questions = [tokenizer(q + "\n", add_special_tokens=False)["input_ids"] for q, _ in PROBLEMS[:2]]
    width = max(map(len, questions))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(q)) + q for q in questions])
    mask = torch.tensor([[0] * (width - len(q)) + [1] * len(q) for q in questions])
    return ids, mask


def _boost(model, token_id: int, rows: list[int]):
    """Makes `token_id` the argmax for the given batch rows at every position (a hook on the LM head)."""

    def hook(module, inputs, output):
        output = output.clone()
        output[rows, :, token_id] += 1e4
        return output

    return model.decoder.get_output_embeddings().register_forward_hook(hook)


def test_generation_stops_latent_reasoning_at_eot_and_respects_max_new_tokens(backbone):
    model, tokenizer = build(backbone, schedule="mixing", mixing_ratio=0.5, max_reasoning_steps=6)
    model.eval()
    ids, mask = _prompts(tokenizer)
    handle = _boost(model, model.config.eot_token_id, rows=[0])
    try:
        output = model.generate(ids, mask, max_new_tokens=3, return_dict_in_generate=True)
    finally:
        handle.remove()
    assert output.latent_steps.tolist() == [0, 6]  # row 0 predicted <eot> at once; row 1 ran to the cap
    assert output.sequences.shape[1] <= 3
    output = model.generate(ids, mask, max_new_tokens=5, return_dict_in_generate=True)
    assert output.sequences.shape == (2, 5) or bool((output.sequences == model.config.eos_token_id).any())


def test_generation_with_thoughts_and_kv_cache_matches_a_full_recompute(backbone):
    model, tokenizer = build(backbone, schedule="coconut", thoughts_per_step=2, max_latent_stage=1, latent_stage=2)
    model.eval()
    ids, mask = _prompts(tokenizer)
    generated = model.generate(ids, mask, max_new_tokens=4, return_dict_in_generate=True)
    assert generated.latent_steps.tolist() == [2, 2]
    config = model.config
    tail = [config.bot_token_id, config.latent_token_id, config.latent_token_id, config.eot_token_id]
    sequence = torch.cat([ids, torch.tensor([tail] * 2), generated.sequences[:, :-1]], 1)
    full_mask = torch.cat([mask, torch.ones_like(sequence[:, mask.shape[1] :])], 1)
    with torch.no_grad():
        logits = model(sequence, full_mask).logits  # thoughts recomputed from scratch, no cache
    greedy = logits[:, -generated.sequences.shape[1] :].argmax(-1)
    assert torch.equal(greedy, generated.sequences)


def test_generation_respects_generation_config_settings(backbone):
    model, tokenizer = build(backbone)
    model.eval()
    ids, mask = _prompts(tokenizer)
    torch.manual_seed(0)
    sampled = model.generate(ids, mask, max_new_tokens=6, do_sample=True, temperature=5.0)
    greedy = model.generate(ids, mask, max_new_tokens=6)
    assert sampled.shape[1] <= 6 and greedy.shape[1] <= 6
    assert not torch.equal(sampled, greedy)


# -- answers -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so 3+2=5\n#### 5", "5"),
        ("#### 1,234", "1234"),
        ("#### -7", "-7"),
        ("the answer is \\boxed{-1,500.0}.", "-1500"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("#### $18.50", "18.5"),
        ("#### 72 clips", "72"),
        ("no final answer here", None),
    ],
)
def test_answer_extraction_handles_boxed_hashes_commas_and_negatives(text, expected):
    assert extract_answer(text) == expected


def test_numbers_normalise_and_accuracy_counts_exact_matches():
    assert normalize_number("72.0") == normalize_number("72") == "72"
    assert normalize_number("-0.50") == "-0.5"
    assert accuracy(["5", None, "-3"], ["5", "4", "3"]) == pytest.approx(1 / 3)
    assert split_solution("a <<2*3=6>>6\nb <<6+1=7>>7\n#### 7") == (["2*3=6", "6+1=7"], "7")
    assert split_solution("No calc here.\nStill none.\n#### 1,000", "equations") == (
        ["No calc here.", "Still none."],
        "1000",
    )


# -- bad inputs --------------------------------------------------------------------------------------------------------


def test_bad_settings_raise_clear_errors(backbone, tmp_path):
    with pytest.raises(ValueError, match="Unknown schedule"):
        LatentThoughtConfig(schedule="telepathy")
    with pytest.raises(ValueError, match="separate schedules"):
        LatentThoughtConfig(schedule="coconut", mixing_ratio=0.3)
    with pytest.raises(ValueError, match="more than all"):
        LatentThoughtConfig(schedule="mixing", text_phase_fraction=0.6, latent_phase_fraction=0.6)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ReasoningDataArguments(train_file=str(tmp_path / "missing.jsonl"))
    model, tokenizer = build(backbone)
    ids, mask = _prompts(tokenizer)
    with pytest.raises(ValueError, match="Pad prompts on the left"):
        model.generate(ids.flip(1), mask.flip(1))


# -- the run script ----------------------------------------------------------------------------------------------------


def test_run_reasoning_trains_evaluates_and_writes_predictions_and_card(backbone, tmp_path):
    import run_reasoning

    rows = [{"id": f"p{i}", "question": q, "answer": a} for i, (q, a) in enumerate(PROBLEMS)]
    data = tmp_path / "gsm"
    data.mkdir()
    for name in ("train", "validation"):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    output = tmp_path / "out"
    metrics = run_reasoning.main(
        [
            "recipes/gsm8k/coconut.yaml",
            *("--decoder_name_or_path", str(backbone), "--train_file", str(data / "train.jsonl")),
            *("--validation_file", str(data / "validation.jsonl"), "--output_dir", str(output)),
            *("--fp16", "false", "--num_train_epochs", "2", "--epochs_per_stage", "1", "--max_latent_stage", "1"),
            *("--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--max_new_tokens", "4"),
            *("--save_strategy", "no", "--max_length", "512", "--disable_tqdm", "true", "--use_cpu", "true"),
        ]
    )
    results = json.loads((output / "eval_results.json").read_text())
    assert {"accuracy", "mean_generated_tokens", "mean_latent_steps", "examples_per_second"} <= set(results)
    assert results["mean_latent_steps"] == 2 and metrics["accuracy"] == results["accuracy"]
    predictions = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 4
    assert {"id", "question", "prediction", "predicted_answer", "reference_answer", "correct"} <= set(predictions[0])
    assert predictions[3]["reference_answer"] == "1000"
    card = (output / "README.md").read_text()
    assert "base_model: someone/tiny-llama" in card and str(backbone) not in card.split("---")[1]
    reloaded = AutoModelForCausalLM.from_pretrained(output, trust_remote_code=True)
    assert reloaded.config.latent_stage == 2  # the saved model generates with the stage it finished in


def test_gsm8k_recipes_parse_and_are_the_four_promised_methods():
    import run_reasoning
    from training.arguments import parse_args

    folder = Path(__file__).resolve().parents[1] / "recipes" / "gsm8k"
    if not (folder.parents[2] / "shared" / "data" / "gsm8k").is_dir():
        pytest.skip("the GSM8K recipes read ../shared/data/gsm8k, which is not beside this checkout")
    parsed = {p.stem: parse_args([str(p)], run_reasoning.ARGUMENT_CLASSES) for p in folder.glob("*.yaml")}
    assert set(parsed) == {"no_cot", "cot", "coconut", "latent_mixing"}
    fields = {name: args[0].config_fields() for name, args in parsed.items()}
    assert fields["no_cot"]["use_reasoning"] is False and fields["cot"]["schedule"] == "none"
    assert fields["coconut"]["schedule"] == "coconut" and fields["latent_mixing"]["schedule"] == "mixing"
    for model_args, data_args, training_args in parsed.values():
        assert model_args.decoder_name_or_path == "backbones/SmolLM2-135M-Instruct"
        assert data_args.train_file.endswith("gsm8k/train.jsonl") and training_args.fp16
        assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps == 32
