"""A model card (README.md with model-index metadata) written into the output folder after training."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from metrics import ROUGE_KEYS

BACKBONE_SOURCE_FILE = "backbone_source.json"

# `name` or `owner/name`: letters, digits, `-`, `_`, `.`; no `--` or `..`, no leading or trailing `-` / `.`.
_HUB_ID = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9_])?(?:/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9_])?)?$")

# Local data folders named after a public corpus (as in ../shared/data/) -> that corpus's Hub dataset id.
KNOWN_DATA_FOLDERS = {"samsum": "samsum", "dialogsum": "knkarthick/dialogsum", "gsm8k": "openai/gsm8k"}


def is_hub_id(name: str) -> bool:
    """Whether `name` has the form of a Hub repository id (`gpt2`, `owner/name`), not of a local path."""
    return bool(_HUB_ID.match(name))


def base_model_id(name_or_path: str) -> str | None:
    """
    The Hub id a backbone came from, for a card's `base_model`: a Hub id as is; a local folder made by
    `make backbones` through the `upstream` its `backbone_source.json` records; any other local folder, or anything
    shaped like a path (`./x`, `/x`, `a/b/c`): None (a local path would break the Hub's model tree).
    """
    name_or_path = str(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        source = path / BACKBONE_SOURCE_FILE
        if source.is_file():
            upstream = json.loads(source.read_text()).get("upstream")
            return upstream if isinstance(upstream, str) and is_hub_id(upstream) else None
        return None
    return name_or_path if is_hub_id(name_or_path) else None


def base_model_ids(names_or_paths: Iterable[str | None]) -> list[str]:
    """The Hub ids of several backbones, in order, without unknowns or repeats: a card's `base_model` list."""
    ids = (base_model_id(name) for name in names_or_paths if name)
    return list(dict.fromkeys(i for i in ids if i))


def hub_dataset_id(data_file: str | Path) -> str | None:
    """The Hub dataset a local data file was taken from, known by its folder's name (`.../samsum/train.jsonl`)."""
    return KNOWN_DATA_FOLDERS.get(Path(data_file).parent.name.lower())


def hub_dataset_ids(data_files: Iterable[str | Path | None]) -> list[str]:
    """The Hub datasets behind local data files, in order, without repeats; files of unknown origin add none."""
    ids = (hub_dataset_id(f) for f in data_files if f)
    return list(dict.fromkeys(i for i in ids if i))


SPLIT_NAMES = {"eval": "validation", "predict": "test"}


def _eval_dataset(dataset_name: str | None, files: list[str]) -> dict[str, str]:
    """model-index's `dataset` entry: a Hub id when known; local files of unknown origin as `json` (their loader)."""
    if dataset_name:
        return {"type": dataset_name, "name": dataset_name}
    ids = hub_dataset_ids(files)
    listed = ", ".join(files)
    if ids:
        return {"type": ids[0], "name": f"{ids[0]} ({listed})" if listed else ids[0]}
    return {"type": "json", "name": f"local file {listed}" if listed else "local data"}


def _model_index(model_name: str, dataset: dict[str, str], metrics: dict[str, float], split: str) -> list[dict]:
    results = [
        {
            "type": key,
            "value": metrics[f"{split}_{key}"],
            "name": f"ROUGE-{key[5:]}" if key != "rougeLsum" else "ROUGE-Lsum",
        }
        for key in ROUGE_KEYS
        if f"{split}_{key}" in metrics
    ]
    if not results:
        return []
    return [
        {
            "name": model_name,
            "results": [
                {
                    "task": {"type": "summarization", "name": "Summarization"},
                    "dataset": {**dataset, "split": SPLIT_NAMES.get(split, split)},
                    "metrics": results,
                }
            ],
        }
    ]


def _training_data_section(dataset_name: str | None, data_files: dict[str, list[str]]) -> str:
    """Says where every split came from: a Hub dataset, or local files (with the Hub corpus they were cut from)."""
    if dataset_name:
        return (
            f"## Training data\n\nThe Hub dataset [`{dataset_name}`](https://huggingface.co/datasets/{dataset_name})."
        )
    lines = []
    for split, files in data_files.items():
        described = []
        for file in files:
            hub_id = hub_dataset_id(file)
            origin = f"rows of [`{hub_id}`](https://huggingface.co/datasets/{hub_id})" if hub_id else "not on the Hub"
            described.append(f"`{file}` ({origin})")
        if described:
            lines.append(f"- {split}: {', '.join(described)}")
    return "## Training data\n\nLocal JSON Lines files:\n\n" + "\n".join(lines) if lines else ""


def usage_snippet(model_name: str) -> str:
    """The card's "How to use": transformers only, the model's own code comes with it (`trust_remote_code=True`)."""
    return (
        "## How to use\n\n"
        "Only `transformers` is needed: the model's, its processor's and its pipeline's code are files of this "
        "repository, loaded with `trust_remote_code=True` (read them first).\n\n"
        "```python\nfrom transformers import pipeline\n\n"
        f'summarizer = pipeline("summarization", model="{model_name}", trust_remote_code=True)\n'
        'print(summarizer("Anna: Lunch at noon?\\nTom: Sure!")[0]["summary_text"])\n```\n\n'
        "Or step by step (the processor holds the encoder's and the decoder's tokenizers):\n\n"
        "```python\nfrom transformers import AutoModelForSeq2SeqLM, AutoProcessor\n\n"
        f'model = AutoModelForSeq2SeqLM.from_pretrained("{model_name}", trust_remote_code=True)\n'
        f'processor = AutoProcessor.from_pretrained("{model_name}", trust_remote_code=True)\n'
        'inputs = processor(["Anna: Lunch at noon?\\nTom: Sure!"], return_tensors="pt", padding=True)\n'
        "print(processor.batch_decode(model.generate(**inputs)))\n```"
    )


def render_model_card(
    model_name: str,
    config: Any,
    dataset_name: str | None,
    recipe: dict[str, Any],
    metrics: dict[str, float],
    trainable_parameters: int,
    total_parameters: int,
    examples: list[dict[str, str]] | None = None,
    data_files: dict[str, list[str]] | None = None,
) -> str:
    """
    The card's text: YAML front matter (tags, datasets, base models, model-index), then what the model is, how to
    use it, what it was trained on and how it did. `dataset_name` is a Hub dataset id, or None when `data_files`
    (split -> local files) were used; `datasets:` and `base_model:` hold Hub ids only, never local paths.
    """
    data_files = {split: [str(f) for f in files if f] for split, files in (data_files or {}).items()}
    split = "eval" if any(k.startswith("eval_") for k in metrics) else "predict"
    eval_files = data_files.get(SPLIT_NAMES[split], [])
    front_matter: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "summarization",
        "tags": ["summarization", "latent-space", "prefix-tuning", "generated_from_trainer"],
        "datasets": [dataset_name] if dataset_name else hub_dataset_ids(data_files.get("train", [])),
        "base_model": base_model_ids([config.encoder_name_or_path, config.decoder_name_or_path]),
        "model-index": _model_index(model_name, _eval_dataset(dataset_name, eval_files), metrics, split),
    }
    front_matter = {key: value for key, value in front_matter.items() if value}
    rouge_rows = "\n".join(
        f"| {key} | {metrics[f'{split}_{key}']:.2f} |" for key in ROUGE_KEYS if f"{split}_{key}" in metrics
    )
    example_rows = "\n".join(
        f"| {e['dialogue'][:160].replace(chr(10), ' / ').replace('|', '/')} | {e['reference'].replace('|', '/')} | "
        f"{e['prediction'].replace('|', '/')} |"
        for e in (examples or [])
    )
    ideas = (
        f"a {config.latent_dim}-d idea vector"
        if config.num_idea_vectors == 1
        else f"{config.num_idea_vectors} idea vectors of {config.latent_dim} dimensions"
    )
    encoder = base_model_id(config.encoder_name_or_path) or config.encoder_name_or_path
    decoder = base_model_id(config.decoder_name_or_path) or config.decoder_name_or_path
    results_on = dataset_name or _eval_dataset(None, eval_files)["name"]
    sections = [
        f"---\n{yaml.safe_dump(front_matter, sort_keys=False)}---",
        f"# {model_name}",
        (
            f"A latent-space summarizer: the encoder `{encoder}` reads the dialogue, a "
            f"{config.pooling}-pooled compression head turns it into {ideas}, a "
            f"`{config.middle_model}` middle model transforms it, and a prefix adapter writes {config.prefix_len} "
            f"soft-prompt vectors from which the decoder `{decoder}` generates the summary."
        ),
        (
            f"Trainable parameters: {trainable_parameters:,} of {total_parameters:,} "
            f"(encoder {'frozen' if config.freeze_encoder else 'trained'}, decoder "
            f"{'frozen' if config.freeze_decoder else 'trained'}"
            f"{', LoRA on the encoder' if config.encoder_lora else ''}"
            f"{', LoRA on the decoder' if config.decoder_lora else ''})."
        ),
        usage_snippet(model_name),
        _training_data_section(dataset_name, data_files),
        (
            f"## Results on {results_on} ({SPLIT_NAMES[split]})\n\n| metric | value |\n| --- | --- |\n{rouge_rows}"
            + (
                f"\n| mean generated length (words) | {metrics[f'{split}_gen_len']:.1f} |"
                if f"{split}_gen_len" in metrics
                else ""
            )
            if rouge_rows
            else ""
        ),
    ]
    sections = [section for section in sections if section]
    if example_rows:
        sections.append(
            f"## Example summaries\n\n| dialogue | reference | generated |\n| --- | --- | --- |\n{example_rows}"
        )
    sections.append(f"## Training recipe\n\n```json\n{json.dumps(recipe, indent=2, sort_keys=True, default=str)}\n```")
    return "\n\n".join(sections) + "\n"


def write_model_card(output_dir: str | Path, **kwargs: Any) -> Path:
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_card(**kwargs))
    return path
