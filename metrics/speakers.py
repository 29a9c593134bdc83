"""
Whether a summary is about its dialogue's people: the speakers a chat names (`Name: text` lines), the first person a
summary names, and how many of the speakers a text mentions. Plain string rules, no model: cheap enough to report
beside ROUGE for every evaluation.
"""

from __future__ import annotations

import re

SPEAKER_LINE = re.compile(r"^\s*([^\s:#][^:\n]{0,40}?)\s*:", re.MULTILINE)
WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
# Capitalised words that open sentences without naming anyone.
NOT_NAMES = frozenset(
    "A An And All Both But Everyone Everybody He Her His I If In It Its Last Next No None Nobody On One Other Others "
    "She Some Someone Somebody That The Their Them There These They This Those Today Tomorrow We When Yesterday You "
    "Your Mr Mrs Ms Dr After Before At For From Only Then So Also Because While Person Monday Tuesday Wednesday "
    "Thursday Friday Saturday Sunday OK Ok".split()
)


def speakers(dialogue: str) -> list[str]:
    """The dialogue's speakers in order of first appearance (DialogSum's `#Person1#` included)."""
    names = [match.strip() for match in SPEAKER_LINE.findall(dialogue)]
    names += re.findall(r"^\s*(#Person\d+#)\s*:", dialogue, flags=re.MULTILINE)
    return list(dict.fromkeys(name for name in names if name))


def first_named_person(summary: str) -> str | None:
    """The first capitalised word of the summary that is not a pronoun or other sentence opener (None if none)."""
    person = re.search(r"#Person\d+#", summary)
    for match in WORD.finditer(summary):
        if person is not None and person.start() < match.start():
            return person.group(0)
        word = match.group(0).removesuffix("'s").removesuffix("'")
        if word[:1].isupper() and word not in NOT_NAMES:
            return word
    return person.group(0) if person is not None else None


def first_name_is_speaker(summary: str, dialogue: str) -> bool:
    """Whether the first person the summary names speaks in the dialogue (first names compared, case-insensitive)."""
    name = first_named_person(summary)
    if name is None:
        return False
    firsts = {speaker.split()[0].lower() for speaker in speakers(dialogue)}
    return name.lower() in firsts


def speaker_recall(text: str, dialogue: str) -> float:
    """Share of the dialogue's speakers whose (first) name appears in `text` (1.0 when there are no speakers)."""
    names = {speaker.split()[0] for speaker in speakers(dialogue)}
    if not names:
        return 1.0
    words = {word.removesuffix("'s") for word in WORD.findall(text)} | set(re.findall(r"#Person\d+#", text))
    return sum(name in words for name in names) / len(names)


def speaker_scores(predictions: list[str], dialogues: list[str]) -> dict[str, float]:
    """Percentages over a split: first-named-person-is-a-speaker rate and mean speaker recall."""
    if not predictions:
        return {"first_name_is_speaker": 0.0, "speaker_recall": 0.0}
    pairs = list(zip(predictions, dialogues, strict=True))
    return {
        "first_name_is_speaker": 100 * sum(first_name_is_speaker(p, d) for p, d in pairs) / len(pairs),
        "speaker_recall": 100 * sum(speaker_recall(p, d) for p, d in pairs) / len(pairs),
    }
