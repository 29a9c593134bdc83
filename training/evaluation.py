"""ROUGE of generated summaries, shared by training (compute_metrics) and run_eval.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from transformers import EvalPrediction

from metrics import ROUGE_KEYS, load_rouge
from modeling import LatentSpaceProcessor


def rouge_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F1 as percentages, plus the mean predicted length in words."""
    scores = load_rouge().compute(predictions=predictions, references=references)
    result = {key: round(100 * float(scores[key]), 4) for key in ROUGE_KEYS}
    result["gen_len"] = round(float(np.mean([len(p.split()) for p in predictions])), 4)
    return result


def decode_generated(token_ids: np.ndarray, processor: LatentSpaceProcessor) -> list[str]:
    """Generated or label ids (with -100 padding from the Trainer) -> stripped summary strings."""
    token_ids = np.where(token_ids != -100, token_ids, processor.pad_token_id)
    return processor.batch_decode(token_ids, skip_special_tokens=True)


def build_compute_metrics(processor: LatentSpaceProcessor) -> Callable[[EvalPrediction], dict[str, float]]:
    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        predictions = (
            prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        )
        return rouge_scores(
            decode_generated(predictions, processor), decode_generated(prediction.label_ids, processor)
        )

    return compute_metrics
