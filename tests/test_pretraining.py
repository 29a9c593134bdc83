"""Issue 13: the chat corpus, memory-token pooling, autoencoding pre-training and continuing from it, speaker metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import TrainerControl, TrainerState, TrainingArguments

import run_summarization
from metrics.speakers import first_name_is_speaker, first_named_person, speaker_recall, speaker_scores, speakers
from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration
from tests.tiny_backbones import WORDS, save_tiny_backbones, tiny_model, tiny_processor
from training.arguments import parse_args
from training.callbacks import TimeBudgetCallback
from training.chat_corpus import ChatWindowSettings, build_chat_windows, conversation_windows
from training.feature_cache import attach_feature_cache
from training.model_setup import build_model_and_processor

REPO = Path(__file__).resolve().parents[1]


# -- the chat corpus ---------------------------------------------------------------------------------------------------


def fake_conversations(count: int = 40, seed: int = 0) -> dict:
    """chitchat-dataset's format: messages are turns, each a list of one sender's utterances."""
    generator = torch.Generator().manual_seed(seed)
    conversations = {}
    for c in range(count):
        senders = [f"user-{c}-a", f"user-{c}-b"]
        turns = []
        for t in range(int(torch.randint(4, 40, (1,), generator=generator))):
            sender = senders[t % 2]
            turns.append([{"text": f"turn {t} of {c} line {u}", "sender": sender} for u in range(1 + t % 3)])
        conversations[f"conv-{c}"] = {"messages": turns}
    return conversations


def test_chat_windows_are_deterministic_given_the_seed():
    settings = ChatWindowSettings(seed=3, heldout_fraction=0.2)
    first = build_chat_windows(fake_conversations(), settings)
    assert first == build_chat_windows(fake_conversations(), settings)
    other = build_chat_windows(fake_conversations(), ChatWindowSettings(seed=4, heldout_fraction=0.2))
    assert first != other


def test_each_speaker_keeps_one_name_within_a_window_and_speakers_get_different_names():
    conversation = fake_conversations(1)["conv-0"]
    windows = list(conversation_windows("conv-0", conversation, ChatWindowSettings(seed=1)))
    assert windows
    for window in windows:
        lines = window["dialogue"].splitlines()
        assert 3 <= len(lines) <= 30 and len(lines) == window["num_turns"]
        names = [line.split(":")[0] for line in lines]
        assert set(names) == set(window["speakers"]) and len(set(window["speakers"])) == len(window["speakers"])
        # the fake turns alternate speakers: each line's turn number says who spoke it
        by_turn = {int(line.split()[2]) % 2: line.split(":")[0] for line in lines}
        for line in lines:
            assert line.split(":")[0] == by_turn[int(line.split()[2]) % 2]


def test_heldout_conversations_never_reach_training():
    train, heldout = build_chat_windows(fake_conversations(60), ChatWindowSettings(heldout_fraction=0.25))
    conversation = lambda row: row["id"].rsplit("-", 1)[0]  # noqa: E731
    assert heldout and train
    assert not {conversation(r) for r in train} & {conversation(r) for r in heldout}


def test_bad_window_settings_are_clear_errors():
    with pytest.raises(ValueError, match="min_turns"):
        ChatWindowSettings(min_turns=5, max_turns=4)
    with pytest.raises(ValueError, match="heldout_fraction"):
        ChatWindowSettings(heldout_fraction=1.0)


# -- memory-token pooling ------------------------------------------------------------------------------------------------


def test_memory_pooling_does_not_depend_on_padding():
    model = tiny_model("llama", "llama", pooling="memory", num_idea_vectors=4, prefix_len=8).eval()
    ids = torch.randint(5, 200, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    batched = model.encode(ids, mask)
    alone = model.encode(ids[1:2, :7], mask[1:2, :7])
    torch.testing.assert_close(batched[1:2], alone, rtol=1e-4, atol=1e-5)
    assert batched.shape == (2, 4 * 16)


def test_memory_embeddings_train_while_the_frozen_encoder_does_not():
    model = tiny_model("llama", "llama", pooling="memory", num_idea_vectors=2, prefix_len=4)
    ids = torch.randint(5, 200, (2, 6))
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.randint(5, 200, (2, 4))).loss.backward()
    assert model.pooler.memory.grad is not None and model.pooler.memory.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.encoder.parameters())


def test_memory_pooling_round_trips_and_refuses_the_feature_cache(tmp_path):
    model = tiny_model("llama", "llama", pooling="memory", num_idea_vectors=2, prefix_len=4).eval()
    ids = torch.randint(5, 200, (2, 6))
    model.save_pretrained(tmp_path)
    loaded = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.encode(ids), model.encode(ids))
    with pytest.raises(ValueError, match="memory"):
        attach_feature_cache(model, None, None, None)
    with pytest.raises(ValueError, match="memory"):
        model.encode(None, torch.ones(2, 3), encoder_hidden_states=torch.zeros(2, 3, 32))


def test_memory_pooling_needs_no_segments_to_write_several_ideas():
    config = LatentSpaceConfig(pooling="memory", num_idea_vectors=8, prefix_len=16)
    assert config.pooled_vectors == 8 and config.latent_size == 8 * config.latent_dim


# -- pre-training, then fine-tuning from it ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_backbones(tmp_path_factory) -> tuple[Path, Path]:
    return save_tiny_backbones(tmp_path_factory.mktemp("llama_backbones"), encoder="llama", decoder="llama")


def write_chats(path: Path, count: int = 8) -> Path:
    """Short word-level chats in the tiny tokenizers' vocabulary, each its own autoencoding target."""
    generator = torch.Generator().manual_seed(0)
    names, words = ["anna", "tom", "kate", "john"], [w for w in WORDS if w.isalpha()]
    with path.open("w") as handle:
        for i in range(count):
            picks = [words[int(j)] for j in torch.randint(0, len(words), (6,), generator=generator)]
            dialogue = f"{names[i % 4]} : {' '.join(picks[:3])}\n{names[(i + 1) % 4]} : {' '.join(picks[3:])}"
            handle.write(json.dumps({"id": str(i), "dialogue": dialogue, "summary": " ".join(picks[:4])}) + "\n")
    return path


def pretrain_recipe(tmp_path: Path, backbones: tuple[Path, Path], **overrides) -> Path:
    chats = write_chats(tmp_path / "chats.jsonl")
    recipe = {
        "encoder_name_or_path": str(backbones[0]),
        "decoder_name_or_path": str(backbones[1]),
        "pooling": "memory",
        "num_idea_vectors": 4,
        "latent_dim": 16,
        "prefix_len": 8,
        "prefix_hidden_dim": 32,
        "compression_hidden_dims": [24],
        "middle_hidden_dim": 24,
        "head_dropout": 0.0,
        "decoder_lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "train_file": str(chats),
        "validation_file": str(chats),
        "summary_column": "dialogue",
        "max_source_length": 32,
        "max_target_length": 24,
        "output_dir": str(tmp_path / "pretrain"),
        "do_train": True,
        "do_eval": True,
        "max_steps": 60,
        "per_device_train_batch_size": 8,
        "learning_rate": 3e-3,
        "save_strategy": "no",
        "logging_steps": 10,
        "predict_with_generate": False,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
    }
    recipe.update(overrides)
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_autoencoding_pretraining_loss_falls_and_fine_tuning_continues_from_it(tmp_path, llama_backbones):
    run_summarization.main([str(pretrain_recipe(tmp_path, llama_backbones))])
    history = json.loads((tmp_path / "pretrain" / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses[-1] < 0.7 * losses[0], losses

    finetune = tmp_path / "finetune.yaml"
    recipe = yaml.safe_load((tmp_path / "pretrain.yaml").read_text())
    recipe.update(
        model_name_or_path=str(tmp_path / "pretrain"),
        summary_column="summary",
        output_dir=str(tmp_path / "finetune"),
        max_steps=2,
        predict_with_generate=True,
        max_new_tokens=4,
        num_beams=2,
    )
    for head_field in ("pooling", "num_idea_vectors", "latent_dim", "prefix_len", "decoder_lora"):
        recipe.pop(head_field)
    finetune.write_text(yaml.safe_dump(recipe))
    metrics = run_summarization.main([str(finetune)])
    assert "eval_rougeL" in metrics
    config = json.loads((tmp_path / "finetune" / "config.json").read_text())
    assert config["pooling"] == "memory" and config["num_idea_vectors"] == 4 and config["decoder_lora"]
    generation = json.loads((tmp_path / "finetune" / "generation_config.json").read_text())
    assert generation["num_beams"] == 2 and generation["max_new_tokens"] == 4


def test_continuing_a_checkpoint_on_other_backbones_is_refused_before_loading(tmp_path, llama_backbones):
    model = tiny_model("llama", "llama", pooling="memory", num_idea_vectors=2, prefix_len=4)
    model.config.encoder_name_or_path = str(llama_backbones[0])
    model.config.decoder_name_or_path = str(llama_backbones[1])
    model.save_pretrained(tmp_path / "pretrained")
    model_args, _, _ = parse_args(
        [
            str(pretrain_recipe(tmp_path, llama_backbones)),
            "--model_name_or_path",
            str(tmp_path / "pretrained"),
            "--decoder_name_or_path",
            "backbones/some-other-decoder",
        ]
    )
    with pytest.raises(ValueError, match="trained on the decoder"):
        build_model_and_processor(model_args)


def saved_checkpoint(path: Path, backbones: tuple[Path, Path], **heads) -> Path:
    model = tiny_model("llama", "llama", pooling="memory", num_idea_vectors=2, prefix_len=4, **heads)
    model.config.encoder_name_or_path, model.config.decoder_name_or_path = map(str, backbones)
    model.save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return path


def test_a_bag_of_words_stage_trains_the_heads_alone_and_the_next_stage_takes_its_own_loss_weights(
    tmp_path, llama_backbones
):
    start = saved_checkpoint(
        tmp_path / "start", llama_backbones, latent_to_logits=True, bag_of_words_loss_weight=1.0, head_dropout=0.0
    )
    warmup = pretrain_recipe(
        tmp_path,
        llama_backbones,
        model_name_or_path=str(start),
        decoder_loss_weight=0.0,
        summary_column="summary",
        output_dir=str(tmp_path / "warmup"),
        max_steps=40,
        learning_rate=1e-2,
        do_eval=False,
    )
    run_summarization.main([str(warmup)])
    history = json.loads((tmp_path / "warmup" / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0], losses
    before = LatentSpaceForConditionalGeneration.from_pretrained(start)
    after = LatentSpaceForConditionalGeneration.from_pretrained(tmp_path / "warmup")
    assert after.config.decoder_loss_weight == 0.0
    assert not torch.equal(before.latent_logits.weight, after.latent_logits.weight)
    for name, weight in before.prefix_adapter.state_dict().items():  # no decoder pass: the soft prompt is untouched
        torch.testing.assert_close(after.prefix_adapter.state_dict()[name], weight)

    # The summary stage continues the warmed-up checkpoint with its own objective; head settings stay the checkpoint's.
    model_args, _, _ = parse_args(
        [str(warmup), "--model_name_or_path", str(tmp_path / "warmup"), "--decoder_loss_weight", "1.0",
         "--bag_of_words_loss_weight", "3.0", "--prefix_len", "8"]
    )  # fmt: skip
    model, _ = build_model_and_processor(model_args)
    assert (model.config.decoder_loss_weight, model.config.bag_of_words_loss_weight) == (1.0, 3.0)
    assert model.config.prefix_len == 4


def test_loss_weights_a_checkpoint_cannot_train_with_are_refused_before_loading(
    tmp_path, llama_backbones, monkeypatch
):
    start = saved_checkpoint(tmp_path / "plain", llama_backbones)  # no latent_to_logits route
    model_args, _, _ = parse_args(
        [str(pretrain_recipe(tmp_path, llama_backbones)), "--model_name_or_path", str(start),
         "--decoder_loss_weight", "0"]
    )  # fmt: skip

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded before the settings were checked")

    monkeypatch.setattr("training.model_setup.AutoModelForSeq2SeqLM.from_pretrained", no_loading)
    with pytest.raises(ValueError, match="nothing would be trained"):
        build_model_and_processor(model_args)


def test_time_budget_stops_training():
    callback = TimeBudgetCallback(minutes=1e-9)
    state, control = TrainerState(global_step=3, max_steps=10), TrainerControl()
    args = TrainingArguments(output_dir="unused", use_cpu=True, report_to="none")
    callback.on_train_begin(args, state, control)
    assert callback.on_step_end(args, state, control).should_training_stop
    with pytest.raises(ValueError, match="positive"):
        TimeBudgetCallback(0)


# -- speaker metrics -------------------------------------------------------------------------------------------------------------


DIALOGUE = "Anna Smith: Lunch at noon?\nTom: Sure, see you at the park.\nAnna Smith: Great!"


def test_speakers_and_first_named_person():
    assert speakers(DIALOGUE) == ["Anna Smith", "Tom"]
    assert speakers("#Person1#: Hi.\n#Person2#: Hello.") == ["#Person1#", "#Person2#"]
    assert first_named_person("They agreed. Tom's lunch with Anna is at noon.") == "Tom"
    assert first_named_person("#Person1# asks #Person2# for directions.") == "#Person1#"
    assert first_named_person("no names here.") is None


def test_first_name_is_speaker_and_recall():
    assert first_name_is_speaker("Anna and Tom will meet at noon.", DIALOGUE)
    assert not first_name_is_speaker("Liam is going to the party.", DIALOGUE)
    assert speaker_recall("Tom will come.", DIALOGUE) == 0.5
    scores = speaker_scores(["Anna and Tom meet.", "Liam goes."], [DIALOGUE, DIALOGUE])
    assert scores == {"first_name_is_speaker": 50.0, "speaker_recall": 50.0}


def test_the_offline_recipes_never_train_on_evaluation_files():
    for name in ("pretrain", "summarize"):
        recipe = yaml.safe_load((REPO / "recipes" / "offline" / f"{name}.yaml").read_text())
        train_files = recipe["train_file"]
        assert train_files and not any("validation" in f or "test" in f or "heldout" in f for f in train_files)
        assert "validation" in recipe["validation_file"] or "heldout" in recipe["validation_file"]


def test_a_non_positive_time_budget_is_refused_before_anything_loads(tmp_path, llama_backbones):
    with pytest.raises(ValueError, match="max_train_minutes"):
        parse_args([str(pretrain_recipe(tmp_path, llama_backbones)), "--max_train_minutes", "0"])
