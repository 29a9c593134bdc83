#!/usr/bin/env python
"""
Runs the real `run_summarization.py` on a recipe for a few steps and records its GPU memory and training losses
(the int8 / qlora proof of BENCHMARKS.md). Two sub-commands:

    # 1. random-weight backbones of the real shapes (ModernBERT-base, GPT-2 small) as ordinary HF folders, each with a
    #    tokenizer copied from a local folder (no Hub): what `encoder_name_or_path` / `decoder_name_or_path` point at
    python benchmarks/recipe_gpu_smoke.py prepare --out /tmp/bb \
        --encoder_tokenizer backbones/all-MiniLM-L6-v2 --decoder_tokenizer backbones/SmolLM2-135M-Instruct

    #    the offline recipes' SmolLM2-135M, one folder for both roles (--encoder smollm2-135m --decoder smollm2-135m)

    # 2. run_summarization.py's main() with the recipe and overrides, plus a callback that records
    #    torch.cuda.max_memory_allocated() over training (reset when training begins, weights included) and every
    #    logged loss; the whole run's peak (evaluation with generation included) is recorded too
    accelerate launch --config_file recipes/accelerate/single_gpu.yaml benchmarks/recipe_gpu_smoke.py run \
        --report int8.json -- recipes/samsum/int8.yaml --encoder_name_or_path /tmp/bb/modernbert-base \
        --decoder_name_or_path /tmp/bb/gpt2 --train_file data/demo/train.jsonl --max_steps 10 ...

Random weights cost the same memory and time as the pretrained ones; the losses show the steps run, not quality.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GIB = 2**30


def prepare(args) -> None:
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    from benchmarks import shapes

    out = Path(args.out)
    roles = [("encoder", args.encoder, args.encoder_tokenizer), ("decoder", args.decoder, args.decoder_tokenizer)]
    if args.encoder == args.decoder:
        # One backbone in both roles (SmolLM2-135M in recipes/offline): one folder, saved as its causal-LM checkpoint
        # is; the encoder loads it with AutoModel, as it loads the real one.
        roles = roles[1:]
    for role, name, tokenizer_dir in roles:
        target = out / name
        if (target / "config.json").is_file():
            print(f"{target} exists: kept")
            continue
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        config = shapes.encoder_config(name) if role == "encoder" else shapes.decoder_config(name)
        if len(tokenizer) > config.vocab_size:
            raise ValueError(f"The tokenizer of {tokenizer_dir} ({len(tokenizer)} ids) does not fit {name}'s vocab.")
        # The model's special ids are the tokenizer's, as in a real checkpoint.
        for key in ("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id"):
            value = getattr(tokenizer, key, None)
            if value is not None and hasattr(config, key):
                setattr(config, key, value)
        if role == "decoder" and tokenizer.bos_token_id is None:
            config.bos_token_id = tokenizer.eos_token_id
        torch.manual_seed(0)
        auto = AutoModel if role == "encoder" else AutoModelForCausalLM
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = auto.from_config(config, dtype=torch.float32)  # the Hub checkpoints of both are float32
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"wrote random {name} ({params:.1f}M parameters, tokenizer of {tokenizer_dir}) to {target}")


def run(args, argv: list[str]) -> None:
    import torch
    from transformers import TrainerCallback

    import run_summarization

    record: dict = {
        "command": "benchmarks/recipe_gpu_smoke.py run --report " + args.report + " -- " + " ".join(argv),
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU",
        "losses": [],
    }

    class MemoryAndLossRecorder(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
                record["allocated_at_train_begin_gib"] = round(torch.cuda.memory_allocated() / GIB, 3)
                torch.cuda.reset_peak_memory_stats()
            if model is not None:
                record["encoder_attn"] = model.encoder.config._attn_implementation
                record["decoder_attn"] = model.decoder.config._attn_implementation
                record["quantized_layers"] = sorted(
                    {type(m).__name__ for m in model.modules() if type(m).__module__.startswith("bitsandbytes")}
                )
            self.start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                record["losses"].append({"step": state.global_step, "loss": logs["loss"]})

        def on_train_end(self, args, state, control, **kwargs):
            record["train_wall_s"] = round(time.perf_counter() - self.start, 2)
            if torch.cuda.is_available():
                record["train_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
                record["train_peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)

    class RecordingTrainer(run_summarization.LengthGroupedSeq2SeqTrainer):
        def __init__(self, *trainer_args, **trainer_kwargs):
            super().__init__(*trainer_args, **trainer_kwargs)
            self.add_callback(MemoryAndLossRecorder())

        def training_step(self, model, inputs, *step_args, **step_kwargs):
            # the longest padded dialogue and target seen: did the batches reach the recipe's length caps?
            for key in ("input_ids", "labels"):
                if key in inputs:
                    name = f"longest_batch_{key}"
                    record[name] = max(record.get(name, 0), int(inputs[key].shape[-1]))
            return super().training_step(model, inputs, *step_args, **step_kwargs)

    # The script's own Trainer class, with the recorder added (a name the script does not use would record nothing).
    run_summarization.LengthGroupedSeq2SeqTrainer = RecordingTrainer
    metrics = run_summarization.main(argv)
    if "train_wall_s" not in record:
        raise RuntimeError("The recorder never saw training end: run_summarization's Trainer class was not patched.")
    if torch.cuda.is_available():
        record["run_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
    record["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "metrics"}, indent=1))


def main() -> None:
    argv = sys.argv[1:]
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="Write random-weight backbones of the real shapes with local tokenizers.")
    prep.add_argument("--out", required=True)
    prep.add_argument("--encoder", default="modernbert-base")
    prep.add_argument("--decoder", default="gpt2")
    prep.add_argument("--encoder_tokenizer", required=True, help="A local folder holding an encoder tokenizer.")
    prep.add_argument("--decoder_tokenizer", required=True, help="A local folder holding a decoder tokenizer.")
    go = sub.add_parser("run", help="run_summarization.main(ARGS after --) with memory and loss recording.")
    go.add_argument("--report", required=True, help="Where to write the JSON record.")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args)
    else:
        run(args, passthrough)


if __name__ == "__main__":
    main()
