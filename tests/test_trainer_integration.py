"""The stock Seq2SeqTrainer trains and evaluates the model with the collator, unchanged."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForSeq2SeqLM, Seq2SeqTrainer, Seq2SeqTrainingArguments

from data_collators import DataCollatorForLatentPrefix
from tests.tiny_backbones import PAIRS, tiny_model, tiny_processor


def _tokenized_dataset(processor) -> Dataset:
    dataset = Dataset.from_dict({"dialogue": [d for d, _ in PAIRS], "summary": [s for _, s in PAIRS]})
    return dataset.map(
        lambda rows: processor(rows["dialogue"], rows["summary"]), batched=True, remove_columns=["dialogue", "summary"]
    )


def test_seq2seq_trainer_trains_a_step_and_evaluates_with_generate(tmp_path):
    processor = tiny_processor()
    model = tiny_model()
    dataset = _tokenized_dataset(processor)
    heads_before = model.prefix_adapter.mlp[0].weight.detach().clone()
    decoder_before = model.decoder.get_input_embeddings().weight.detach().clone()
    seen = {}

    def compute_metrics(prediction):
        predictions = np.where(prediction.predictions != -100, prediction.predictions, processor.pad_token_id)
        seen["texts"] = processor.batch_decode(predictions)
        return {"mean_len": float(np.mean([len(t.split()) for t in seen["texts"]]))}

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=3,
        per_device_eval_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=1,
        learning_rate=1e-2,
        predict_with_generate=True,
        generation_max_length=6,
        report_to=[],
        save_strategy="steps",
        save_steps=1,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset,
        data_collator=DataCollatorForLatentPrefix(processor.encoder_tokenizer, processor.decoder_tokenizer),
        processing_class=processor,
        compute_metrics=compute_metrics,
    )
    result = trainer.train()
    assert result.global_step == 1 and np.isfinite(result.training_loss)
    assert not torch.equal(model.prefix_adapter.mlp[0].weight, heads_before)
    torch.testing.assert_close(model.decoder.get_input_embeddings().weight, decoder_before)

    metrics = trainer.evaluate(max_new_tokens=5)
    assert np.isfinite(metrics["eval_loss"]) and "eval_mean_len" in metrics
    assert len(seen["texts"]) == len(PAIRS)

    checkpoint = tmp_path / "checkpoint-1"
    assert (checkpoint / "encoder_tokenizer").is_dir() and (checkpoint / "decoder_tokenizer").is_dir()
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    model.eval()
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    torch.testing.assert_close(
        reloaded.generate(**inputs, max_new_tokens=5), model.generate(**inputs, max_new_tokens=5)
    )
