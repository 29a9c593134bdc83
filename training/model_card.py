"""A model card (README.md with model-index metadata) written into the output folder after training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from metrics import ROUGE_KEYS

BACKBONE_SOURCE_FILE = "backbone_source.json"


def base_model_id(name_or_path: str) -> str | None:
    """
    The Hub id a backbone came from, for a card's `base_model`: a Hub id as is; a local folder made by
    `make backbones` through the `upstream` its `backbone_source.json` records; any other local folder: None
    (a local path would break the Hub's model tree).
    """
    path = Path(name_or_path)
    if path.is_dir():
        source = path / BACKBONE_SOURCE_FILE
        if source.is_file():
            return json.loads(source.read_text()).get("upstream")
        return None
    return name_or_path


def _model_index(model_name: str, dataset_name: str, metrics: dict[str, float], split: str) -> list[dict[str, Any]]:
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
                    "dataset": {"type": dataset_name, "name": dataset_name, "split": split},
                    "metrics": results,
                }
            ],
        }
    ]


def render_model_card(
    model_name: str,
    config: Any,
    dataset_name: str,
    recipe: dict[str, Any],
    metrics: dict[str, float],
    trainable_parameters: int,
    total_parameters: int,
    examples: list[dict[str, str]] | None = None,
) -> str:
    """The card's text: YAML front matter (tags, datasets, model-index), then what the model is and how it did."""
    split = "eval" if any(k.startswith("eval_") for k in metrics) else "predict"
    front_matter = {
        "library_name": "transformers",
        "pipeline_tag": "summarization",
        "tags": ["summarization", "latent-space", "prefix-tuning", "generated_from_trainer"],
        "datasets": [dataset_name],
        "base_model": [config.encoder_name_or_path, config.decoder_name_or_path],
        "model-index": _model_index(model_name, dataset_name, metrics, split),
    }
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
    sections = [
        f"---\n{yaml.safe_dump(front_matter, sort_keys=False)}---",
        f"# {model_name}",
        (
            f"A latent-space summarizer: the encoder `{config.encoder_name_or_path}` reads the dialogue, a "
            f"{config.pooling}-pooled compression head turns it into {ideas}, a "
            f"`{config.middle_model}` middle model transforms it, and a prefix adapter writes {config.prefix_len} "
            f"soft-prompt vectors from which the decoder `{config.decoder_name_or_path}` generates the summary."
        ),
        (
            f"Trainable parameters: {trainable_parameters:,} of {total_parameters:,} "
            f"(encoder {'frozen' if config.freeze_encoder else 'trained'}, decoder "
            f"{'frozen' if config.freeze_decoder else 'trained'}"
            f"{', LoRA on the encoder' if config.encoder_lora else ''}"
            f"{', LoRA on the decoder' if config.decoder_lora else ''})."
        ),
        "## How to use\n\n```python\nfrom transformers import AutoModelForSeq2SeqLM\n"
        "from modeling import LatentSpaceProcessor  # from the latent-space summarization recipes repository\n\n"
        f'model = AutoModelForSeq2SeqLM.from_pretrained("{model_name}", trust_remote_code=True)\n'
        f'processor = LatentSpaceProcessor.from_pretrained("{model_name}")\n'
        'inputs = processor(["Anna: Lunch at noon?\\nTom: Sure!"], return_tensors="pt", padding=True)\n'
        "print(processor.batch_decode(model.generate(**inputs, max_new_tokens=64)))\n```",
        f"## Results on {dataset_name} ({split})\n\n| metric | value |\n| --- | --- |\n{rouge_rows}"
        + (
            f"\n| mean generated length (words) | {metrics[f'{split}_gen_len']:.1f} |"
            if f"{split}_gen_len" in metrics
            else ""
        ),
    ]
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
