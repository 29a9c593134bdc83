#!/usr/bin/env python
"""
Peak GPU memory of a CALM recipe's training steps, with random weights of the real shapes (offline: no download).

    python benchmarks/calm_memory.py recipes/calm/student_llama1b.yaml --steps 4 --output outputs/calm_memory.json
    python benchmarks/calm_memory.py recipes/calm/autoencoder_llama1b.yaml

The recipe gives the stage, sizes, batch size, accumulation and precision; the teacher is built from the shapes of
`--teacher_shapes` (Llama-3.2-1B's config written out below, as the Hub id cannot be fetched offline) and the data
are random token blocks of the recipe's `block_size`. The stock Trainer runs `--steps` optimizer steps; the result is
`torch.cuda.max_memory_allocated()` over them (weights, gradients, AdamW state, activations, teacher, logits).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modeling import CalmAutoencoder, CalmAutoencoderConfig, CalmConfig, CalmForCausalLM  # noqa: E402

# meta-llama/Llama-3.2-1B's config.json (the fields that set memory)
LLAMA_3_2_1B = {
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "max_position_embeddings": 131072,
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
}
SHAPES = {"llama-3.2-1b": LLAMA_3_2_1B}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("--teacher_shapes", default="llama-3.2-1b", choices=sorted(SHAPES))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--output", default=None)
    args, overrides = parser.parse_known_args(argv)
    if not torch.cuda.is_available():
        parser.error("Peak GPU memory needs a CUDA GPU.")
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer

    from run_calm import ARGUMENT_CLASSES, AUTOENCODER_FIELDS, STUDENT_FIELDS, _chosen
    from training.arguments import parse_args

    with tempfile.TemporaryDirectory() as scratch:
        model_args, data_args, training_args = parse_args(
            [args.recipe, "--train_file", "", "--validation_file", "", "--output_dir", scratch, "--max_steps",
             str(args.steps), "--save_strategy", "no", "--logging_steps", "1", "--do_eval", "false", "--autoencoder_name_or_path", "random/autoencoder", "--report_to", "none",
             *overrides],
            ARGUMENT_CLASSES,
        )  # fmt: skip
        shapes = SHAPES[args.teacher_shapes]
        sizes = _chosen(model_args, ("hidden_size", "intermediate_size"))
        if model_args.stage == "autoencoder":
            ae_config = CalmAutoencoderConfig(
                vocab_size=shapes["vocab_size"], **sizes, **_chosen(model_args, AUTOENCODER_FIELDS)
            )
            model = CalmAutoencoder(ae_config)
        else:
            ae_config = CalmAutoencoderConfig(vocab_size=shapes["vocab_size"], patch_size=4, latent_size=128)
            config = CalmConfig(autoencoder=ae_config, **sizes, **_chosen(model_args, STUDENT_FIELDS))
            model = CalmForCausalLM(config)
            teacher = LlamaForCausalLM(LlamaConfig(**shapes)).to(torch.bfloat16).cuda()
            model.set_teacher(teacher)
        generator = torch.Generator().manual_seed(0)
        rows = args.steps * training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
        ids = torch.randint(0, shapes["vocab_size"], (rows, data_args.block_size), generator=generator).tolist()
        dataset = Dataset.from_dict({"input_ids": ids, "labels": ids})
        torch.cuda.reset_peak_memory_stats()
        Trainer(model=model, args=training_args, train_dataset=dataset).train()
        peak = torch.cuda.max_memory_allocated() / 2**30
    result = {
        "recipe": args.recipe,
        "stage": model_args.stage,
        "teacher_shapes": args.teacher_shapes,
        "batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "block_size": data_args.block_size,
        "bf16": training_args.bf16,
        "steps": args.steps,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "peak_gib": peak,
        "device": torch.cuda.get_device_name(),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
