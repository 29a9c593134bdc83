"""Recipes parse, scripts train/evaluate/resume end to end on tiny backbones, bad inputs fail early and clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForSeq2SeqLM, Seq2SeqTrainingArguments
from transformers.pytorch_utils import Conv1D

import run_eval
import run_summarization
from inference import LatentSpaceInference
from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration
from tests.tiny_backbones import save_tiny_backbones, tiny_model
from training.arguments import DataTrainingArguments, ModelArguments, parse_args
from training.model_setup import HEAD_FIELDS, LOSS_FIELDS, build_model_and_processor

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
RECIPES = sorted((REPO / "recipes").glob("*/*.yaml"))
# recipes/synthetic/, gsm8k/ and calm/ belong to run_sequence_tasks.py, run_reasoning.py and run_calm.py (their own
# tests parse them)
TRAINING_RECIPES = [r for r in RECIPES if r.parent.name not in ("accelerate", "synthetic", "gsm8k", "calm")]


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> tuple[Path, Path]:
    return save_tiny_backbones(tmp_path_factory.mktemp("backbones"))


def tiny_recipe(tmp_path: Path, backbones: tuple[Path, Path], **overrides) -> Path:
    recipe = {
        "encoder_name_or_path": str(backbones[0]),
        "decoder_name_or_path": str(backbones[1]),
        "latent_dim": 16,
        "prefix_len": 4,
        "prefix_hidden_dim": 32,
        "compression_hidden_dims": [24],
        "middle_hidden_dim": 24,
        "train_file": str(DEMO / "train.jsonl"),
        "validation_file": str(DEMO / "validation.jsonl"),
        "max_train_samples": 24,
        "max_eval_samples": 8,
        "max_source_length": 64,
        "max_target_length": 24,
        "output_dir": str(tmp_path / "run"),
        "do_train": True,
        "do_eval": True,
        "max_steps": 4,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "learning_rate": 1e-3,
        "save_steps": 2,
        "logging_steps": 1,
        "predict_with_generate": True,
        "max_new_tokens": 6,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 7,
    }
    recipe.update(overrides)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def parse_recipe(recipe: Path):
    """parse_args on a recipe; files a prepare step writes (data/chitchat/, git-ignored) become the demo files when
    they are not built here."""
    values = yaml.safe_load(recipe.read_text())
    files = []
    for key in ("train_file", "validation_file"):
        value = values.get(key) or []
        files += [value] if isinstance(value, str) else list(value)
    overrides = []
    if any("data/chitchat/" in f and not (REPO / f).is_file() for f in files):
        overrides = ["--train_file", str(DEMO / "train.jsonl"), "--validation_file", str(DEMO / "validation.jsonl")]
    return parse_args([str(recipe), *overrides])


@pytest.mark.parametrize("recipe", TRAINING_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_parses_into_the_dataclasses(recipe):
    if recipe.parent.name == "offline" and not (REPO.parent / "shared" / "data").is_dir():
        pytest.skip("the offline recipes read ../shared/data, which is not beside this checkout")
    model_args, data_args, training_args = parse_recipe(recipe)
    assert isinstance(model_args, ModelArguments) and isinstance(data_args, DataTrainingArguments)
    assert isinstance(training_args, Seq2SeqTrainingArguments)
    assert training_args.output_dir and training_args.do_train


def test_samsum_recipes_are_the_promised_methods():
    recipes = {p.stem: parse_recipe(p) for p in (REPO / "recipes" / "samsum").glob("*.yaml")}
    assert set(recipes) >= {"frozen", "lora", "int8", "qlora"}
    frozen, lora, int8, qlora = (recipes[name][0] for name in ("frozen", "lora", "int8", "qlora"))
    assert frozen.freeze_encoder and frozen.freeze_decoder and not frozen.decoder_lora
    assert lora.decoder_lora["target_modules"] == ["c_attn"] and lora.encoder_lora["target_modules"] == ["Wqkv"]
    assert int8.load_in_8bit and int8.decoder_lora and qlora.load_in_4bit and qlora.bnb_4bit_quant_type == "nf4"
    for _, _, training_args in recipes.values():
        assert training_args.fp16 and training_args.gradient_accumulation_steps > 1


def test_make_demo_chains_its_four_stages_and_gives_each_its_objective():
    stages = ("words", "pretrain", "warmup", "demo")
    parsed = {name: parse_recipe(REPO / "recipes" / "demo" / f"{name}.yaml") for name in stages}
    for before, after in zip(stages[:-1], stages[1:], strict=True):
        assert parsed[after][0].model_name_or_path == parsed[before][2].output_dir
    for name in ("words", "warmup"):  # the bag-of-words stages, without the decoder, at a large batch
        model_args, _, training_args = parsed[name]
        assert model_args.decoder_loss_weight == 0 and training_args.per_device_train_batch_size == 64
    for name in ("pretrain", "demo"):  # they continue a checkpoint that says 0: they must say otherwise
        model_args = parsed[name][0]
        assert model_args.decoder_loss_weight == 1 and model_args.bag_of_words_loss_weight > 0
    # One encoder cache for all four: same dialogues, source length and autocast, so one key.
    assert len({(p[1].feature_cache_dir, p[1].max_source_length, p[2].bf16) for p in parsed.values()}) == 1
    make = (REPO / "Makefile").read_text()
    runs = [make.index(f"run_summarization.py recipes/demo/{name}.yaml") for name in stages]
    assert runs == sorted(runs)


def test_seed_backbone_two_stage_recipes_adapt_every_linear_layer_of_modernbert_and_gpt2():
    # recipes/samsum/pretrain.yaml cannot run here (Hub backbones): its LoRA targets are checked on tiny ModernBERT
    # and GPT-2 models of the same architectures, and stage 2 continues stage 1's output folder.
    pretrain, _, pretrain_training = parse_recipe(REPO / "recipes" / "samsum" / "pretrain.yaml")
    summarize, _, _ = parse_recipe(REPO / "recipes" / "samsum" / "summarize.yaml")
    assert summarize.model_name_or_path == pretrain_training.output_dir
    model = tiny_model(
        "modernbert",
        "gpt2",
        pooling=pretrain.pooling,
        num_idea_vectors=2,
        prefix_len=4,
        encoder_lora=pretrain.encoder_lora,
        decoder_lora=pretrain.decoder_lora,
    )
    for backbone in (model.encoder, model.decoder):
        layers = [
            name
            for name, module in backbone.named_modules()
            if isinstance(module, (torch.nn.Linear, Conv1D)) and "lora_" not in name and "lm_head" not in name
        ]
        assert layers and all(name.endswith(".base_layer") for name in layers), layers  # each wrapped by LoRA


def test_head_fields_of_the_script_exist_on_the_arguments():
    fields = set(ModelArguments.__dataclass_fields__)
    assert set(HEAD_FIELDS) | set(LOSS_FIELDS) <= fields
    config_fields = set(LatentSpaceConfig.__dataclass_fields__)
    assert set(HEAD_FIELDS) | set(LOSS_FIELDS) <= config_fields


def test_an_empty_list_in_a_recipe_is_kept_and_builds_linear_heads(tmp_path, backbones):
    # `compression_hidden_dims: []` has no command-line spelling; it used to fall back to the default [512] silently.
    recipe = tiny_recipe(tmp_path, backbones, compression_hidden_dims=[])
    model_args, _, _ = parse_args([str(recipe)])
    assert model_args.compression_hidden_dims == []
    model, _ = build_model_and_processor(model_args)
    assert model.config.compression_hidden_dims == []
    assert [type(layer) for layer in model.compression.modules() if isinstance(layer, torch.nn.Linear)] == [
        torch.nn.Linear
    ]  # one linear map from the pooled features to the idea
    model_args, _, _ = parse_args([str(recipe), "--compression_hidden_dims", "8"])  # the command line still wins
    assert model_args.compression_hidden_dims == [8]


def test_command_line_overrides_the_recipe(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones)
    model_args, data_args, training_args = parse_args(
        [str(recipe), "--learning_rate", "0.5", "--latent_dim", "8", "--max_train_samples", "3"]
    )
    assert (training_args.learning_rate, model_args.latent_dim, data_args.max_train_samples) == (0.5, 8, 3)


def test_a_beam_width_below_one_is_refused_when_the_arguments_are_parsed(tmp_path, backbones):
    recipe = str(tiny_recipe(tmp_path, backbones))
    with pytest.raises(ValueError, match="`num_beams` must be at least 1, got 0"):
        parse_args([recipe, "--num_beams", "0"])
    assert parse_args([recipe, "--num_beams", "3"])[0].num_beams == 3


def test_unknown_keys_are_errors_that_name_the_key(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones, learnig_rate=1e-3)
    with pytest.raises(ValueError, match="learnig_rate"):
        parse_args([str(recipe)])
    with pytest.raises(ValueError, match="--not_an_option"):
        parse_args([str(tiny_recipe(tmp_path, backbones)), "--not_an_option", "1"])


def test_end_to_end_training_writes_checkpoint_rouge_and_card_then_run_eval_scores_it(tmp_path, backbones):
    recipe = tiny_recipe(
        tmp_path, backbones, do_predict=True, test_file=str(DEMO / "test.jsonl"), max_predict_samples=5
    )
    metrics = run_summarization.main([str(recipe)])
    run = tmp_path / "run"
    assert {"eval_rouge1", "eval_rouge2", "eval_rougeL", "eval_rougeLsum", "eval_gen_len"} <= set(metrics)
    assert (run / "checkpoint-4" / "model.safetensors").is_file()
    assert (run / "encoder_tokenizer").is_dir() and (run / "decoder_tokenizer").is_dir()
    assert json.loads((run / "config.json").read_text())["auto_map"]
    card = (run / "README.md").read_text()
    front_matter = yaml.safe_load(card.split("---")[1])
    rouge_l = next(m for m in front_matter["model-index"][0]["results"][0]["metrics"] if m["type"] == "rougeL")
    assert rouge_l["value"] == metrics["eval_rougeL"]
    assert str(backbones[0]) in card and str(backbones[1]) in card and '"learning_rate": 0.001' in card
    assert len((run / "generated_predictions.jsonl").read_text().splitlines()) == 5
    # The training dialogue length travels with the checkpoint, so inference cuts dialogues the same way.
    assert LatentSpaceInference.from_pretrained(run).max_source_length == 64

    results = run_eval.main(
        [
            "--model_name_or_path",
            str(run),
            "--validation_file",
            str(DEMO / "validation.jsonl"),
            "--max_samples",
            "6",
            "--batch_size",
            "4",
            "--max_new_tokens",
            "5",
            "--output_dir",
            str(tmp_path / "eval"),
        ]
    )
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and set(rows[0]) == {"id", "dialogue", "reference", "prediction"}
    assert rows[0]["id"] == "demo-validation-00000"
    saved = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert saved["rougeL"] == results["rougeL"] and saved["summaries_per_second"] > 0
    assert saved["max_source_length"] == 64


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones, do_eval=False)
    run_summarization.main([str(recipe), "--max_steps", "2"])  # "killed" after its checkpoint at step 2
    run = tmp_path / "run"
    assert (run / "checkpoint-2").is_dir()
    run_summarization.main([str(recipe), "--max_steps", "4"])
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    steps_logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps_logged == [1, 2, 3, 4]  # steps 1-2 come from the resumed checkpoint, not a fresh start


def test_explicit_resume_from_a_missing_checkpoint_is_a_clear_error(tmp_path, backbones):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_summarization.main([str(tiny_recipe(tmp_path, backbones)), "--resume_from_checkpoint", "/no/such/dir"])


def test_feature_cache_gives_the_same_training_losses(tmp_path, backbones):
    losses = {}
    for cached in (False, True):
        recipe = tiny_recipe(tmp_path, backbones, do_eval=False, output_dir=str(tmp_path / f"run-{cached}"))
        run_summarization.main([str(recipe), "--use_feature_cache", str(cached), "--save_strategy", "no"])
        state = json.loads((tmp_path / f"run-{cached}" / "trainer_state.json").read_text())
        losses[cached] = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses[True]) == 4
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_feature_cache_dir_serves_the_next_run_without_encoding_again(tmp_path, backbones, monkeypatch):
    cache_dir = tmp_path / "features"
    losses = []
    for run in range(2):
        recipe = tiny_recipe(tmp_path, backbones, do_eval=False, output_dir=str(tmp_path / f"run-{run}"))
        run_summarization.main(
            [
                str(recipe),
                "--use_feature_cache",
                "true",
                "--feature_cache_dir",
                str(cache_dir),
                "--save_strategy",
                "no",
            ]
        )
        state = json.loads((tmp_path / f"run-{run}" / "trainer_state.json").read_text())
        losses.append([entry["loss"] for entry in state["log_history"] if "loss" in entry])
        if run == 0:
            assert len(list(cache_dir.glob("encoder-states-*.pt"))) == 1

            def no_encoding(*args, **kwargs):
                raise AssertionError("the encoder ran although its outputs were on disk")

            monkeypatch.setattr(LatentSpaceForConditionalGeneration, "encoder_token_states", no_encoding)
    assert losses[1] == losses[0]
    # Other dialogues are another key: encoded again, not served the first run's states.
    monkeypatch.undo()
    recipe = tiny_recipe(tmp_path, backbones, do_eval=False, max_train_samples=12, output_dir=str(tmp_path / "run-2"))
    run_summarization.main(
        [str(recipe), "--use_feature_cache", "true", "--feature_cache_dir", str(cache_dir), "--save_strategy", "no"]
    )
    assert len(list(cache_dir.glob("encoder-states-*.pt"))) == 2


def test_feature_cache_dir_without_the_cache_or_on_a_file_is_refused_at_parsing(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones)
    with pytest.raises(ValueError, match="use_feature_cache"):
        parse_args([str(recipe), "--feature_cache_dir", str(tmp_path / "features")])
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        parse_args([str(recipe), "--use_feature_cache", "true", "--feature_cache_dir", str(tmp_path / "a-file")])


def test_feature_cache_refuses_a_trainable_encoder(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones, use_feature_cache=True, freeze_encoder=False)
    with pytest.raises(ValueError, match="frozen encoder"):
        run_summarization.main([str(recipe)])


def test_missing_column_is_a_clear_error_before_training(tmp_path, backbones):
    recipe = tiny_recipe(tmp_path, backbones, text_column="conversation")
    with pytest.raises(ValueError, match="no column\\(s\\) 'conversation'"):
        run_summarization.main([str(recipe)])
    assert not (tmp_path / "run").exists()


def test_empty_split_and_missing_files_are_clear_errors(tmp_path, backbones):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"id": "x", "dialogue": "  ", "summary": "s"}) + "\n")
    with pytest.raises(ValueError, match="Every dialogue of the train split is empty"):
        run_summarization.main([str(tiny_recipe(tmp_path, backbones, train_file=str(empty)))])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_args([str(tiny_recipe(tmp_path, backbones, train_file=str(tmp_path / "nope.jsonl")))])


def test_quantized_backbones_need_cuda(tmp_path, backbones):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model_args, _, _ = parse_args([str(tiny_recipe(tmp_path, backbones, load_in_8bit=True))])
    with pytest.raises(RuntimeError, match="need a CUDA GPU"):
        build_model_and_processor(model_args)


def test_lora_recipe_trains_adapters_and_reloads(tmp_path, backbones):
    recipe = tiny_recipe(
        tmp_path, backbones, do_eval=False, decoder_lora={"r": 2, "lora_alpha": 4, "target_modules": ["c_attn"]}
    )
    run_summarization.main([str(recipe)])
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "run")
    assert any("lora_A" in name for name, _ in model.decoder.named_parameters())


def test_run_eval_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model checkpoint"):
        run_eval.main(
            ["--model_name_or_path", str(tmp_path / "missing"), "--validation_file", str(DEMO / "validation.jsonl")]
        )
    with pytest.raises(ValueError, match="`max_source_length` must be at least 1, got 0"):
        run_eval.main(["--model_name_or_path", str(tmp_path), "--max_source_length", "0"])


def test_several_train_files_are_concatenated_on_their_shared_columns(tmp_path, backbones):
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        json.dumps({"id": "e1", "dialogue": "A: hi\nB: hello", "summary": "They greet.", "topic": "x"}) + "\n"
    )
    from training.data import load_raw_splits

    raw = load_raw_splits(data_files={"train": [str(DEMO / "train.jsonl"), str(extra)]}, splits=("train",))
    assert len(raw["train"]) == 1201 and raw["train"][-1]["id"] == "e1"
    assert set(raw["train"].column_names) == {"id", "dialogue", "summary"}


def test_training_on_from_a_trained_checkpoint_keeps_its_backbones_and_prompt(tmp_path, backbones, caplog):
    recipe = tiny_recipe(
        tmp_path,
        backbones,
        do_eval=False,
        pooling="segments",
        num_idea_vectors=2,
        decoder_prompt="summary of {idea} :",
    )
    run_summarization.main([str(recipe), "--max_steps", "2"])
    first = tmp_path / "run"
    config = json.loads((first / "config.json").read_text())
    assert config["num_idea_vectors"] == 2 and config["prompt_prefix_ids"] and config["prompt_suffix_ids"]
    assert "2 idea vectors of 16 dimensions" in (first / "README.md").read_text()

    second = tmp_path / "second"
    with caplog.at_level("WARNING"):
        # The feature cache refuses a trainable encoder, so this run also proves the loaded encoder is frozen.
        run_summarization.main(
            [
                str(recipe),
                "--model_name_or_path",
                str(first),
                "--output_dir",
                str(second),
                "--use_feature_cache",
                "true",
                "--log_level",
                "warning",
            ]
        )
    warning = next(record.getMessage() for record in caplog.records if "ignored" in record.getMessage())
    assert "num_idea_vectors" in warning and "decoder_prompt" in warning
    before = AutoModelForSeq2SeqLM.from_pretrained(first).state_dict()
    after = AutoModelForSeq2SeqLM.from_pretrained(second).state_dict()
    assert json.loads((second / "config.json").read_text())["prompt_prefix_ids"] == config["prompt_prefix_ids"]
    for name, value in after.items():
        if name.startswith(("encoder.", "decoder.")):
            torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=f"{name} changed")
    assert any(not torch.equal(after[n], before[n]) for n in after if n.startswith("prefix_adapter."))
