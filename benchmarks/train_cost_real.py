#!/usr/bin/env python
"""
Training speed on real data lengths: the frozen recipe (ModernBERT-base + GPT-2 small shapes, feature cache) and a
stock BART-base full fine-tune, eager and compiled, over the SAMSum + DialogSum training rows of ../shared/data.

Fixed shapes (benchmarks/train_cost.py) flatter compilation: real batches vary in length, and a compiled model
recompiles for each new shape. Here every row keeps its real dialogue and summary length (counted with the offline
tokenizers in backbones/: MiniLM's WordPiece for dialogues, SmolLM2's BPE for summaries, as stand-ins for the
ModernBERT and GPT-2 tokenizers, which are not available offline), cut to 256 / 128 tokens as the recipe does; the
token ids are random (the cost does not depend on them) and the weights random of the real shapes.

Each configuration runs in its own process through the project's own pieces: `DataCollatorForLatentPrefix` (per-batch
padding to a multiple of 8, or `--source_buckets` / `--target_buckets`), the feature cache, `LengthGroupedSeq2SeqTrainer`
(`group_by_length`: by the summary's length when the encoder is cached, by the dialogue's otherwise) and
`configure_compile` (dynamo's compile settings and recompile limit, as `run_summarization.py --torch_compile true`).

    frozen-eager-pad8        the recipe as it was: eager, random order, batches padded to a multiple of 8
    frozen-eager-buckets     eager, bucketed padding, batches grouped by summary length
    frozen-compile-static    Trainer torch_compile, buckets + grouping, one graph per bucket shape
    frozen-compile-dynamic   the same with dynamic shapes (one graph with symbolic lengths)
    frozen-compile-automatic the same with dynamo's automatic choice
    ...-fp16bb               any frozen configuration with the frozen backbones in fp16
    bart-eager-pad8          BART-base fine-tune as run_summarization-style scripts run it (random order, pad to 8)
    bart-eager-buckets       BART-base, buckets + grouping by dialogue length
    bart-compile-static / bart-compile-dynamic / bart-compile-automatic

Reported per configuration: samples/s over the epochs after the first (steady state; compilation happens mostly in
the first) and over the whole run including compilation, graphs compiled, peak GPU memory. `dataloader_drop_last` is
on everywhere, so a short last batch adds no shape.

    python benchmarks/train_cost_real.py --output train_cost_real.json
    python benchmarks/train_cost_real.py --tiny --max_rows 64 --epochs 2 --compile_backend eager   # CPU dry run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_FILES = ["../shared/data/samsum/train.jsonl", "../shared/data/dialogsum/train.jsonl"]
DEFAULT_CONFIGS = (
    "frozen-eager-pad8,frozen-eager-buckets,frozen-compile-static,frozen-compile-dynamic,"
    "bart-eager-pad8,bart-compile-dynamic"
)
GIB = 2**30


def parse_config(name: str) -> dict:
    parts = name.split("-")
    if len(parts) < 3 or parts[0] not in ("frozen", "bart") or parts[1] not in ("eager", "compile"):
        raise ValueError(f"Unknown configuration {name!r} (see --help).")
    config = {"name": name, "model": parts[0], "compile": None, "buckets": False, "fp16bb": "fp16bb" in parts}
    if parts[1] == "compile":
        if parts[2] not in ("static", "dynamic", "automatic"):
            raise ValueError(f"{name}: compile needs static, dynamic or automatic.")
        config.update(compile=parts[2], buckets=True)
    elif parts[2] == "buckets":
        config["buckets"] = True
    elif parts[2] != "pad8":
        raise ValueError(f"{name}: eager needs pad8 or buckets.")
    return config


def real_lengths(files: list[str], tokenizers: tuple[str, str], max_source: int, max_target: int, max_rows):
    """(dialogue tokens, summary tokens) of each row, cut as the recipe cuts them (the summary before its EOS)."""
    from transformers import AutoTokenizer

    from training.data import check_data_files

    check_data_files({"train": files}, ["dialogue", "summary"])
    rows = [json.loads(line) for path in files for line in Path(path).read_text().splitlines() if line.strip()]
    rows = rows[:max_rows] if max_rows else rows
    enc, dec = (AutoTokenizer.from_pretrained(path) for path in tokenizers)
    source = [min(len(ids), max_source) for ids in enc([r["dialogue"] for r in rows])["input_ids"]]
    target = [
        min(len(ids), max_target - 1)
        for ids in dec([r["summary"] for r in rows], add_special_tokens=False)["input_ids"]
    ]
    return source, target


def run_child(job: dict) -> dict:
    import datasets
    import torch
    from transformers import AutoTokenizer, BartForConditionalGeneration, Seq2SeqTrainingArguments, TrainerCallback

    from benchmarks import shapes
    from data_collators import DataCollatorForLatentPrefix
    from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration
    from training.feature_cache import attach_feature_cache
    from training.fixed_shapes import LengthGroupedSeq2SeqTrainer, compiled_graphs, configure_compile, sequence_lengths

    config = parse_config(job["config"])
    cuda = torch.cuda.is_available() and not job["cpu"]
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    tiny = (lambda name: shapes.TINY.get(name, name)) if job["tiny"] else (lambda name: name)
    limit = configure_compile(
        config["compile"] is not None, job["source_buckets"], job["target_buckets"], config["compile"] or "static"
    )
    result = {"config": job["config"], "device": torch.cuda.get_device_name(0) if cuda else "CPU"}
    result["recompile_limit"] = limit

    torch.manual_seed(0)
    if config["model"] == "bart":
        model_config = shapes.seq2seq_config(tiny("bart-base"))
        with torch.device(device):
            model = BartForConditionalGeneration(model_config)
        enc_vocab = dec_vocab = model_config.vocab_size
    else:
        enc_cfg, dec_cfg = shapes.encoder_config(tiny("modernbert-base")), shapes.decoder_config(tiny("gpt2"))
        with torch.device(device):
            model = LatentSpaceForConditionalGeneration(
                LatentSpaceConfig.from_encoder_decoder_configs(enc_cfg, dec_cfg, pooling="mean")
            )
        if config["fp16bb"]:
            model.encoder.half()
            model.decoder.half()
        enc_vocab, dec_vocab = enc_cfg.vocab_size, dec_cfg.vocab_size
    result["trainable_params_m"] = round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2)

    generator = torch.Generator().manual_seed(0)
    source, target = job["source_lengths"], job["target_lengths"]
    data = datasets.Dataset.from_dict(
        {
            "input_ids": [torch.randint(5, enc_vocab, (n,), generator=generator).tolist() for n in source],
            "labels": [torch.randint(5, dec_vocab, (n,), generator=generator).tolist() for n in target],
        }
    )
    enc_tok, dec_tok = (AutoTokenizer.from_pretrained(path) for path in job["tokenizers"])
    buckets = {"source_buckets": job["source_buckets"], "target_buckets": job["target_buckets"]}
    collator = DataCollatorForLatentPrefix(
        enc_tok, dec_tok, pad_to_multiple_of=8, max_target_length=job["max_target_length"],
        **(buckets if config["buckets"] else {}),
    )  # fmt: skip

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def _now(self) -> float:
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = self._now()

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.epoch_start = self._now()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.times.append(self._now() - self.epoch_start)

    with tempfile.TemporaryDirectory() as output_dir:
        args = Seq2SeqTrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=job["batch_size"],
            num_train_epochs=job["epochs"],
            learning_rate=1e-4,
            fp16=cuda,
            use_cpu=not cuda,
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_drop_last=True,
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if config["buckets"] else "random",
            torch_compile=config["compile"] is not None,
            torch_compile_backend=job["compile_backend"] if config["compile"] else None,
            seed=0,
        )
        train_data = data
        cached = config["model"] == "frozen"
        if cached:
            start = time.perf_counter()
            train_data, collator = attach_feature_cache(model, data, collator, args)
            result["cache_build_s"] = round(time.perf_counter() - start, 2)
        lengths = sequence_lengths(train_data, "labels" if cached else "input_ids") if config["buckets"] else None
        timer = EpochTimer()
        trainer = LengthGroupedSeq2SeqTrainer(
            model=model, args=args, train_dataset=train_data, data_collator=collator, callbacks=[timer],
            train_lengths=lengths,
        )  # fmt: skip
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        graphs = compiled_graphs()
        output = trainer.train()
        total = time.perf_counter() - timer.start
    steps_per_epoch = len(data) // job["batch_size"]
    samples_per_epoch = steps_per_epoch * job["batch_size"]
    steady = timer.times[1:] or timer.times
    result.update(
        {
            "rows": len(data),
            "epochs": job["epochs"],
            "batch_size": job["batch_size"],
            "epoch_s": [round(t, 3) for t in timer.times],
            "samples_per_s_steady": round(samples_per_epoch * len(steady) / sum(steady), 1),
            "samples_per_s_with_compile": round(samples_per_epoch * len(timer.times) / total, 1),
            "compiled_graphs": compiled_graphs() - graphs,
            "train_loss": round(float(output.training_loss), 4),
        }
    )
    if cuda:
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="Comma-separated configurations (see above).")
    parser.add_argument("--train_files", default=",".join(DEFAULT_FILES))
    parser.add_argument("--encoder_tokenizer", default="backbones/all-MiniLM-L6-v2")
    parser.add_argument("--decoder_tokenizer", default="backbones/SmolLM2-135M-Instruct")
    parser.add_argument("--max_source_length", type=int, default=256)
    parser.add_argument("--max_target_length", type=int, default=128)
    parser.add_argument("--source_buckets", default="128,192,256")
    parser.add_argument("--target_buckets", default="32,48,64,128")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max_rows", type=int, default=None, help="Use only the first rows (dry runs).")
    parser.add_argument("--compile_backend", default="inductor", help="inductor on GPU; eager for a fast CPU check.")
    parser.add_argument("--timeout", type=int, default=240, help="Seconds per configuration.")
    parser.add_argument("--tiny", action="store_true", help="Tiny models of the same families (dry run).")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--output", help="JSON results.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one configuration, in its own process
        job = json.loads(Path(args.child).read_text())
        try:
            result = run_child(job)
        except Exception as error:  # recorded, so one failing configuration does not stop the table
            traceback.print_exc()
            result = {"config": job["config"], "error": f"{type(error).__name__}: {error}"[:2000]}
        Path(args.child).with_suffix(".result.json").write_text(json.dumps(result))
        return

    files = args.train_files.split(",")
    missing = [path for path in files if not Path(path).is_file()]
    if missing:
        sys.exit(
            f"Data file(s) not found: {', '.join(missing)} (run from the repository root, ../shared/data beside it)."
        )
    configs = [parse_config(name)["name"] for name in args.configs.split(",")]
    source, target = real_lengths(
        files, (args.encoder_tokenizer, args.decoder_tokenizer), args.max_source_length, args.max_target_length,
        args.max_rows,
    )  # fmt: skip
    meta = {
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "host": platform.node(),
        "rows": len(source),
        "source_tokens_mean": round(sum(source) / len(source), 1),
        "target_tokens_mean": round(sum(target) / len(target), 1),
    }
    print(
        f"{len(source)} rows; mean dialogue {meta['source_tokens_mean']} tokens, summary {meta['target_tokens_mean']}"
    )
    results = []
    for name in configs:
        job = {
            "config": name,
            "source_lengths": source,
            "target_lengths": target,
            "tokenizers": [args.encoder_tokenizer, args.decoder_tokenizer],
            "max_target_length": args.max_target_length,
            "source_buckets": [int(b) for b in args.source_buckets.split(",")],
            "target_buckets": [int(b) for b in args.target_buckets.split(",")],
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "compile_backend": args.compile_backend,
            "tiny": args.tiny,
            "cpu": args.cpu,
        }
        with tempfile.TemporaryDirectory() as scratch:
            job_path = Path(scratch) / "job.json"
            job_path.write_text(json.dumps(job))
            start = time.perf_counter()
            print(f"--- {name} ({time.strftime('%H:%M:%S')})", flush=True)
            try:
                subprocess.run([sys.executable, __file__, "--child", str(job_path)], timeout=args.timeout, check=False)
                result_path = job_path.with_suffix(".result.json")
                result = json.loads(result_path.read_text()) if result_path.is_file() else {"error": "no result"}
            except subprocess.TimeoutExpired:
                result = {"error": f"timed out after {args.timeout} s"}
        result.update(config=name, wall_s=round(time.perf_counter() - start, 1))
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")

    print(f"\n{'configuration':28} {'steady/s':>9} {'with compile/s':>15} {'graphs':>7} {'peak GiB':>9} {'wall s':>7}")
    for r in results:
        if "error" in r:
            print(f"{r['config']:28} ERROR {r['error'][:90]}")
            continue
        print(
            f"{r['config']:28} {r['samples_per_s_steady']:9.1f} {r['samples_per_s_with_compile']:15.1f} "
            f"{r['compiled_graphs']:7d} {r.get('peak_mem_gib', float('nan')):9.2f} {r['wall_s']:7.1f}"
        )


if __name__ == "__main__":
    main()
