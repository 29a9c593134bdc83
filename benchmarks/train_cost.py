#!/usr/bin/env python
"""
GPU training cost of the latent-space recipes (BENCHMARKS.md tables 2 and 4): peak GPU memory and samples/s of
training steps through the stock `Seq2SeqTrainer` at fp16, on synthetic token ids of fixed length (source 256,
target 128) and random-weight backbones of the real shapes (benchmarks/shapes.py), beside a stock BART-base
fine-tune.

Configurations run one after another in one process (or each in a child process with `--isolation fork`); each peak
memory (`torch.cuda.max_memory_allocated`, reset after the model is loaded and the feature cache is built) is its own,
and `allocated_before_gib` shows anything an earlier configuration left allocated. Warm-up steps are excluded from the timing; the timed
steps include data loading, the Trainer's own work and the optimizer step, as a user's run would.

Recipes (as recipes/samsum/*.yaml):
    frozen  both backbones frozen, mean pooling; only the heads train
    lora    LoRA on both backbones' attention (encoder r=8, decoder r=16), attention pooling
    int8    lora on backbones loaded in 8 bit (bitsandbytes LLM.int8)
    qlora   lora on backbones loaded in 4-bit NF4 (double quantization, fp16 compute)
    bart    the stock alternative: BART-base, every weight trained

`--cache yes` replays a feature cache: the frozen encoder runs once over the data before the timed run (its time is
reported as cache_build_s) and training feeds `encoder_hidden_states` instead of token ids. A cached encoder must be
frozen, so the cached lora/int8/qlora rows keep LoRA on the decoder only (encoder frozen, its token states cached
for the attention pooling); the frozen recipe's mean pooling caches just the pooled vector (a length-1 sequence).

Variants (comma-separated list; join options with '+', e.g. `base,fp16-backbones+no-nan-filter`):
    base            the recipe as written
    fp16-backbones  keep LoRA-free frozen backbones in fp16 instead of fp32 under autocast
    no-nan-filter   TrainingArguments(logging_nan_inf_filter=False): drops one host sync per step
    compile         torch.compile the backbones that run (module.compile(); the whole model for BART)
    compile-all     TrainingArguments(torch_compile=True): the Trainer compiles the whole model (heads and loss too)
    grad-ckpt       TrainingArguments(gradient_checkpointing=True)
    workers0        TrainingArguments(dataloader_num_workers=0) whatever --num_workers says
    no-clip         TrainingArguments(max_grad_norm=0): no gradient unscale/clip pass before the optimizer step
    no-pooled-norm  pooled_layer_norm=False: the heads as before that LayerNorm existed (its cost, A/B)
    profile         also record where the time goes: cProfile of the timed Trainer steps, GPU busy time per step

Examples:
    python benchmarks/train_cost.py --tiny --steps 2 --warmup 1                    # CPU dry run, seconds
    python benchmarks/train_cost.py --output benchmarks/results/train_cost.json    # table 2
    python benchmarks/train_cost.py --suite scale --output benchmarks/results/train_scale.json   # table 4
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import shapes  # noqa: E402

RECIPES = {
    "frozen": {"pooling": "mean", "quant": None, "lora": False},
    "lora": {"pooling": "attention", "quant": None, "lora": True},
    "int8": {"pooling": "attention", "quant": "int8", "lora": True},
    "qlora": {"pooling": "attention", "quant": "nf4", "lora": True},
    "bart": {},
}
VARIANT_OPTIONS = (
    "base",
    "fp16-backbones",
    "no-nan-filter",
    "compile",
    "compile-all",
    "grad-ckpt",
    "workers0",
    "no-clip",
    "profile",
    "no-pooled-norm",
)
SUITES = {
    # table 2: the seed's shapes
    "seed": {
        "encoder": "modernbert-base",
        "decoders": "gpt2",
        "recipes": "frozen,lora,int8,qlora,bart",
        "batch_sizes": "8,32",
        "cache": "no,yes",
        "backbone_dtype": None,  # like the recipes: backbones in their checkpoint dtype (fp32) under fp16 autocast
    },
    # table 4: bigger backbones, quantized recipes, batch 8
    "scale": {
        "encoder": "modernbert-large",
        "decoders": "llama-3.2-1b,llama-3.2-3b",
        "recipes": "int8,qlora",
        "batch_sizes": "8",
        "cache": "no",
        "backbone_dtype": "float16",  # the non-quantized parts (embeddings, norms) in fp16
    },
}
GIB = 2**30


# ----------------------------------------------------------------------------------------------------------------------
# Child side: one configuration
# ----------------------------------------------------------------------------------------------------------------------


def _head_fields(job: dict, enc_cfg, dec_cfg) -> dict:
    recipe = RECIPES[job["recipe"]]
    fields = {"pooling": recipe["pooling"]}
    if recipe["lora"]:
        if not job["cache"]:  # a cached encoder must stay frozen: no encoder LoRA with the cache
            fields["encoder_lora"] = shapes.lora_kwargs(enc_cfg, r=8, alpha=16)
        fields["decoder_lora"] = shapes.lora_kwargs(dec_cfg, r=16, alpha=32)
    if "no-pooled-norm" in job["options"]:
        fields["pooled_layer_norm"] = False
    return fields


def _bnb_config(quant: str):
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.float16,
        bnb_4bit_use_double_quant=True,
    )


def _backbone_dirs(job: dict) -> tuple[Path, Path]:
    root = Path(job["backbone_dir"])
    dtype = job["save_dtype"]
    return root / f"{job['encoder']}-{dtype}", root / f"{job['decoder']}-{dtype}"


def prepare_backbones(job: dict) -> dict:
    """Saves random-weight backbones of the real shapes as ordinary HF folders (once), for quantized loading."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() and not job["cpu"] else "cpu"
    dtype = getattr(torch, job["save_dtype"])
    saved = {}
    for role, directory in zip(("encoder", "decoder"), _backbone_dirs(job), strict=True):
        if (directory / "config.json").is_file():
            saved[role] = str(directory)
            continue
        name = job[role]
        config = shapes.encoder_config(name) if role == "encoder" else shapes.decoder_config(name)
        auto = AutoModel if role == "encoder" else AutoModelForCausalLM
        torch.manual_seed(0)
        start = time.perf_counter()
        with torch.device(device):
            model = auto.from_config(config, dtype=dtype)
        model.save_pretrained(directory)
        del model
        saved[role] = str(directory)
        print(f"saved random {name} ({job['save_dtype']}) to {directory} in {time.perf_counter() - start:.1f}s")
    return saved


def _build_latent_model(job: dict, device):
    import torch

    from modeling import LatentSpaceConfig, LatentSpaceForConditionalGeneration

    enc_cfg, dec_cfg = shapes.encoder_config(job["encoder"]), shapes.decoder_config(job["decoder"])
    fields = _head_fields(job, enc_cfg, dec_cfg)
    quant = RECIPES[job["recipe"]]["quant"]
    torch.manual_seed(0)
    if quant is None:
        with torch.device(device):
            model = LatentSpaceForConditionalGeneration(
                LatentSpaceConfig.from_encoder_decoder_configs(enc_cfg, dec_cfg, **fields)
            )
        if job["backbone_dtype"]:
            model.encoder.to(getattr(torch, job["backbone_dtype"]))
            model.decoder.to(getattr(torch, job["backbone_dtype"]))
    else:
        enc_dir, dec_dir = _backbone_dirs(job)
        kwargs = {"quantization_config": _bnb_config(quant), "device_map": {"": device}}
        if job["backbone_dtype"]:
            kwargs["dtype"] = getattr(torch, job["backbone_dtype"])
        model = LatentSpaceForConditionalGeneration.from_encoder_decoder_pretrained(
            str(enc_dir), str(dec_dir), **kwargs, **fields
        )
    if "fp16-backbones" in job["options"]:
        for backbone in (model.encoder, model.decoder):
            if not any(p.requires_grad for p in backbone.parameters()):
                backbone.half()
    return model.to(device), enc_cfg.vocab_size, dec_cfg.vocab_size


def _build_bart(job: dict, device):
    import torch
    from transformers import BartForConditionalGeneration

    config = shapes.seq2seq_config(job["model"])
    torch.manual_seed(0)
    with torch.device(device):
        model = BartForConditionalGeneration(config)
    return model, config.vocab_size, config.vocab_size


class SyntheticDataset:
    """Fixed-length random token ids (no padding), or cached encoder states in place of the ids."""

    def __init__(self, input_ids, labels, states=None):
        import torch

        self.input_ids, self.labels, self.states = input_ids, labels, states
        length = input_ids.shape[1] if states is None else states.shape[1]
        self.mask = torch.ones(length, dtype=torch.long)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> dict:
        item = {"attention_mask": self.mask, "labels": self.labels[index]}
        if self.states is None:
            item["input_ids"] = self.input_ids[index]
        else:
            item["encoder_hidden_states"] = self.states[index]
        return item


def build_feature_cache(model, input_ids, device, use_amp: bool, batch_size: int = 64):
    """Runs the frozen encoder once: pooled vectors for mean/cls pooling, fp16 token states for attention pooling."""
    import torch

    keep_tokens = model.config.pooling == "attention"
    chunks = []
    model.eval()
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
        for begin in range(0, input_ids.shape[0], batch_size):
            ids = input_ids[begin : begin + batch_size].to(device)
            mask = torch.ones_like(ids)
            hidden = model.encoder_token_states(ids, mask)
            if keep_tokens:
                chunks.append(hidden.to(torch.float16 if use_amp else torch.float32).cpu())
            else:  # (batch, pooled vectors, hidden): pooling these again gives them back
                chunks.append(model.pooler(hidden.float(), mask).cpu())
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.train()
    states = torch.cat(chunks)
    info = {
        "cache_build_s": round(seconds, 3),
        "cache_samples_per_s": round(input_ids.shape[0] / seconds, 1),
        "cache_mib": round(states.numel() * states.element_size() / 2**20, 1),
        "cache_kind": "token states" if keep_tokens else "pooled vector",
    }
    return states, info


def _step_timer(warmup: int, total: int, cuda: bool, profile: bool = False):
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """
        Wall time from the end of step `warmup` to the end of step `total`, with the device synchronized; with
        `profile`, a cProfile of exactly those steps (the steady state: compilation and warm-up left out).
        """

        t0 = t1 = None
        profiler = None

        def _now(self) -> float:
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                self.t0 = self._now()
                if profile:
                    import cProfile

                    self.profiler = cProfile.Profile()
                    self.profiler.enable()
            if state.global_step == total:
                if self.profiler is not None:
                    self.profiler.disable()
                self.t1 = self._now()

        def report(self) -> str:
            import io
            import pstats

            text = io.StringIO()
            stats = pstats.Stats(self.profiler, stream=text)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(60)
            return text.getvalue()

    return StepTimer()


def run_job(job: dict) -> dict:
    import torch
    import transformers
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, default_data_collator

    cuda = torch.cuda.is_available() and not job["cpu"]
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    result = {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if cuda:  # what an earlier configuration of this process left allocated (0 unless something leaked)
        result["allocated_before_gib"] = round(torch.cuda.memory_allocated() / GIB, 3)
    if RECIPES[job["recipe"]].get("quant"):
        import bitsandbytes

        result["bitsandbytes"] = bitsandbytes.__version__
    start = time.perf_counter()
    if job["recipe"] == "bart":
        model, enc_vocab, dec_vocab = _build_bart(job, device)
    else:
        model, enc_vocab, dec_vocab = _build_latent_model(job, device)
    result["load_s"] = round(time.perf_counter() - start, 1)
    result.update(_describe_model(model, job))
    result["trainable_params_m"] = round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2)
    result["total_params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)

    total_steps = job["warmup"] + job["steps"]
    # Twice the rows the steps use: the data loader must not run out (and shut its workers down) inside the timing.
    n = 2 * total_steps * job["batch_size"]
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, enc_vocab, (n, job["source_length"]), generator=generator)
    labels = torch.randint(5, dec_vocab, (n, job["target_length"]), generator=generator)
    states = None
    if job["cache"]:
        states, info = build_feature_cache(model, input_ids, device, use_amp=cuda)
        result.update(info)
    dataset = SyntheticDataset(input_ids, labels, states)

    if "compile" in job["options"]:
        if job["recipe"] == "bart":
            model.compile()
        else:
            model.decoder.compile()
            if not job["cache"]:
                model.encoder.compile()

    if cuda:
        torch.cuda.synchronize()
        result["mem_after_load_gib"] = round(torch.cuda.memory_allocated() / GIB, 3)
        torch.cuda.reset_peak_memory_stats()

    with tempfile.TemporaryDirectory() as output_dir:
        args = Seq2SeqTrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=job["batch_size"],
            max_steps=total_steps,
            learning_rate=1e-4,
            fp16=cuda,
            use_cpu=not cuda,
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0 if "workers0" in job["options"] else job["num_workers"],
            max_grad_norm=0.0 if "no-clip" in job["options"] else 1.0,
            remove_unused_columns=False,
            logging_nan_inf_filter="no-nan-filter" not in job["options"],
            gradient_checkpointing="grad-ckpt" in job["options"],
            torch_compile="compile-all" in job["options"],
            seed=0,
        )
        timer = _step_timer(job["warmup"], total_steps, cuda, profile="profile" in job["options"])
        trainer = Seq2SeqTrainer(
            model=model, args=args, train_dataset=dataset, data_collator=default_data_collator, callbacks=[timer]
        )
        output = trainer.train()
        if timer.profiler is not None:
            result["cprofile_timed_steps"] = timer.report()
            print(result["cprofile_timed_steps"])
    seconds = timer.t1 - timer.t0
    result.update(
        {
            "samples_per_s": round(job["steps"] * job["batch_size"] / seconds, 1),
            "step_ms": round(1000 * seconds / job["steps"], 2),
            "train_loss": round(float(output.training_loss), 4),
        }
    )
    if cuda:
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
        result["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
    if job["model_only_steps"]:
        result.update(
            _model_only_steps(trainer.model_wrapped, dataset, job, device, cuda, "profile" in job["options"])
        )
    return result


def _describe_model(model, job: dict) -> dict:
    """Attention implementation, dtypes and quantized layer kinds of what was built: what the numbers are of."""
    import collections

    parts = {"model": model} if job["recipe"] == "bart" else {"encoder": model.encoder, "decoder": model.decoder}
    info = {}
    for name, module in parts.items():
        info[f"{name}_attn"] = module.config._attn_implementation
        dtypes = collections.Counter(str(p.dtype).replace("torch.", "") for p in module.parameters())
        info[f"{name}_param_dtypes"] = dict(dtypes)
        kinds = {
            type(m).__name__
            for m in module.modules()
            if "bnb" in type(m).__module__ or "Linear8bit" in type(m).__name__
        }
        if kinds:
            info[f"{name}_quantized_layers"] = sorted(kinds)
    return info


def _model_only_steps(model, dataset, job: dict, device, cuda: bool, profile: bool = False) -> dict:
    """
    The same training step without the Trainer around it (a diagnostic of the Trainer's overhead): one batch already on
    the device, autocast fp16, GradScaler, fused AdamW on the trainable parameters, no host sync inside the loop.
    """
    import torch

    batch = [dataset[i] for i in range(job["batch_size"])]
    batch = {key: torch.stack([item[key] for item in batch]).to(device) for key in batch[0]}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=cuda)
    scaler = torch.amp.GradScaler(device.type, enabled=cuda)

    def step():
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(job["model_only_steps"]):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "model_only_step_ms": round(1000 * seconds / job["model_only_steps"], 2),
        "model_only_samples_per_s": round(job["model_only_steps"] * job["batch_size"] / seconds, 1),
    }
    if profile and cuda:
        # The GPU's busy time per step (sum of kernel times): how fast the step could be if the host kept up.
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        steps = 5
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                step()
            torch.cuda.synchronize()
        events = prof.key_averages()
        # Device-side events only (the kernels): operator rows carry their kernels' time too, so summing every row of
        # key_averages would count each kernel twice.
        device_events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        result["gpu_busy_ms_per_step"] = round(sum(e.device_time for e in device_events) / 1000 / steps, 2)
        result["kernel_launches_per_step"] = round(
            sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC"))
            / steps
        )
        table = events.table(sort_by="self_device_time_total", row_limit=15)
        print(table)
        result["top_kernels"] = table
    return result


def child_main(job: dict, result_path: str) -> None:
    try:
        result = prepare_backbones(job) if job.get("prepare") else run_job(job)
    except Exception as error:  # recorded, so one failing configuration does not stop the table
        traceback.print_exc()
        lines = [line for line in traceback.format_exception_only(type(error), error) if line.strip()]
        result = {"error": " ".join(line.strip() for line in lines)[:2000]}
        if "out of memory" in result["error"].lower():
            import torch

            if torch.cuda.is_available():
                result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
    Path(result_path).write_text(json.dumps(result))
    sys.stdout.flush()
    sys.stderr.flush()


# ----------------------------------------------------------------------------------------------------------------------
# Parent side: the matrix of configurations, each in its own process
# ----------------------------------------------------------------------------------------------------------------------


def _label(job: dict) -> str:
    if job["recipe"] == "bart":
        label = "bart-base full fine-tune"
    else:
        label = job["recipe"]
        if job["cache"]:
            label += "+cache" + (" (dec LoRA only)" if RECIPES[job["recipe"]]["lora"] else "")
    if job["variant"] != "base":
        label += f" [{job['variant']}]"
    return label


def _skip_reason(job: dict) -> str | None:
    recipe = RECIPES[job["recipe"]]
    options = job["options"]
    if job["recipe"] == "bart" and ("fp16-backbones" in options or "no-pooled-norm" in options):
        return "fp16-backbones / no-pooled-norm do not apply to a full fine-tune"
    if recipe.get("quant") and ("compile" in options or "fp16-backbones" in options):
        return "compile / fp16-backbones not tried on bitsandbytes backbones"
    if recipe.get("lora") and "fp16-backbones" in options and not job["cache"]:
        return "fp16-backbones needs a LoRA-free backbone"
    return None


def build_jobs(args) -> list[dict]:
    suite = SUITES[args.suite]
    recipes = (args.recipes or suite["recipes"]).split(",")
    decoders = (args.decoders or suite["decoders"]).split(",")
    encoder = args.encoder or suite["encoder"]
    batch_sizes = [int(b) for b in (args.batch_sizes or suite["batch_sizes"]).split(",")]
    caches = [c == "yes" for c in (args.cache or suite["cache"]).split(",")]
    variants = args.variants.split(",")
    backbone_dtype = args.backbone_dtype if args.backbone_dtype is not None else suite["backbone_dtype"]
    for recipe in recipes:
        if recipe not in RECIPES:
            sys.exit(f"Unknown recipe {recipe!r}: choose from {', '.join(RECIPES)}.")
    for variant in variants:
        for option in variant.split("+"):
            if option not in VARIANT_OPTIONS:
                sys.exit(f"Unknown variant option {option!r}: choose from {', '.join(VARIANT_OPTIONS)}.")
    tiny = (lambda name: shapes.TINY.get(name, name)) if args.tiny else (lambda name: name)

    jobs = []
    for decoder in decoders:
        for recipe in recipes:
            for cache in caches if recipe != "bart" else [False]:
                for variant in variants:
                    for batch_size in batch_sizes:
                        if recipe == "bart" and decoder != decoders[0]:
                            continue
                        job = {
                            "suite": args.suite,
                            "recipe": recipe,
                            "cache": cache,
                            "variant": variant,
                            "options": variant.split("+"),
                            "batch_size": batch_size,
                            "encoder": tiny(encoder),
                            "decoder": tiny(decoder),
                            "model": tiny("bart-base"),
                            "steps": args.steps,
                            "warmup": args.warmup,
                            "source_length": args.source_length,
                            "target_length": args.target_length,
                            "num_workers": args.num_workers,
                            "backbone_dtype": backbone_dtype,
                            "save_dtype": backbone_dtype or "float32",
                            "backbone_dir": args.backbone_dir,
                            "cpu": args.cpu,
                            "model_only_steps": args.model_only_steps,
                        }
                        if recipe == "bart":
                            job["encoder"] = job["decoder"] = None
                        job["label"] = _label(job)
                        jobs.append(job)
    return jobs


def run_in_process(job: dict) -> dict:
    """
    Runs one configuration in this process (`--isolation none`): no start-up cost per configuration. Everything it
    built is freed afterwards and the peak counters are reset before its training starts; `allocated_before_gib`
    shows what, if anything, an earlier configuration left on the GPU.
    """
    import gc

    import torch

    start = time.perf_counter()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    child_main(job, result_path)
    result = json.loads(Path(result_path).read_text())
    Path(result_path).unlink(missing_ok=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    torch._dynamo.reset()
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def run_child(job: dict, timeout: int, isolation: str = "fork") -> dict:
    """
    Runs one configuration in a child process (`--isolation fork`): its own CUDA context and peak-memory counters,
    while the imports done once here are inherited; spawned instead when CUDA is already initialised here.
    """
    import multiprocessing

    import torch

    if isolation == "none":
        return run_in_process(job)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    start = time.perf_counter()
    # A forked child cannot use CUDA once this process has initialised it; spawn (a fresh interpreter) then.
    method = "spawn" if torch.cuda.is_initialized() else "fork"
    process = multiprocessing.get_context(method).Process(target=child_main, args=(job, result_path))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        result = {"error": f"timed out after {timeout}s"}
    else:
        text = Path(result_path).read_text() if Path(result_path).stat().st_size else ""
        result = json.loads(text) if text else {"error": f"child exited with code {process.exitcode}"}
    Path(result_path).unlink(missing_ok=True)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'configuration':44} {'enc':>16} {'dec':>13} {'batch':>5} {'samples/s':>10} {'step ms':>8} "
        f"{'peak GiB':>9} {'reserved':>9} {'trainable M':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        enc = row.get("encoder") or row.get("model") or ""
        dec = row.get("decoder") or ""
        prefix = f"{row['label'][:44]:44} {enc[:16]:>16} {dec[:13]:>13} {row['batch_size']:>5} "
        if "skipped" in row:
            print(prefix + f"skipped: {row['skipped']}")
        elif "error" in row:
            print(prefix + f"ERROR: {row['error'][:160]}")
        else:
            print(
                prefix + f"{row['samples_per_s']:>10.1f} {row['step_ms']:>8.2f} {row.get('peak_mem_gib', 0):>9.2f} "
                f"{row.get('peak_reserved_gib', 0):>9.2f} {row['trainable_params_m']:>11.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), default="seed", help="seed: table 2; scale: table 4.")
    parser.add_argument("--recipes", help=f"Comma-separated, from {','.join(RECIPES)} (default: the suite's).")
    parser.add_argument("--encoder", help="Encoder shape (benchmarks/shapes.py; default: the suite's).")
    parser.add_argument("--decoders", help="Comma-separated decoder shapes (default: the suite's).")
    parser.add_argument("--batch_sizes", help="Comma-separated per-device batch sizes (default: seed 8,32; scale 8).")
    parser.add_argument("--cache", help="Comma-separated from no,yes: without / with the feature cache.")
    parser.add_argument("--variants", default="base", help="Comma-separated variants (see above).")
    parser.add_argument("--steps", type=int, default=20, help="Timed training steps.")
    parser.add_argument("--warmup", type=int, default=5, help="Untimed steps first (>= 1).")
    parser.add_argument("--source_length", type=int, default=256)
    parser.add_argument("--target_length", type=int, default=128)
    parser.add_argument(
        "--num_workers",
        type=int,
        default=0,
        help="dataloader_num_workers (default 0: the Trainer's and the recipes').",
    )
    parser.add_argument("--backbone_dtype", help="float32 | float16 | bfloat16 for the backbones.")
    parser.add_argument("--backbone_dir", default=os.path.join(tempfile.gettempdir(), "latent-bench-backbones"))
    parser.add_argument("--timeout", type=int, default=400, help="Seconds allowed per configuration.")
    parser.add_argument("--tiny", action="store_true", help="Tiny backbones of the same families: a CPU dry run.")
    parser.add_argument("--cpu", action="store_true", help="Run on the CPU even where CUDA is available.")
    parser.add_argument("--output", help="Where to write the JSON results (rewritten after every configuration).")
    parser.add_argument(
        "--isolation",
        choices=("none", "fork"),
        default="none",
        help="none: every configuration in this process, one after another (fast; leftovers are reported as "
        "allocated_before_gib); fork: each in a child process (--timeout applies).",
    )
    parser.add_argument(
        "--model_only_steps", type=int, default=20, help="Steps of the Trainer-free diagnostic loop (0: skip it)."
    )
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step compiles and allocates).")

    jobs = build_jobs(args)
    # Imported once here and inherited by forked children. Nothing that initialises CUDA may be imported here for
    # fork: transformers' Trainer imports peft, which imports bitsandbytes, which initialises CUDA on import.
    import torch
    import transformers  # noqa: F401

    if args.isolation == "none":
        from transformers import Seq2SeqTrainer  # noqa: F401
    elif torch.cuda.is_initialized():
        print("CUDA was initialised by an import: the children are spawned, not forked (slower start-up).")

    meta = {
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "suite": args.suite,
        "timing": f"{args.warmup} warm-up steps untimed, then {args.steps} timed steps (device synchronized)",
    }
    rows: list[dict] = []
    prepared: set[tuple] = set()
    for index, job in enumerate(jobs, 1):
        row = {k: job[k] for k in ("label", "recipe", "cache", "variant", "batch_size", "encoder", "decoder")}
        if job["recipe"] == "bart":
            row["model"] = job["model"]
        reason = _skip_reason(job)
        if reason:
            row["skipped"] = reason
        else:
            if RECIPES[job["recipe"]].get("quant"):
                key = (job["encoder"], job["decoder"], job["save_dtype"])
                if key not in prepared:
                    prepared.add(key)
                    prep = run_child({**job, "prepare": True}, args.timeout, args.isolation)
                    print(f"prepared backbones: {prep}", flush=True)
            print(f"[{index}/{len(jobs)}] {job['label']} batch {job['batch_size']} ...", flush=True)
            row.update(run_child(job, args.timeout, args.isolation))
            summary = {k: row[k] for k in ("samples_per_s", "peak_mem_gib", "error", "wall_s") if k in row}
            print(f"    {summary}", flush=True)
        rows.append(row)
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
