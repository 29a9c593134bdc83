"""
Are the demo's summaries about the right people? Scores a `predictions.jsonl` of `run_eval.py` on `data/demo/` against
the names each reference summary uses (the demo's 50 invented first names, so no guessing which words are names):

- first name = speaker: the first person the summary names speaks in the dialogue (as `run_eval.py` reports it);
- all the right people: the summary names exactly the people its reference names;
- at least one right person: it names at least one of them.

    python benchmarks/demo_names.py outputs/demo/predictions.jsonl [more.jsonl ...]

`--route CHECKPOINT` scores a checkpoint's `latent_to_logits` route instead (what `recipes/demo/warmup.yaml` trains):
the share of validation rows whose reference names are exactly the route's top-k names among the 50 (k = how many the
reference names), from the idea of each validation dialogue.

    python benchmarks/demo_names.py --route outputs/demo-pretrain outputs/demo-pretrain-bow
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "data" / "demo"))

from generate_demo_data import PEOPLE  # noqa: E402

from metrics.speakers import first_name_is_speaker  # noqa: E402

NAMES = frozenset(person.name for person in PEOPLE)


def people(text: str) -> set[str]:
    """The demo names a text mentions (possessives included)."""
    return {word for word in re.findall(r"[A-Z][a-z]+", text) if word in NAMES}


def name_scores(rows: list[dict]) -> dict[str, float]:
    """Percentages over the rows (each with `dialogue`, `reference` and `prediction`)."""
    first = sum(first_name_is_speaker(row["prediction"], row["dialogue"]) for row in rows)
    exact = sum(people(row["prediction"]) == people(row["reference"]) for row in rows)
    some = sum(bool(people(row["prediction"]) & people(row["reference"])) for row in rows)
    return {
        "rows": len(rows),
        "first_name_is_speaker": 100 * first / len(rows),
        "all_right_people": 100 * exact / len(rows),
        "at_least_one_right_person": 100 * some / len(rows),
    }


@torch.no_grad()
def route_names_right(checkpoint: Path, rows: list[dict], max_source_length: int = 128) -> float:
    """Percentage of rows whose reference names are the route's top-k demo names (k = how many it names)."""
    from transformers import AutoModelForSeq2SeqLM

    from modeling import LatentSpaceProcessor

    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    if model.latent_logits is None:
        raise SystemExit(f"{checkpoint} has no latent_to_logits route to score.")
    processor = LatentSpaceProcessor.from_pretrained(checkpoint)
    names = sorted(NAMES)
    first_tokens = [
        processor.decoder_tokenizer(" " + name, add_special_tokens=False)["input_ids"][0] for name in names
    ]
    batch = processor.encoder_tokenizer(
        [row["dialogue"] for row in rows], padding=True, truncation=True, max_length=max_source_length,
        return_tensors="pt",
    )  # fmt: skip
    shift = model.latent_shifts(model.reason(model.encode(batch["input_ids"], batch["attention_mask"])))[1]
    scores = (shift @ model.decoder.get_output_embeddings().weight.T)[:, first_tokens]
    right = total = 0
    for row, row_scores in zip(rows, scores, strict=True):
        wanted = {names.index(name) for name in people(row["summary"])}
        if wanted:
            total += 1
            right += set(row_scores.topk(len(wanted)).indices.tolist()) == wanted
    return 100 * right / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "predictions", nargs="+", type=Path, help="predictions.jsonl files of run_eval.py (checkpoints with --route)"
    )
    parser.add_argument("--route", action="store_true", help="Score checkpoints' latent_to_logits routes instead.")
    args = parser.parse_args()
    if args.route:
        rows = [json.loads(line) for line in (REPO / "data" / "demo" / "validation.jsonl").open()]
        print("checkpoint | validation rows | route ranks all the right people on top")
        for checkpoint in args.predictions:
            if not (checkpoint / "config.json").is_file():
                raise SystemExit(f"{checkpoint} is not a checkpoint folder (no config.json).")
            print(f"{checkpoint} | {len(rows)} | {route_names_right(checkpoint, rows):.1f} %")
        return
    print("file | rows | first name = speaker | all the right people | at least one right person")
    for path in args.predictions:
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run `python run_eval.py ... --output_dir DIR` first.")
        rows = [json.loads(line) for line in path.open() if line.strip()]
        if not rows:
            raise SystemExit(f"{path} holds no predictions.")
        scores = name_scores(rows)
        print(
            f"{path} | {scores['rows']} | {scores['first_name_is_speaker']:.1f} % | {scores['all_right_people']:.1f} % "
            f"| {scores['at_least_one_right_person']:.1f} %"
        )


if __name__ == "__main__":
    main()
