"""Evaluation metrics that work offline.

``load_rouge()`` loads the local ``evaluate`` ROUGE module (``metrics/rouge/rouge.py``) by absolute path, so it
works from any working directory and with ``HF_HUB_OFFLINE=1``.
"""

import os

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
ROUGE_METRIC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rouge")


def load_rouge(**load_kwargs):
    """Return the local ROUGE metric as an ``evaluate.EvaluationModule``.

    ``load_kwargs`` are forwarded to ``evaluate.load`` (e.g. ``keep_in_memory=True``, ``experiment_id=...``).
    Call ``.compute(predictions=[...], references=[...])`` on the result; see ``metrics/rouge/rouge.py``.
    """
    import evaluate

    return evaluate.load(ROUGE_METRIC_PATH, **load_kwargs)


__all__ = ["ROUGE_KEYS", "ROUGE_METRIC_PATH", "load_rouge"]
