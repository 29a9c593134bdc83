"""The CALM family: autoencoder, clamped KL, the student's three losses, generation, save/load, data and run_calm."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from modeling import CalmAutoencoder, CalmAutoencoderConfig, CalmConfig, CalmForCausalLM
from tests.tiny_backbones import decoder_tokenizer
from training.calm import kd_loss_reference
from training.calm_data import build_corpus, pack_blocks

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 48
EOS, PAD = 1, 0


def ae_config(**kwargs) -> CalmAutoencoderConfig:
    values = dict(
        vocab_size=VOCAB, patch_size=4, latent_size=16, hidden_size=32, intermediate_size=64, num_encoder_layers=1,
        num_decoder_layers=1, pad_token_id=PAD, eos_token_id=EOS,
    )  # fmt: skip
    return CalmAutoencoderConfig(**{**values, **kwargs})


def student(seed: int = 0, **kwargs) -> CalmForCausalLM:
    torch.manual_seed(seed)
    values = dict(
        autoencoder=ae_config(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    return CalmForCausalLM(CalmConfig(**{**values, **kwargs})).eval()


def tiny_teacher(vocab: int = VOCAB) -> LlamaForCausalLM:
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, eos_token_id=EOS, pad_token_id=PAD,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


# -- autoencoder ---------------------------------------------------------------------------------------------------


def test_autoencoder_trained_on_one_chunk_reconstructs_it():
    torch.manual_seed(0)
    model = CalmAutoencoder(ae_config(token_dropout=0.0, latent_dropout=0.0)).train()
    chunk = torch.tensor([[5, 17, 3, 42]])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = model(chunk.repeat(4, 1)).loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    mean, _ = model.encode(chunk)
    assert mean.shape == (1, 1, 16)
    assert torch.equal(model.decode(mean).argmax(-1), chunk)
    assert float(loss) < first / 4


def test_autoencoder_patches_k_tokens_into_one_latent_and_refuses_partial_chunks():
    model = CalmAutoencoder(ae_config()).eval()
    mean, logvar = model.encode(torch.randint(2, VOCAB, (3, 12)))
    assert mean.shape == logvar.shape == (3, 3, 16)
    assert model.decode(mean).shape == (3, 12, VOCAB)
    with pytest.raises(ValueError, match="chunks of K=4 tokens"):
        model.encode(torch.randint(2, VOCAB, (1, 6)))


def test_kl_is_clamped_from_below_per_dimension():
    model = CalmAutoencoder(ae_config(kl_clamp=0.5))
    mean = torch.zeros(1, 2, 16, requires_grad=True)
    logvar = torch.zeros(1, 2, 16, requires_grad=True)
    kl = model.clamped_kl(mean, logvar)  # the posterior is the prior: KL 0, clamped to 0.5 in each of 16 dims
    assert kl.item() == pytest.approx(0.5 * 16)
    kl.backward()
    assert mean.grad.abs().sum() == 0 and logvar.grad.abs().sum() == 0  # below the floor: no pull to the prior
    far = torch.full((1, 1, 16), 2.0)  # KL of each dim = 0.5 * 2^2 = 2 > 0.5: unclamped
    assert model.clamped_kl(far, torch.zeros_like(far)).item() == pytest.approx(2.0 * 16)


def test_autoencoder_loss_is_k_times_token_ce_plus_weighted_kl():
    model = CalmAutoencoder(ae_config(kl_weight=0.01)).eval()
    ids = torch.randint(2, VOCAB, (2, 8))
    labels = ids.clone()
    labels[0, :2] = -100  # left padding is not scored
    out = model(ids, labels=labels)
    ce = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    assert out.recon_loss.item() == pytest.approx(4 * ce.item(), rel=1e-5)
    assert out.loss.item() == pytest.approx(out.recon_loss.item() + 0.01 * out.kl_loss.item(), rel=1e-5)


def test_token_and_latent_dropout_act_only_in_training():
    model = CalmAutoencoder(ae_config(token_dropout=0.5, latent_dropout=0.5))
    ids = torch.randint(2, VOCAB, (2, 8))
    model.eval()
    assert torch.equal(model(ids).logits, model(ids).logits)
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(ids).logits, model(ids).logits)
    with pytest.raises(ValueError, match="token_dropout"):
        ae_config(token_dropout=1.0)


# -- student losses ------------------------------------------------------------------------------------------------


def test_each_student_loss_matches_its_definition():
    model = student(kd_weight=0.5, ce_weight=2.0, mse_weight=3.0, kd_temperature=2.0)
    teacher = tiny_teacher()
    model.set_teacher(teacher)
    ids = torch.randint(2, VOCAB, (2, 16))
    out = model(input_ids=ids)
    with torch.no_grad():
        targets, _ = model.autoencoder.encode(ids)
        predicted, _ = model.predict_latents(targets[:, :-1])
        logits = model.autoencoder.decode(predicted)
        teacher_logits = teacher(input_ids=ids).logits[:, 3:-1]
    assert out.mse_loss.item() == pytest.approx(F.mse_loss(predicted, targets[:, 1:]).item(), rel=1e-5)
    ce = F.cross_entropy(logits.flatten(0, 1), ids[:, 4:].flatten())
    assert out.ce_loss.item() == pytest.approx(ce.item(), rel=1e-5)
    kd = kd_loss_reference(logits.flatten(0, 1), teacher_logits.flatten(0, 1), 2.0)
    assert out.kd_loss.item() == pytest.approx(kd.item(), rel=1e-4)
    total = 3.0 * out.mse_loss + 2.0 * out.ce_loss + 0.5 * out.kd_loss
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-5)


def test_zero_weights_and_no_teacher_drop_terms():
    ids = torch.randint(2, VOCAB, (1, 12))
    out = student(kd_weight=1.0)(input_ids=ids)  # no teacher attached: no KD term
    assert out.kd_loss is None and out.ce_loss is not None
    out = student(ce_weight=0.0, kd_weight=0.0)(input_ids=ids)
    assert out.ce_loss is None and out.loss.item() == pytest.approx(out.mse_loss.item())


def test_autoencoder_stays_frozen_while_the_student_trains():
    model = student().train()
    model.set_teacher(tiny_teacher())
    assert not model.autoencoder.training
    model(input_ids=torch.randint(2, VOCAB, (2, 12))).loss.backward()
    assert all(p.grad is None for p in model.autoencoder.parameters())
    assert all(p.grad is not None for p in model.layers.parameters())
    assert "teacher" not in "".join(model.state_dict())  # the teacher is neither trained nor saved


def test_student_loss_falls_on_a_repeated_sequence():
    model = student(ce_weight=0.0, kd_weight=0.0).train()  # the latent target of a repeated text is learnable
    ids = torch.randint(2, VOCAB, (1, 16)).repeat(2, 1)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        loss = model(input_ids=ids).loss
        losses.append(float(loss))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0]


# -- generation ----------------------------------------------------------------------------------------------------


def test_generation_length_ar_steps_and_kv_cache():
    model = student()
    ids = torch.randint(2, VOCAB, (2, 8))
    out = model.generate(input_ids=ids, max_new_tokens=10, temperature=0, stop_at_eos=False)
    assert out.sequences.shape == (2, 10) and out.num_new_tokens == [10, 10]
    assert out.ar_steps == math.ceil(10 / 4)
    no_cache = model.generate(input_ids=ids, max_new_tokens=10, temperature=0, stop_at_eos=False, use_cache=False)
    assert torch.equal(out.sequences, no_cache.sequences)
    assert model.generate(input_ids=ids, max_new_tokens=0).sequences.shape == (2, 0)


def test_left_padded_batch_generates_what_each_prompt_does_alone():
    model = student()
    short, long = torch.randint(2, VOCAB, (1, 5)), torch.randint(2, VOCAB, (1, 11))
    mask = torch.ones(2, 11, dtype=torch.long)
    mask[0, :6] = 0
    batch = torch.cat((torch.cat((torch.zeros(1, 6, dtype=torch.long), short), 1), long))
    together = model.generate(input_ids=batch, attention_mask=mask, max_new_tokens=8, temperature=0)
    alone = [model.generate(input_ids=p, max_new_tokens=8, temperature=0).sequences[0] for p in (short, long)]
    assert torch.equal(together.sequences[0], alone[0]) and torch.equal(together.sequences[1], alone[1])


def test_generation_stops_a_row_at_eos_and_pads_after_it():
    model = student()
    chunks = iter([torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]]), torch.tensor([[9, EOS, 10, 11], [13, 14, 15, 16]])])

    def fake_decode(latents):  # scripted chunks: row 0 ends in the second step, row 1 runs on
        tokens = next(chunks, torch.tensor([[20, 21, 22, 23], [EOS, 24, 25, 26]]))
        return F.one_hot(tokens, VOCAB).float() * 10

    model.autoencoder.decode = fake_decode
    out = model.generate(input_ids=torch.randint(2, VOCAB, (2, 4)), max_new_tokens=20, temperature=0)
    assert out.num_new_tokens == [6, 9]
    assert out.sequences[0, :6].tolist() == [5, 6, 7, 8, 9, EOS] and (out.sequences[0, 6:] == PAD).all()
    assert out.ar_steps == 3  # everyone finished after the third step, long before max_new_tokens


def test_sampling_settings_greedy_top_k_and_seed():
    model = student()
    ids = torch.randint(2, VOCAB, (1, 8))
    greedy = model.generate(input_ids=ids, max_new_tokens=12, temperature=0, stop_at_eos=False).sequences
    top1 = model.generate(input_ids=ids, max_new_tokens=12, temperature=1.5, top_k=1, stop_at_eos=False).sequences
    assert torch.equal(greedy, top1)
    runs = [
        model.generate(input_ids=ids, max_new_tokens=12, temperature=1.0, top_p=0.9, seed=s, stop_at_eos=False)
        for s in (7, 7, 8)
    ]
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    assert not torch.equal(runs[0].sequences, runs[2].sequences)


def test_text_prompt_and_bad_settings():
    tokenizer = decoder_tokenizer()
    model = student(autoencoder=ae_config(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id))
    out = model.generate(prompt=["hi tom", "see you at the park"], tokenizer=tokenizer, max_new_tokens=6, seed=0)
    assert len(out.texts) == 2 and all(isinstance(t, str) for t in out.texts)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(prompt="hi", tokenizer=tokenizer, max_new_tokens=-1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(prompt="hi", tokenizer=tokenizer, top_p=0.0)
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(prompt="hi")
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(input_ids=torch.randint(2, 20, (1, 4 * 40)), max_new_tokens=4)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="num_attention_heads"):
        CalmConfig(autoencoder=ae_config(), hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="patch_size"):
        ae_config(patch_size=0)


# -- save / load ---------------------------------------------------------------------------------------------------


def test_save_load_exact_and_with_remote_code_only(tmp_path):
    model = student()
    ids = torch.randint(2, VOCAB, (1, 8))
    expected = model.generate(input_ids=ids, max_new_tokens=8, temperature=0).sequences
    model.save_pretrained(tmp_path / "student")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "student").eval()
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    assert loaded.autoencoder.lm_head.weight.data_ptr() == loaded.autoencoder.embed_tokens.weight.data_ptr()
    assert not any(p.requires_grad for p in loaded.autoencoder.parameters())
    autoencoder = model.autoencoder
    autoencoder.save_pretrained(tmp_path / "ae")
    assert isinstance(AutoModel.from_pretrained(tmp_path / "ae"), CalmAutoencoder)
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_calm.CalmForCausalLM"
    # A process that never imports this repository's `modeling` loads it through the saved code.
    script = (
        "import sys, torch; from transformers import AutoModelForCausalLM; "
        f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path / 'student')!r}, trust_remote_code=True).eval(); "
        "assert 'modeling' not in sys.modules, 'repo package imported'; "
        f"out = m.generate(input_ids=torch.tensor({ids.tolist()}), max_new_tokens=8, temperature=0); "
        "print(out.sequences.tolist())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected.tolist()


# -- data ----------------------------------------------------------------------------------------------------------


def test_blocks_keep_chunks_inside_one_document():
    blocks = pack_blocks([[5, 6, 7], [8, 9, 10, 11, 12], [13]], patch_size=4, block_size=8, separator_id=1, pad_id=0)
    # doc 1: 5 6 7 <eos> (4, no pad); doc 2: 8..12 <eos> = 6 -> 2 pads; doc 3: 13 <eos> -> 2 pads
    assert blocks["input_ids"] == [[5, 6, 7, 1, 0, 0, 8, 9], [10, 11, 12, 1, 0, 0, 13, 1]]
    assert blocks["labels"][0] == [5, 6, 7, 1, -100, -100, 8, 9]
    with pytest.raises(ValueError, match="multiple of K"):
        pack_blocks([[1]], patch_size=4, block_size=6, separator_id=1, pad_id=0)


def test_corpus_keeps_held_out_text_out_of_training(tmp_path):
    data = tmp_path / "data"
    rows = {
        "samsum/train.jsonl": [{"dialogue": "A: hi", "summary": "s1"}],
        "dialogsum/train.jsonl": [{"dialogue": "B: yo", "summary": "s2"}],
        "gsm8k/train.jsonl": [{"question": "1+1?", "answer": "#### 2"}],
        "samsum/validation.jsonl": [{"dialogue": "C: held out", "summary": "s3"}],
        "gsm8k/validation.jsonl": [{"question": "2+2?", "answer": "#### 4"}],
    }
    for name, items in rows.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in items))
    summary = build_corpus(
        tmp_path / "corpus", data, use_chitchat=True, chitchat_validation_share=0.2, max_chitchat=200
    )
    train = [json.loads(line)["text"] for line in (tmp_path / "corpus" / "train.jsonl").open()]
    valid = [json.loads(line)["text"] for line in (tmp_path / "corpus" / "validation.jsonl").open()]
    assert summary["train"]["chitchat"] + summary["validation"]["chitchat"] == 200
    assert summary["validation"]["chitchat"] > 10 and summary["validation"]["samsum"] == 1
    assert "C: held out\ns3" not in train and "2+2?\n#### 4" not in train
    assert "C: held out\ns3" in valid and "A: hi\ns1" in train
    with pytest.raises(FileNotFoundError, match="shared data"):
        build_corpus(tmp_path / "c2", tmp_path / "missing", use_chitchat=False)


# -- run_calm.py ---------------------------------------------------------------------------------------------------


def test_run_calm_trains_both_stages_from_the_recipes(tmp_path):
    import run_calm

    tokenizer = decoder_tokenizer()
    teacher_dir = tmp_path / "teacher"
    tiny_teacher(len(tokenizer)).save_pretrained(teacher_dir)
    tokenizer.save_pretrained(teacher_dir)
    lines = ["anna : hi tom ! lunch at noon ?", "tom : sure , see you at the park .", "kate : can you buy coffee ?"]
    for split, count in (("train", 30), ("validation", 6)):
        (tmp_path / f"{split}.jsonl").write_text(
            "".join(json.dumps({"text": lines[i % 3]}) + "\n" for i in range(count))
        )
    common = [
        "--teacher_name_or_path", str(teacher_dir), "--train_file", str(tmp_path / "train.jsonl"),
        "--validation_file", str(tmp_path / "validation.jsonl"), "--block_size", "16", "--bf16", "false",
        "--max_steps", "3", "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2",
        "--dataloader_num_workers", "0", "--save_strategy", "no", "--logging_steps", "1",
    ]  # fmt: skip
    ae_metrics = run_calm.main(
        ["recipes/calm/autoencoder.yaml", *common, "--output_dir", str(tmp_path / "ae"), "--hidden_size", "16",
         "--intermediate_size", "32", "--latent_size", "8"]
    )  # fmt: skip
    for key in (
        "eval_token_accuracy",
        "eval_chunk_exact",
        "eval_token_accuracy_noise0.1",
        "eval_chunk_exact_noise0.3",
    ):
        assert 0.0 <= ae_metrics[key] <= 1.0
    metrics = run_calm.main(
        ["recipes/calm/student.yaml", *common, "--autoencoder_name_or_path", str(tmp_path / "ae"), "--output_dir",
         str(tmp_path / "student"), "--hidden_size", "16", "--intermediate_size", "32", "--num_hidden_layers", "1",
         "--num_attention_heads", "2", "--teacher_dtype", "float32"]
    )  # fmt: skip
    assert {"eval_mse_loss", "eval_ce_loss", "eval_kd_loss"} <= set(metrics)
    saved = CalmForCausalLM.from_pretrained(tmp_path / "student")
    trained_ae = CalmAutoencoder.from_pretrained(tmp_path / "ae")
    assert torch.equal(saved.autoencoder.to_latent.weight, trained_ae.to_latent.weight)  # frozen in stage 2
    card = (tmp_path / "student" / "README.md").read_text()
    assert "K=4" in card and "base_model" not in card  # a local teacher without a Hub id is not named as base


def test_recipes_parse_and_student_needs_an_autoencoder():
    from run_calm import ARGUMENT_CLASSES
    from training.arguments import parse_args

    for recipe in sorted((ROOT / "recipes" / "calm").glob("*.yaml")):
        extra = ["--autoencoder_name_or_path", "x/ae"] if "student" in recipe.name else []
        argv = [str(recipe), "--train_file", "", "--validation_file", "", "--bf16", "false", *extra]
        model_args, data_args, _ = parse_args(argv, ARGUMENT_CLASSES)
        assert data_args.block_size % 4 == 0
    with pytest.raises(ValueError, match="autoencoder_name_or_path"):
        parse_args(["--stage", "student"], ARGUMENT_CLASSES)
    with pytest.raises(ValueError, match="stage"):
        parse_args(["--stage", "decoder"], ARGUMENT_CLASSES)


# -- CLI and benchmark ---------------------------------------------------------------------------------------------


def tiny_text_student(tmp_path) -> tuple[Path, object]:
    tokenizer = decoder_tokenizer()
    model = student(autoencoder=ae_config(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id))
    model.save_pretrained(tmp_path / "student")
    tokenizer.save_pretrained(tmp_path / "student")
    return tmp_path / "student", tokenizer


def test_cli_prints_a_continuation(tmp_path, capsys):
    import run_calm_inference

    folder, _ = tiny_text_student(tmp_path)
    argv = ["--model", str(folder), "--prompt", "anna : hi", "--max_new_tokens", "6", "--temperature", "0", "--json"]
    assert run_calm_inference.main(argv) == 0
    reply = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert reply["prompt"] == "anna : hi" and reply["num_tokens"] <= 6 and reply["compression_factor"] == 4
    with pytest.raises(SystemExit):
        run_calm_inference.main(["--model", str(folder), "--prompt", "hi", "--top_p", "1.5"])


def test_generation_benchmark_reports_speed_steps_and_brier(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calm_generation

    folder, tokenizer = tiny_text_student(tmp_path)
    model = CalmForCausalLM.from_pretrained(folder).eval()
    teacher = tiny_teacher(len(tokenizer))
    texts = ["anna : hi tom ! lunch at noon ? tom : sure , see you at the park ."] * 6
    result = calm_generation.run(
        model, teacher, tokenizer, texts, torch.device("cpu"), batch_sizes=[1, 2], max_new_tokens=8,
        context_tokens=4, repeats=1, brier_contexts=4, quality_contexts=2, num_samples=1,
    )  # fmt: skip
    for row in result["speed"].values():
        assert row["student"]["ar_steps"] == 2 and row["teacher"]["ar_steps"] == 8 and row["ar_step_reduction"] == 4
        assert row["throughput_ratio"] > 0
    assert set(result["brier"]["student"]) == {"brier_1", "brier_2", "brier_3", "brier_4", "brier_lm"}
    assert result["teacher_perplexity"]["of_student_continuations"] > 1
    assert "| 1 | student |" in calm_generation.format_table(result)
