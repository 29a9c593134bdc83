"""Length buckets: few shapes for a compiled model, the same loss as unpadded batches, grouping by the right length."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import Seq2SeqTrainer

import run_summarization
from data_collators import DataCollatorForLatentPrefix
from tests.test_recipes_and_scripts import backbones, tiny_recipe  # noqa: F401  (backbones is a fixture)
from tests.tiny_backbones import PAIRS, tiny_model, tiny_processor
from training.arguments import parse_args
from training.feature_cache import DataCollatorWithEncoderCache
from training.fixed_shapes import LengthGroupedSeq2SeqTrainer, sequence_lengths


@pytest.fixture
def restore_dynamo_config():
    """configure_compile sets process-wide dynamo options (right for a script); other tests get the defaults back."""
    names = ("automatic_dynamic_shapes", "assume_static_by_default", "recompile_limit", "fail_on_recompile_limit_hit")
    saved = {name: getattr(torch._dynamo.config, name) for name in names}
    yield
    for name, value in saved.items():
        setattr(torch._dynamo.config, name, value)
    torch._dynamo.reset()


def tokenized_pairs(processor) -> list[dict]:
    rows = []
    for dialogue, summary in PAIRS:
        ids = processor.encoder_tokenizer(dialogue)["input_ids"]
        rows.append({"input_ids": ids, "labels": processor.tokenize_targets([summary], 32)[0]})
    return rows


def test_bucketed_padding_gives_the_same_loss_as_unpadded_batches():
    processor, model = tiny_processor(), tiny_model().eval()
    rows = tokenized_pairs(processor)
    plain = DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer)
    bucketed = DataCollatorForLatentPrefix(
        processor.encoder_tokenizer, processor.decoder_tokenizer, source_buckets=[16, 32, 64], target_buckets=[8, 24]
    )
    with torch.no_grad():
        # One row at a time: no padding at all. Token-weighted, as the batch loss averages over all summary tokens.
        sums = [(model(**plain([row])).loss * (len(row["labels"]) + 1), len(row["labels"]) + 1) for row in rows]
        unpadded = sum(s for s, _ in sums) / sum(n for _, n in sums)
        batch = bucketed(rows)
        assert batch["input_ids"].shape[1] in (16, 32, 64) and batch["labels"].shape[1] in (8, 24)
        assert batch["input_ids"].shape[1] > max(len(r["input_ids"]) for r in rows) - 1
        padded = model(**batch).loss
    assert padded.item() == pytest.approx(unpadded.item(), rel=1e-5)


def test_buckets_pick_the_smallest_that_fits_and_cached_token_states_follow_them():
    processor = tiny_processor()
    collator = DataCollatorForLatentPrefix(
        processor.encoder_tokenizer, processor.decoder_tokenizer, source_buckets=[4, 8], target_buckets=[3, 6]
    )
    batch = collator([{"input_ids": [2, 5, 3], "labels": [7]}, {"input_ids": [2, 5, 6, 7, 8, 3], "labels": [7, 8]}])
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].shape == (2, 3)
    with pytest.raises(ValueError, match="longer than the largest bucket 6"):
        collator([{"input_ids": [2, 3], "labels": list(range(10, 17))}])
    cached = DataCollatorWithEncoderCache(collator, bucket_states=True)
    features = [{"input_ids": [2, 3], "labels": [7], "encoder_hidden_states": torch.ones(3, 5)}]
    assert cached(features)["encoder_hidden_states"].shape == (1, 4, 5)
    pooled = DataCollatorWithEncoderCache(collator)  # pooled vectors (mean pooling) keep their own length
    assert pooled([{**features[0], "encoder_hidden_states": torch.ones(1, 5)}])["encoder_hidden_states"].shape[1] == 1


def test_bucket_settings_are_checked_against_the_maximum_lengths(tmp_path, backbones):  # noqa: F811
    with pytest.raises(ValueError, match="largest of `target_buckets` \\(16\\) must hold the longest row \\(24"):
        parse_args([str(tiny_recipe(tmp_path, backbones, source_buckets=[64], target_buckets=[16]))])
    with pytest.raises(ValueError, match="increasing positive lengths"):
        parse_args([str(tiny_recipe(tmp_path, backbones, source_buckets=[64, 32], target_buckets=[24]))])


def test_compile_without_buckets_is_refused_before_anything_loads(tmp_path, backbones):  # noqa: F811
    with pytest.raises(ValueError, match="recompiles for every new length"):
        run_summarization.main([str(tiny_recipe(tmp_path, backbones)), "--torch_compile", "true"])


def test_compiled_bucketed_grouped_run_compiles_at_most_once_per_shape(tmp_path, backbones, restore_dynamo_config):  # noqa: F811
    recipe = tiny_recipe(
        tmp_path,
        backbones,
        do_eval=False,
        save_strategy="no",
        use_feature_cache=True,
        source_buckets=[32, 64],
        target_buckets=[12, 24],
        train_sampling_strategy="group_by_length",
        torch_compile=True,
        torch_compile_backend="eager",  # dynamo's graph capture and guards without inductor's slow CPU codegen
        max_steps=6,
    )
    metrics = run_summarization.main([str(recipe)])
    # Cached mean pooling: only the summary's bucket varies in training (2 buckets, full batches).
    print("compiled graphs:", metrics["train_compiled_graphs"])
    assert 1 <= metrics["train_compiled_graphs"] <= 2
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["global_step"] == 6


def test_grouping_reads_the_lengths_through_the_feature_cache_wrapper():
    class Wrapped:
        dataset = {"labels": [[1, 2], [3], [4, 5, 6]], "input_ids": [[1] * 9, [1] * 4, [1] * 7]}

    assert sequence_lengths(Wrapped(), "labels") == [2, 1, 3]
    assert sequence_lengths(Wrapped.dataset, "input_ids") == [9, 4, 7]


def test_length_grouped_training_keeps_evaluation_in_dataset_order(tmp_path):
    # Under group_by_length, transformers 5 would also reorder evaluation: predictions must stay aligned with rows.
    from datasets import Dataset
    from transformers import Seq2SeqTrainingArguments

    rows = Dataset.from_dict({"input_ids": [[1] * n for n in (3, 9, 1, 7, 5, 2, 8, 4)]})
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        per_device_eval_batch_size=4,
        train_sampling_strategy="group_by_length",
    )
    trainer = LengthGroupedSeq2SeqTrainer(model=torch.nn.Linear(1, 1), args=args, train_lengths=[1] * 8)
    assert list(trainer._get_eval_sampler(rows)) == list(range(8))
    assert list(Seq2SeqTrainer._get_eval_sampler(trainer, rows)) != list(range(8))  # the stock order this guards
