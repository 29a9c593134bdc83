"""Final-answer extraction and exact-match accuracy for math word problems (GSM8K `#### N`, `\\boxed{N}`)."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\s*\{")
_HASHES = re.compile(r"####\s*([^\n]*)")
_NUMBER = re.compile(r"-?\$?\s*\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _boxed_contents(text: str) -> str | None:
    """The contents of the last `\\boxed{...}`, braces balanced (`\\boxed{\\frac{1}{2}}` keeps its inner braces)."""
    starts = [match.end() for match in _BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return text[start:]  # unclosed: take the rest


def normalize_number(text: str) -> str:
    """
    A number as one canonical string: `$1,234.50` -> `1234.5`, `72.0` -> `72`, `- 5` -> `-5`, `.5` -> `0.5`.
    Text that holds no number comes back stripped, so non-numeric answers still compare exactly.
    """
    match = _NUMBER.search(text)
    if match is None:
        return text.strip()
    number = match.group(0).replace("$", "").replace(",", "").replace(" ", "")
    negative = number.startswith("-")
    number = number.lstrip("-")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    number = number.lstrip("0") or "0"
    if number.startswith("."):
        number = "0" + number
    return f"-{number}" if negative and number != "0" else number


def extract_answer(text: str) -> str | None:
    """
    The final answer of a solution: the last `\\boxed{...}`, else what follows the last `####`, else None.
    The result is normalised with [`normalize_number`].
    """
    if not text:
        return None
    boxed = _boxed_contents(text)
    if boxed is not None:
        # A boxed number is normalised; a boxed expression (`\\frac{1}{2}`) is kept as written, spaces removed.
        is_number = _NUMBER.fullmatch(boxed.strip().rstrip(".")) is not None
        return normalize_number(boxed) if is_number else boxed.replace(" ", "")
    hashes = _HASHES.findall(text)
    if hashes:
        return normalize_number(hashes[-1])
    return None


def answers_match(prediction: str | None, reference: str | None) -> bool:
    """Exact match of normalised answers; a missing prediction is wrong."""
    return prediction is not None and reference is not None and prediction == reference


def accuracy(predictions: list[str | None], references: list[str | None]) -> float:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references.")
    if not predictions:
        return 0.0
    return sum(answers_match(p, r) for p, r in zip(predictions, references, strict=True)) / len(predictions)


__all__ = ["accuracy", "answers_match", "extract_answer", "normalize_number"]
