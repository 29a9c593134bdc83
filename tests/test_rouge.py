import os
import subprocess
import sys
import textwrap

import pytest
from rouge_score import rouge_scorer

from metrics import ROUGE_KEYS, ROUGE_METRIC_PATH, load_rouge
from metrics.sentence_split import add_newlines_between_sentences, split_sentences

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAIRS = [
    ("Amanda baked cookies and will bring Jerry some tomorrow.", "Amanda will bring Jerry cookies tomorrow."),
    (
        "Tom and Ola will meet at the cinema at 7 pm. Ola buys the tickets.",
        "Ola is buying tickets; she and Tom are meeting at the cinema at seven.",
    ),
    ("The meeting was moved to Friday because Dr. Lee is ill.", "Dr. Lee is sick, so the meeting is on Friday now."),
    ("Running late! Start without me.", "Kate is running late and the others should start without her."),
]
PREDICTIONS = [p for _, p in PAIRS]
REFERENCES = [r for r, _ in PAIRS]


@pytest.fixture(scope="module")
def rouge():
    return load_rouge(keep_in_memory=True)


def _direct_scores(references, predictions, use_stemmer=True):
    """Per-example F-measures straight from rouge_score, splitting sentences for rougeLsum only."""
    plain = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer)
    lsum = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=use_stemmer)
    out = {key: [] for key in ROUGE_KEYS}
    for ref, pred in zip(references, predictions, strict=True):
        for key, score in plain.score(ref, pred).items():
            out[key].append(score.fmeasure)
        split_ref, split_pred = "\n".join(split_sentences(ref)), "\n".join(split_sentences(pred))
        out["rougeLsum"].append(lsum.score(split_ref, split_pred)["rougeLsum"].fmeasure)
    return out


def test_loads_offline_by_absolute_path_from_any_cwd(tmp_path):
    script = textwrap.dedent(
        f"""
        import evaluate
        for path in ({ROUGE_METRIC_PATH!r}, {os.path.join(ROUGE_METRIC_PATH, "rouge.py")!r}):
            rouge = evaluate.load(path, keep_in_memory=True)
            result = rouge.compute(predictions=["hello there"], references=["hello there"])
            assert result == {{"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}}, result
        print("ok")
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # the metric must not rely on the repo being importable
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_loads_by_relative_path_from_repo_root(monkeypatch):
    import evaluate

    monkeypatch.chdir(REPO_ROOT)
    rouge = evaluate.load("metrics/rouge", keep_in_memory=True)
    assert set(rouge.compute(predictions=["a b"], references=["a b"])) == set(ROUGE_KEYS)


def test_matches_rouge_score_mean(rouge):
    result = rouge.compute(predictions=PREDICTIONS, references=REFERENCES)
    direct = _direct_scores(REFERENCES, PREDICTIONS)
    assert set(result) == set(ROUGE_KEYS)
    for key in ROUGE_KEYS:
        assert isinstance(result[key], float)
        assert result[key] == pytest.approx(sum(direct[key]) / len(direct[key]), abs=1e-9)
        assert 0.0 < result[key] < 1.0


def test_matches_rouge_score_per_example_without_stemmer(rouge):
    result = rouge.compute(predictions=PREDICTIONS, references=REFERENCES, use_aggregator=False, use_stemmer=False)
    direct = _direct_scores(REFERENCES, PREDICTIONS, use_stemmer=False)
    for key in ROUGE_KEYS:
        assert len(result[key]) == len(PAIRS)
        assert result[key] == pytest.approx(direct[key], abs=1e-9)


def test_stemmer_is_on_by_default(rouge):
    with_stem = rouge.compute(predictions=["she bakes cookies"], references=["she baked cookies"])
    without = rouge.compute(predictions=["she bakes cookies"], references=["she baked cookies"], use_stemmer=False)
    assert with_stem["rouge1"] == pytest.approx(1.0)
    assert without["rouge1"] < 1.0


def test_identical_and_disjoint(rouge):
    text = "Mr. Brown will call the plumber on Monday. The kitchen sink is leaking."
    assert rouge.compute(predictions=[text], references=[text]) == {key: 1.0 for key in ROUGE_KEYS}
    disjoint = rouge.compute(predictions=["apples and pears"], references=["we meet at noon"])
    assert disjoint == {key: 0.0 for key in ROUGE_KEYS}


def test_rouge_lsum_rewards_reordered_sentences(rouge):
    reference = "The cat sat on the mat. The dog barked at the postman."
    prediction = "The dog barked at the postman. The cat sat on the mat."
    split = rouge.compute(predictions=[prediction], references=[reference])
    # Whole-text LCS can only match one of the two swapped sentences; summary-level LCS matches both.
    assert split["rougeL"] < 1.0
    assert split["rougeLsum"] == pytest.approx(1.0)
    assert split["rougeLsum"] > split["rougeL"]
    unsplit = rouge.compute(predictions=[prediction], references=[reference], split_sentences=False)
    assert unsplit["rougeLsum"] == pytest.approx(unsplit["rougeL"])
    assert unsplit["rougeL"] == pytest.approx(split["rougeL"])


def test_rouge_types_subset_and_multiple_references(rouge):
    result = rouge.compute(predictions=["a b c"], references=[["x y z", "a b c"]], rouge_types=["rouge2"])
    assert result == {"rouge2": 1.0}


def test_mismatched_lengths_raise(rouge):
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        rouge.compute(predictions=["a", "b"], references=["a", "b", "c"])


def test_empty_inputs_raise(rouge):
    with pytest.raises(ValueError, match="empty"):
        rouge.compute(predictions=[], references=[])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met Dr. Jones. They talked, e.g. about the weather, i.e. rain.",
            ["Mr. Smith met Dr. Jones.", "They talked, e.g. about the weather, i.e. rain."],
        ),
        ("Is it done? Yes! Mrs. Lee sent it.", ["Is it done?", "Yes!", "Mrs. Lee sent it."]),
        ('He said "Hi." "Hello," she replied.', ['He said "Hi."', '"Hello," she replied.']),
        (
            "It costs 3.50 now. 2 more arrive at 5 p.m. Then we close.",
            ["It costs 3.50 now.", "2 more arrive at 5 p.m.", "Then we close."],
        ),
        ("J. R. R. Tolkien wrote it. see you. Ok", ["J. R. R. Tolkien wrote it. see you.", "Ok"]),
        ("  first line\nsecond line.  ", ["first line", "second line."]),
        ("", []),
    ],
)
def test_sentence_splitter(text, expected):
    assert split_sentences(text) == expected
    assert add_newlines_between_sentences(text) == "\n".join(expected)
