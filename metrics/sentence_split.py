"""Offline sentence splitting for ROUGE-Lsum: ``split_sentences`` and ``add_newlines_between_sentences``.

The code lives in ``metrics/rouge/sentence_split.py`` so that the ``evaluate`` metric script can import it
from its own folder (``evaluate`` copies only same-folder files into its module cache); this module re-exports it.
"""

from metrics.rouge.sentence_split import ABBREVIATIONS, add_newlines_between_sentences, split_sentences

__all__ = ["ABBREVIATIONS", "add_newlines_between_sentences", "split_sentences"]
