"""A saved summarizer works with nothing but transformers, and its card names Hub ids, never local paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForSeq2SeqLM

import run_summarization
from modeling import LatentSpaceProcessor
from tests.test_recipes_and_scripts import tiny_recipe
from tests.tiny_backbones import PAIRS, save_tiny_backbones, tiny_config, tiny_model, tiny_processor
from training.model_card import BACKBONE_SOURCE_FILE, base_model_id, render_model_card

REPO = Path(__file__).resolve().parents[1]
HUB_ID = "someone/latent-tiny"
# Where the tiny backbones "came from", as `make backbones` records it for the real offline ones.
UPSTREAM = ("hf-internal-testing/tiny-random-BertModel", "hf-internal-testing/tiny-random-GPT2LMHeadModel")


def run_without_this_repository(code: str, cwd: Path) -> str:
    """Runs `code` in a fresh interpreter that cannot import this repository (isolated mode, cwd elsewhere)."""
    guard = textwrap.dedent(
        """
        import importlib.util, sys
        for name in ("modeling", "training", "inference", "data_collators"):
            assert importlib.util.find_spec(name) is None, f"{name} is importable from {sys.path}"
        """
    )
    env = {**os.environ, "HF_HOME": str(cwd / "hf_home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-I", "-c", guard + code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def card_snippets(card: str) -> list[str]:
    """The Python blocks of the card's "How to use" section."""
    usage = card.split("## How to use", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", usage, flags=re.DOTALL)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    """A tiny summarizer trained and saved by run_summarization.py, its backbones recording their Hub origin."""
    tmp_path = tmp_path_factory.mktemp("remote")
    backbones = save_tiny_backbones(tmp_path / "backbones")
    for folder, upstream in zip(backbones, UPSTREAM, strict=True):
        (folder / BACKBONE_SOURCE_FILE).write_text(json.dumps({"upstream": upstream}))
    recipe = tiny_recipe(tmp_path, backbones, max_steps=2, max_eval_samples=4, save_strategy="no", hub_model_id=HUB_ID)
    metrics = run_summarization.main([str(recipe)])
    return tmp_path / "run", metrics


def test_card_snippet_summarizes_in_a_process_without_this_repository(trained_run, tmp_path):
    run, _ = trained_run
    card = (run / "README.md").read_text()
    snippets = card_snippets(card)
    assert len(snippets) == 2 and all(f'"{HUB_ID}"' in s for s in snippets)
    assert "from modeling" not in card and "import modeling" not in card
    dialogues = [dialogue for dialogue, _ in PAIRS[:3]]
    code = "\n".join(snippet.replace(f'"{HUB_ID}"', repr(str(run))) for snippet in snippets) + textwrap.dedent(
        f"""
        import json
        dialogues = {dialogues!r}
        assert type(processor).__name__ == "LatentSpaceProcessor" and "transformers_modules" in type(model).__module__
        inputs = processor(dialogues, return_tensors="pt", padding=True)
        print("RESULT" + json.dumps({{
            "pipeline": [out["summary_text"] for out in summarizer(dialogues, max_new_tokens=6)],
            "generate": processor.batch_decode(model.generate(**inputs, max_new_tokens=6)),
        }}))
        """
    )
    stdout = run_without_this_repository(code, tmp_path)
    result = json.loads(stdout.split("RESULT", 1)[1])

    # The same summaries as this repository's own classes write from the same folder.
    model = AutoModelForSeq2SeqLM.from_pretrained(run).eval()
    processor = LatentSpaceProcessor.from_pretrained(run)
    inputs = processor(dialogues, return_tensors="pt", padding=True)
    expected = processor.batch_decode(model.generate(**inputs, max_new_tokens=6))
    assert result["generate"] == expected
    assert result["pipeline"] == expected


def test_card_front_matter_parses_with_hub_base_models_and_eval_results(trained_run):
    run, metrics = trained_run
    card = (run / "README.md").read_text()
    front_matter = yaml.safe_load(card.split("---")[1])
    assert front_matter["base_model"] == list(UPSTREAM)
    assert front_matter["pipeline_tag"] == "summarization"
    assert "datasets" not in front_matter  # the synthetic demo files are no Hub dataset
    result = front_matter["model-index"][0]["results"][0]
    assert result["dataset"]["type"] == "json" and result["dataset"]["split"] == "validation"
    assert {m["type"]: m["value"] for m in result["metrics"]}["rougeL"] == metrics["eval_rougeL"]
    assert "data/demo/train.jsonl" in card  # the card says which local files trained it
    saved = json.loads((run / "config.json").read_text())
    pipeline_class = saved["custom_pipelines"]["summarization"]["impl"]
    assert pipeline_class == "pipeline_latent_space.LatentSpaceSummarizationPipeline"
    assert json.loads((run / "processor_config.json").read_text())["auto_map"]["AutoProcessor"]
    for code_file in ("modeling", "configuration", "processing", "pipeline"):
        assert (run / f"{code_file}_latent_space.py").is_file()


def test_cards_map_known_local_corpora_to_hub_datasets_and_never_list_local_paths(tmp_path):
    config = tiny_config()
    config.encoder_name_or_path = str(tmp_path / "my-encoder")  # a local folder of unknown origin
    Path(config.encoder_name_or_path).mkdir()
    config.decoder_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    card = render_model_card(
        model_name="someone/latent",
        config=config,
        dataset_name=None,
        recipe={},
        metrics={"eval_rougeL": 30.0},
        trainable_parameters=1,
        total_parameters=2,
        data_files={
            "train": ["../shared/data/samsum/train.jsonl", "../shared/data/dialogsum/train.jsonl"],
            "validation": ["../shared/data/samsum/validation.jsonl"],
        },
    )
    front_matter = yaml.safe_load(card.split("---")[1])
    assert front_matter["datasets"] == ["samsum", "knkarthick/dialogsum"]
    assert front_matter["base_model"] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    dataset = front_matter["model-index"][0]["results"][0]["dataset"]
    assert dataset["type"] == "samsum" and dataset["split"] == "validation"
    assert "../shared/data/dialogsum/train.jsonl" in card

    hub_card = render_model_card(
        model_name="m",
        config=config,
        dataset_name="samsum",
        recipe={},
        metrics={},
        trainable_parameters=1,
        total_parameters=2,
    )
    hub_front_matter = yaml.safe_load(hub_card.split("---")[1])
    assert hub_front_matter["datasets"] == ["samsum"] and "model-index" not in hub_front_matter


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt2", "gpt2"),
        ("answerdotai/ModernBERT-base", "answerdotai/ModernBERT-base"),
        ("./checkpoints/encoder", None),
        ("/data/models/encoder", None),
        ("~/encoder", None),
        ("runs/a/b", None),
        ("bad--name", None),
    ],
)
def test_base_model_id_keeps_hub_ids_and_drops_local_paths(name, expected):
    assert base_model_id(name) == expected


def test_base_model_id_reads_the_recorded_upstream_of_an_offline_backbone(tmp_path):
    (tmp_path / BACKBONE_SOURCE_FILE).write_text(json.dumps({"upstream": "sentence-transformers/all-MiniLM-L6-v2"}))
    assert base_model_id(str(tmp_path)) == "sentence-transformers/all-MiniLM-L6-v2"
    (tmp_path / BACKBONE_SOURCE_FILE).write_text(json.dumps({"upstream": "/some/local/path"}))
    assert base_model_id(str(tmp_path)) is None
    assert base_model_id(str(tmp_path / "..")) is None  # a folder without a recorded source


def test_checkpoints_saved_before_the_remote_processor_still_load_and_resave_self_contained(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    model, processor = tiny_model(), tiny_processor()
    model.save_pretrained(old)
    processor.save_pretrained(old)
    # What a folder saved before this change holds: no processor config or code, no pipeline, no auto_map for them.
    for name in ("processor_config.json", "processing_latent_space.py", "pipeline_latent_space.py"):
        (old / name).unlink()
    config = json.loads((old / "config.json").read_text())
    config.pop("custom_pipelines")
    (old / "config.json").write_text(json.dumps(config))
    for subfolder in ("encoder_tokenizer", "decoder_tokenizer"):
        path = old / subfolder / "tokenizer_config.json"
        settings = json.loads(path.read_text())
        settings.pop("auto_map")
        settings.pop("processor_class")
        path.write_text(json.dumps(settings))

    reloaded = LatentSpaceProcessor.from_pretrained(old)
    reloaded_model = AutoModelForSeq2SeqLM.from_pretrained(old).eval()
    inputs = reloaded([PAIRS[0][0]], return_tensors="pt")
    with torch.no_grad():
        generated = reloaded_model.generate(**inputs, max_new_tokens=5)
    expected = processor.batch_decode(model.eval().generate(**inputs, max_new_tokens=5))
    assert reloaded.batch_decode(generated) == expected

    # Saving again (as the README says) upgrades the folder to one that loads with transformers only.
    reloaded_model.save_pretrained(new)
    reloaded.save_pretrained(new)
    assert json.loads((new / "config.json").read_text())["custom_pipelines"]
    assert (new / "processor_config.json").is_file() and (new / "pipeline_latent_space.py").is_file()


def test_processor_gives_generate_only_what_the_model_reads():
    # A BERT tokenizer also returns token_type_ids, which `generate` would reject as an unused model kwarg.
    encoded = tiny_processor()([PAIRS[0][0]], return_tensors="pt")
    assert set(encoded) == {"input_ids", "attention_mask"}
