"""Command-line and recipe arguments: model, data and training dataclasses, filled from YAML then the CLI."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser, Seq2SeqTrainingArguments

from data_collators.data_collator_latent_prefix import check_buckets
from modeling.latent_space.configuration_latent_space import DEFAULT_DECODER, DEFAULT_ENCODER


@dataclass
class ModelArguments:
    """Which backbones to glue, how the heads are shaped, and how the backbones are loaded (dtype, 8/4-bit, LoRA)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A trained latent-space checkpoint (folder or Hub id) to start from instead of new heads."},
    )
    encoder_name_or_path: str = field(
        default=DEFAULT_ENCODER, metadata={"help": "Encoder backbone: Hub id or folder."}
    )
    decoder_name_or_path: str = field(
        default=DEFAULT_DECODER, metadata={"help": "Causal-LM decoder: Hub id or folder."}
    )
    encoder_layer: int | None = field(
        default=None, metadata={"help": "Encoder hidden state to pool: -1 the output (default), 0 the embeddings, k."}
    )
    pooling: str | None = field(
        default=None, metadata={"help": "mean | attention | cls | segments (config default: mean)."}
    )
    pooled_layer_norm: bool | None = field(
        default=None, metadata={"help": "LayerNorm each pooled vector before the compression MLP (default on)."}
    )
    pooled_batch_norm: bool | None = field(
        default=None,
        metadata={"help": "Standardise each pooled feature over the batch (BatchNorm, no affine; default off)."},
    )
    pooling_num_queries: int | None = field(
        default=None, metadata={"help": "Learned queries of attention pooling, concatenated (default 1)."}
    )
    latent_dim: int | None = field(default=None, metadata={"help": "Size of the idea vector (default 256)."})
    num_idea_vectors: int | None = field(
        default=None,
        metadata={
            "help": "Idea vectors of latent_dim the encoder side writes (default 1; >1 needs segments/attention)."
        },
    )
    compression_hidden_dims: list[int] | None = field(
        default=None, metadata={"help": "Hidden sizes of the compression MLP (default 512)."}
    )
    middle_model: str | None = field(
        default=None, metadata={"help": "mlp | transformer | gru | identity (default mlp)."}
    )
    middle_hidden_dim: int | None = field(default=None, metadata={"help": "Middle model width (default 512)."})
    middle_num_layers: int | None = field(default=None, metadata={"help": "Middle model layers (default 3)."})
    num_latent_slots: int | None = field(default=None, metadata={"help": "Slots of the transformer middle model."})
    middle_num_heads: int | None = field(default=None, metadata={"help": "Heads of the transformer middle model."})
    num_reasoning_steps: int | None = field(default=None, metadata={"help": "Steps of the gru middle model."})
    prefix_len: int | None = field(
        default=None, metadata={"help": "Soft-prompt vectors for the decoder (default 10)."}
    )
    prefix_hidden_dim: int | None = field(
        default=None, metadata={"help": "Width of the expansion MLP (default 1024)."}
    )
    prefix_layer_norm: bool | None = field(
        default=None,
        metadata={"help": "LayerNorm each soft-prompt vector at the decoder's embedding scale (default on)."},
    )
    latent_to_embeddings: bool | None = field(
        default=None,
        metadata={"help": "Also add the idea to every token embedding the decoder reads, as Optimus (default off)."},
    )
    latent_to_logits: bool | None = field(
        default=None,
        metadata={"help": "Also shift the decoder's last hidden state by the idea, before its LM head (default off)."},
    )
    latent_logits_coverage: bool | None = field(
        default=None,
        metadata={
            "help": "The latent_to_logits route stops favouring tokens the summary already holds (default off). "
            "A continued checkpoint takes it, like the loss weights."
        },
    )
    bag_of_words_loss_weight: float | None = field(
        default=None,
        metadata={"help": "Weight of the idea's bag-of-words loss; needs latent_to_logits (default 0: off)."},
    )
    decoder_loss_weight: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the summary cross-entropy through the decoder (default 1); 0 trains the bag-of-words "
            "loss alone, without the decoder pass. Unlike the head settings, a continued checkpoint takes this one."
        },
    )
    head_dropout: float | None = field(default=None, metadata={"help": "Dropout in the heads (default 0.1)."})
    head_init: str | None = field(
        default=None, metadata={"help": "fan_in | normal: how the head MLPs' weights start (default fan_in)."}
    )
    decoder_prompt: str | None = field(
        default=None,
        metadata={
            "help": "Fixed decoder text around the soft prompt, with {idea} where it goes, e.g. an instruct model's "
            "chat turn. The same for every input: the dialogue still reaches the decoder only through the latent."
        },
    )
    freeze_encoder: bool = field(default=True, metadata={"help": "Keep the encoder's weights frozen."})
    freeze_decoder: bool = field(default=True, metadata={"help": "Keep the decoder's weights frozen."})
    encoder_lora: str | None = field(
        default=None, metadata={"help": "peft LoraConfig arguments for the encoder, as a mapping (YAML) or JSON."}
    )
    decoder_lora: str | None = field(
        default=None, metadata={"help": "peft LoraConfig arguments for the decoder, as a mapping (YAML) or JSON."}
    )
    save_backbones: bool = field(
        default=False,
        metadata={
            "help": "Store the frozen backbones in every checkpoint (self-contained, larger). By default checkpoints "
            "hold the heads and LoRA adapters, and reference the backbones by name or path plus a hash of their weights."
        },
    )
    backbone_dtype: str | None = field(
        default=None, metadata={"help": "dtype the backbones load in: float32 | float16 | bfloat16 (heads stay fp32)."}
    )
    load_in_8bit: bool = field(default=False, metadata={"help": "Load both backbones in 8-bit (bitsandbytes, CUDA)."})
    load_in_4bit: bool = field(default=False, metadata={"help": "Load both backbones in 4-bit (bitsandbytes, CUDA)."})
    bnb_4bit_quant_type: str = field(default="nf4", metadata={"help": "4-bit quantization type: nf4 | fp4."})
    bnb_4bit_compute_dtype: str = field(default="float16", metadata={"help": "Compute dtype of 4-bit layers."})
    attn_implementation: str | None = field(default=None, metadata={"help": "eager | sdpa | flash_attention_2."})
    max_new_tokens: int = field(default=64, metadata={"help": "Summary length limit during generation."})
    repetition_penalty: float | None = field(default=None, metadata={"help": "Generation repetition penalty."})
    no_repeat_ngram_size: int | None = field(default=None, metadata={"help": "Forbid repeating n-grams of this size."})
    num_beams: int | None = field(
        default=None, metadata={"help": "Beam width saved as the model's default for generation (greedy: 1)."}
    )

    def __post_init__(self) -> None:
        self.encoder_lora = _as_mapping(self.encoder_lora, "encoder_lora")
        self.decoder_lora = _as_mapping(self.decoder_lora, "decoder_lora")
        if self.num_beams is not None and self.num_beams < 1:
            raise ValueError(f"`num_beams` must be at least 1, got {self.num_beams}.")
        if self.load_in_8bit and self.load_in_4bit:
            raise ValueError("Choose one of `load_in_8bit` and `load_in_4bit`, not both.")
        if self.backbone_dtype not in (None, "float32", "float16", "bfloat16", "auto"):
            raise ValueError(
                f"`backbone_dtype` must be float32, float16, bfloat16 or auto, got {self.backbone_dtype!r}."
            )


COMPILE_SHAPES = ("static", "dynamic", "automatic")


@dataclass
class DataTrainingArguments:
    """Where the dialogues come from and how they are cut into model inputs."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset (default samsum when no local files are given)."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    train_file: list[str] | None = field(
        default=None, metadata={"help": "Local json/jsonl/csv training file(s); several are concatenated."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Local json/jsonl/csv validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Local json/jsonl/csv test file."})
    text_column: str = field(default="dialogue", metadata={"help": "Column holding the dialogue."})
    summary_column: str = field(default="summary", metadata={"help": "Column holding the reference summary."})
    id_column: str | None = field(default="id", metadata={"help": "Column with example ids (kept in predictions)."})
    max_source_length: int = field(default=256, metadata={"help": "Dialogue tokens kept (longer are truncated)."})
    max_target_length: int = field(default=128, metadata={"help": "Summary tokens kept, EOS included."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many validation rows."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Use only this many test rows."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    pad_to_multiple_of: int | None = field(default=8, metadata={"help": "Pad batch lengths to a multiple of this."})
    source_buckets: list[int] | None = field(
        default=None,
        metadata={
            "help": "Pad dialogues to the smallest of these lengths that fits (e.g. 64 128 256; the largest at least "
            "max_source_length): few shapes, so --torch_compile compiles once per bucket. Overrides pad_to_multiple_of."
        },
    )
    target_buckets: list[int] | None = field(
        default=None,
        metadata={"help": "The same for summaries (e.g. 16 32 64; the largest at least max_target_length)."},
    )
    compile_shapes: str = field(
        default="static",
        metadata={
            "help": "With --torch_compile: static compiles each bucket shape once, dynamic one graph with symbolic "
            "lengths (needed without buckets), automatic dynamo's own choice. Beyond the shapes allowed it fails loudly."
        },
    )
    use_feature_cache: bool = field(
        default=False,
        metadata={
            "help": "Compute a frozen encoder's outputs once and reuse them every epoch (not with encoder LoRA)."
        },
    )
    feature_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "With use_feature_cache: also keep the encoder's outputs in this folder, keyed by the encoder's "
            "weights, the tokenized dialogues and the pooling, so a later run on the same data (the next stage of "
            "a recipe) reads them instead of encoding again (default: memory only)."
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Start over instead of resuming from the last checkpoint in output_dir."}
    )
    max_train_minutes: float | None = field(
        default=None,
        metadata={"help": "Stop training after this many minutes of wall time, then save and evaluate as usual."},
    )

    def __post_init__(self) -> None:
        if self.dataset_name is None and not any((self.train_file, self.validation_file, self.test_file)):
            self.dataset_name = "samsum"
        if isinstance(self.train_file, str):
            self.train_file = [self.train_file]
        for name in ("train_file", "validation_file", "test_file"):
            paths = getattr(self, name)
            for path in [paths] if isinstance(paths, str) else paths or []:
                if Path(path).suffix not in (".json", ".jsonl", ".csv"):
                    raise ValueError(f"`{name}` must be .json, .jsonl or .csv, got {path}.")
                if not Path(path).is_file():
                    raise FileNotFoundError(f"`{name}` {path} does not exist.")
        if self.feature_cache_dir is not None:
            if not self.use_feature_cache:
                raise ValueError(
                    "`feature_cache_dir` keeps the feature cache on disk: set `use_feature_cache: true` too."
                )
            if Path(self.feature_cache_dir).exists() and not Path(self.feature_cache_dir).is_dir():
                raise ValueError(f"`feature_cache_dir` {self.feature_cache_dir} exists and is not a folder.")
        if self.max_train_minutes is not None and self.max_train_minutes <= 0:
            raise ValueError(f"`max_train_minutes` must be positive, got {self.max_train_minutes}.")
        if self.max_source_length < 2 or self.max_target_length < 2:
            raise ValueError("`max_source_length` and `max_target_length` must be at least 2.")
        if self.compile_shapes not in COMPILE_SHAPES:
            raise ValueError(
                f"`compile_shapes` must be one of {', '.join(COMPILE_SHAPES)}, got {self.compile_shapes!r}."
            )
        for name, longest in (("source_buckets", self.max_source_length), ("target_buckets", self.max_target_length)):
            buckets = getattr(self, name)
            check_buckets(buckets, name)
            if buckets and buckets[-1] < longest:
                raise ValueError(
                    f"The largest of `{name}` ({buckets[-1]}) must hold the longest row ({longest} tokens, "
                    f"`max_{name.split('_')[0]}_length`)."
                )


def _as_mapping(value: Any, name: str) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"`{name}` must be a mapping or a JSON object, got {value!r}.") from error
    if not isinstance(parsed, dict):
        raise ValueError(f"`{name}` must be a mapping or a JSON object, got {value!r}.")
    return parsed


ARGUMENT_CLASSES = (ModelArguments, DataTrainingArguments, Seq2SeqTrainingArguments)


def known_keys(classes: tuple[type, ...] = ARGUMENT_CLASSES) -> set[str]:
    return {f.name for cls in classes for f in dataclasses.fields(cls) if f.init}


def recipe_to_argv(recipe: dict[str, Any], source: str, classes: tuple[type, ...] = ARGUMENT_CLASSES) -> list[str]:
    """Turns a recipe mapping into `--key value` arguments; a key no dataclass knows is an error naming it."""
    unknown = sorted(set(recipe) - known_keys(classes))
    if unknown:
        raise ValueError(
            f"Unknown key(s) in {source}: {', '.join(unknown)}. Check the spelling against "
            "`python run_summarization.py --help`."
        )
    argv: list[str] = []
    for key, value in recipe.items():
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if isinstance(value, dict):
            argv += [f"--{key}", json.dumps(value)]
        elif isinstance(value, (list, tuple)):
            argv += [f"--{key}", *[str(v) for v in value]]
        else:
            argv += [f"--{key}", str(value)]
    return argv


def load_recipe(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Recipe {path} does not exist.")
    with path.open() as handle:
        recipe = yaml.safe_load(handle) or {}
    if not isinstance(recipe, dict):
        raise ValueError(f"Recipe {path} must be a YAML mapping of argument names to values.")
    return recipe


def parse_args(argv: list[str] | None = None, classes: tuple[type, ...] = ARGUMENT_CLASSES) -> tuple[Any, ...]:
    """
    `script.py [RECIPE.yaml] [--key value ...]`: the recipe's values first, then the command line, which wins.
    Unknown keys, in the recipe or on the command line, are errors that name them.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe_argv: list[str] = []
    empty_lists: list[str] = []
    if argv and argv[0].endswith((".yaml", ".yml")):
        recipe_path = argv.pop(0)
        recipe = load_recipe(recipe_path)
        recipe_argv = recipe_to_argv(recipe, recipe_path, classes)
        # `key: []` has no command-line spelling, so it is set after parsing (unless the command line gives the key).
        given = {arg.split("=")[0].lstrip("-").replace("-", "_") for arg in argv if arg.startswith("--")}
        empty_lists = [key for key, value in recipe.items() if value == [] and key not in given]
    parser = HfArgumentParser(classes)
    parsed = parser.parse_args_into_dataclasses(args=recipe_argv + argv, return_remaining_strings=True)
    *dataclass_objects, remaining = parsed
    if remaining:
        raise ValueError(f"Unknown command-line argument(s): {' '.join(remaining)}")
    for key in empty_lists:
        for arguments in dataclass_objects:
            if key in getattr(arguments, "__dataclass_fields__", {}):
                setattr(arguments, key, [])
    return tuple(dataclass_objects)
