"""Regex-based sentence splitter that needs no downloaded model data (unlike nltk's punkt).

The implementation lives next to ``rouge.py`` because ``evaluate`` only bundles files that sit in the metric's own
folder when it copies a local metric script into its module cache. Import it as ``metrics.sentence_split``.
"""

import re

# Lower-cased tokens (with their final period) after which a period does not end a sentence. "a.m."/"p.m." are
# left out on purpose: followed by a capitalised word they usually end a sentence ("... at 5 p.m. Tom will ...").
ABBREVIATIONS = frozenset(
    {
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "prof.",
        "sr.",
        "jr.",
        "st.",
        "mt.",
        "ft.",
        "gen.",
        "col.",
        "capt.",
        "lt.",
        "sgt.",
        "rev.",
        "hon.",
        "vs.",
        "e.g.",
        "i.e.",
        "cf.",
        "approx.",
        "no.",
        "nos.",
        "vol.",
        "fig.",
        "inc.",
        "ltd.",
        "co.",
        "corp.",
        "dept.",
        "est.",
        "u.s.",
        "u.k.",
        "jan.",
        "feb.",
        "mar.",
        "apr.",
        "jun.",
        "jul.",
        "aug.",
        "sep.",
        "sept.",
        "oct.",
        "nov.",
        "dec.",
    }
)

# Terminal punctuation, optional closing quotes/brackets, then whitespace: a candidate sentence boundary.
_CANDIDATE = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+")
_OPENERS = "\"'\u201c\u2018([\u00ab"
_LEADING_PUNCT = "\"'\u201c\u2018([\u00ab"


def _starts_sentence(text: str, pos: int) -> bool:
    """Whether the text at ``pos`` looks like the start of a sentence (capital letter or digit, maybe quoted)."""
    while pos < len(text) and text[pos] in _OPENERS:
        pos += 1
    return pos < len(text) and (text[pos].isupper() or text[pos].isdigit())


def _ends_with_abbreviation(chunk: str) -> bool:
    """Whether ``chunk`` (text up to, not including, a single period) ends in a known abbreviation or an initial."""
    words = chunk.split()
    if not words:
        return False
    word = words[-1].lstrip(_LEADING_PUNCT)
    if (word + ".").lower() in ABBREVIATIONS:
        return True
    # A single capital letter is most likely an initial, as in "J. R. R. Tolkien".
    return len(word) == 1 and word.isalpha() and word.isupper()


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into stripped, non-empty sentences.

    A sentence ends at ``.``, ``!`` or ``?`` (possibly repeated and followed by closing quotes or brackets) when
    whitespace and then an upper-case letter, a digit or an opening quote follow. A single period after a known
    abbreviation ("Mr.", "Dr.", "e.g.", ...) or a single-capital initial does not end a sentence. Existing line
    breaks are always treated as sentence boundaries.
    """
    if not isinstance(text, str):
        raise TypeError(f"split_sentences expects a str, got {type(text).__name__}")
    sentences = []
    for line in text.splitlines():
        start = 0
        for match in _CANDIDATE.finditer(line):
            if not _starts_sentence(line, match.end()):
                continue
            punct = match.group().rstrip().rstrip("\"'\u201d\u2019)]")
            if punct == "." and _ends_with_abbreviation(line[start : match.start()]):
                continue
            sentence = line[start : match.end()].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
        tail = line[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def add_newlines_between_sentences(text: str) -> str:
    """Return ``text`` with one sentence per line, the format rouge_score expects for rougeLsum."""
    return "\n".join(split_sentences(text))
