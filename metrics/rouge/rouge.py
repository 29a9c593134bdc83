"""ROUGE metric for `evaluate`, usable offline: ``evaluate.load("/abs/path/to/metrics/rouge")``.

F-measures of rouge1, rouge2, rougeL and rougeLsum from Google's ``rouge_score`` package. Unlike the Hub's
``rouge`` metric, the aggregate is the exact mean over examples (no bootstrap resampling), and sentences are split
for rougeLsum with a regex splitter that needs no nltk data.
"""

from collections.abc import Callable, Sequence

import datasets
import evaluate
from rouge_score import rouge_scorer

from .sentence_split import add_newlines_between_sentences

DEFAULT_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

_DESCRIPTION = """\
ROUGE (Recall-Oriented Understudy for Gisting Evaluation) compares a generated summary with one or more
reference summaries through n-gram overlap (rouge1, rouge2), the longest common subsequence over the whole text
(rougeL) and the summary-level longest common subsequence over sentences (rougeLsum). Scores are the F-measures
computed by Google's `rouge_score` package. Text is lower-cased and tokenised on non-alphanumeric characters by
`rouge_score`'s default tokenizer, so only English (ASCII) words count unless a tokenizer is given.
For rougeLsum, `rouge_score` treats newlines as sentence boundaries; with `split_sentences=True` the predictions
and references are first split into sentences by a regex splitter (no nltk download needed) and joined by newlines.
"""

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    address = "Barcelona, Spain",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/W04-1013",
    pages = "74--81",
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted summaries (str).
    references: list of reference summaries, one str per prediction, or one list of str per prediction
        (several references; the best-scoring reference is used for each ROUGE type, as `rouge_score` does).
    rouge_types: ROUGE types to compute, default ("rouge1", "rouge2", "rougeL", "rougeLsum"); any type that
        `rouge_score` accepts (e.g. "rouge3") works.
    use_aggregator: if True (default) return the mean F-measure over examples as a float per ROUGE type;
        if False return the list of per-example F-measures.
    use_stemmer: apply the Porter stemmer to tokens (default True).
    split_sentences: split predictions and references into sentences (one per line) before rougeLsum
        (default True). The other ROUGE types always see the raw text.
    tokenizer: optional callable mapping a str to a list of tokens, used instead of `rouge_score`'s tokenizer.
Returns:
    dict mapping each ROUGE type to a float (use_aggregator=True) or a list of floats (use_aggregator=False).
Examples:
    >>> rouge = evaluate.load("metrics/rouge")
    >>> rouge.compute(predictions=["the cat sat on the mat"], references=["the cat sat on the mat"])
    {'rouge1': 1.0, 'rouge2': 1.0, 'rougeL': 1.0, 'rougeLsum': 1.0}
"""


class _CallableTokenizer:
    """Adapts a plain callable to the ``tokenize`` interface that ``rouge_score`` expects."""

    def __init__(self, fn: Callable[[str], list[str]]):
        self.fn = fn

    def tokenize(self, text: str) -> list[str]:
        return self.fn(text)


def _check_inputs(predictions, references) -> None:
    if predictions is None or references is None:
        raise ValueError("ROUGE needs both `predictions` and `references`.")
    if len(predictions) != len(references):
        raise ValueError(
            f"ROUGE got {len(predictions)} predictions but {len(references)} references; "
            "there must be exactly one reference (or one list of references) per prediction."
        )
    if len(predictions) == 0:
        raise ValueError("ROUGE got empty `predictions` and `references`; there is nothing to score.")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://aclanthology.org/W04-1013"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references; lengths must match and be non-zero."""
        if predictions is not None:
            predictions = list(predictions)
        if references is not None:
            references = list(references)
        _check_inputs(predictions, references)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute ROUGE F-measures (``evaluate`` appends the argument description below)."""
        # Validate first, so that bad inputs fail with a clear message before any state is written.
        if predictions is not None or references is not None:
            predictions = None if predictions is None else list(predictions)
            references = None if references is None else list(references)
            _check_inputs(predictions, references)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions: Sequence[str],
        references: Sequence[str] | Sequence[Sequence[str]],
        rouge_types: Sequence[str] | None = None,
        use_aggregator: bool = True,
        use_stemmer: bool = True,
        split_sentences: bool = True,
        tokenizer: Callable[[str], list[str]] | None = None,
    ):
        _check_inputs(predictions, references)
        rouge_types = list(DEFAULT_ROUGE_TYPES if rouge_types is None else rouge_types)
        if not rouge_types:
            raise ValueError("`rouge_types` must name at least one ROUGE type.")
        if isinstance(tokenizer, Callable) and not hasattr(tokenizer, "tokenize"):
            tokenizer = _CallableTokenizer(tokenizer)

        multi_ref = isinstance(references[0], (list, tuple))
        refs_per_example = [list(r) if multi_ref else [r] for r in references]
        if any(len(refs) == 0 for refs in refs_per_example):
            raise ValueError("Every prediction needs at least one reference.")

        # rougeLsum is scored on sentence-split text; the other types always see the text as given.
        lsum_types = [t for t in rouge_types if t == "rougeLsum"]
        plain_types = [t for t in rouge_types if t != "rougeLsum"]
        jobs = []
        if plain_types:
            jobs.append((rouge_scorer.RougeScorer(plain_types, use_stemmer=use_stemmer, tokenizer=tokenizer), False))
        if lsum_types:
            jobs.append((rouge_scorer.RougeScorer(lsum_types, use_stemmer=use_stemmer, tokenizer=tokenizer), True))

        per_example = {t: [] for t in rouge_types}
        for prediction, refs in zip(predictions, refs_per_example, strict=True):
            for scorer, split in jobs:
                if split and split_sentences:
                    pred_text = add_newlines_between_sentences(prediction)
                    ref_texts = [add_newlines_between_sentences(r) for r in refs]
                else:
                    pred_text, ref_texts = prediction, refs
                if len(ref_texts) == 1:
                    scores = scorer.score(ref_texts[0], pred_text)
                else:
                    scores = scorer.score_multi(ref_texts, pred_text)
                for rouge_type, score in scores.items():
                    per_example[rouge_type].append(float(score.fmeasure))

        if use_aggregator:
            return {t: sum(v) / len(v) for t, v in per_example.items()}
        return per_example
