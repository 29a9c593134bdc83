"""
Unlabelled dialogues for pre-training: the `chitchat-dataset` PyPI package's conversations as SAMSum-style chats.

Each conversation is cut into windows of 3-30 consecutive utterances (SAMSum's range); every speaker gets an invented first name, held across
the window, drawn from one of several name lists so that names vary the way SAMSum's do; each utterance is one
`Name: text` line. Conversations, not windows, are split into train and held-out parts, so no held-out text is ever
trained on. Everything is deterministic given the seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Several lists, one drawn per window, so the latent model sees names of many origins (SAMSum is multinational).
# fmt: off
NAME_LISTS: dict[str, tuple[str, ...]] = {
    "english": (
        "Amelia", "Oliver", "Harry", "Emily", "Jack", "Sophie", "George", "Lucy", "Charlie", "Grace", "Thomas", "Chloe",
        "James", "Megan", "William", "Holly", "Daniel", "Ruby", "Matthew", "Ella", "Ryan", "Hannah", "Jake", "Lily",
        "Adam", "Jessica", "Luke", "Zoe", "Sam", "Abby", "Ben", "Kate", "Tom", "Emma", "Mike", "Laura", "Josh",
        "Rachel", "Nick", "Anna", "Peter", "Mary", "Paul", "Sarah", "Kevin", "Julia", "Mark", "Olivia", "Steve", "Amy",
    ),
    "american": (
        "Tyler", "Madison", "Brandon", "Ashley", "Justin", "Brittany", "Kyle", "Kayla", "Austin", "Taylor", "Cody",
        "Morgan", "Dylan", "Alexis", "Logan", "Savannah", "Hunter", "Brooke", "Mason", "Kaitlyn", "Ethan", "Hailey",
        "Noah", "Avery", "Caleb", "Paige", "Jordan", "Destiny", "Trevor", "Riley", "Jason", "Jenna", "Derek", "Kelsey",
        "Chase", "Mia", "Blake", "Harper", "Connor", "Aubrey", "Wyatt", "Peyton", "Landon", "Jasmine", "Gavin",
        "Natalie", "Carter", "Vanessa", "Eli", "Claire",
    ),
    "international": (
        "Mateusz", "Agnieszka", "Lukas", "Katarzyna", "Pablo", "Lucia", "Marco", "Giulia", "Jan", "Ewa", "Pierre",
        "Camille", "Hans", "Greta", "Ivan", "Olga", "Ahmed", "Fatima", "Kenji", "Yuki", "Raj", "Priya", "Chen", "Mei",
        "Diego", "Valentina", "Omar", "Leila", "Sven", "Ingrid", "Tomasz", "Magda", "Andrei", "Elena", "Nikos",
        "Sofia", "Karim", "Amira", "Hugo", "Ines", "Kasia", "Piotr", "Luca", "Chiara", "Aleksander", "Zofia", "Mehmet",
        "Ayse", "Joao", "Beatriz",
    ),
}
# fmt: on


@dataclass(frozen=True)
class ChatWindowSettings:
    """How conversations become windows: utterances (lines) per window, the held-out share of conversations, and the seed."""

    min_turns: int = 3
    max_turns: int = 30
    heldout_fraction: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_turns <= self.max_turns:
            raise ValueError(f"Need 1 <= min_turns <= max_turns, got {self.min_turns} and {self.max_turns}.")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"`heldout_fraction` must be in [0, 1), got {self.heldout_fraction}.")


def load_chitchat_conversations(path: str | Path | None = None) -> dict[str, Any]:
    """The package's `dataset.json` (7,168 conversations), or a file of the same format given by `path`."""
    if path is None:
        try:
            import chitchat_dataset
        except ImportError as error:
            raise ImportError(
                "The chat corpus comes from the PyPI package `chitchat-dataset`: pip install chitchat-dataset==0.9.0"
            ) from error
        path = Path(chitchat_dataset.__file__).parent / "dataset.json"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Chat corpus file {path} does not exist.")
    with path.open() as handle:
        return json.load(handle)


def is_heldout(conversation_id: str, fraction: float, seed: int) -> bool:
    """A stable, seed-dependent choice per conversation, independent of the corpus order."""
    digest = hashlib.sha256(f"{seed}:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def conversation_windows(
    conversation_id: str, conversation: dict[str, Any], settings: ChatWindowSettings
) -> Iterator[dict[str, Any]]:
    """Cuts one conversation into windows of `min_turns`..`max_turns` utterances and names its speakers."""
    rng = random.Random(f"{settings.seed}:{conversation_id}")
    # SAMSum counts utterances (lines), 3 to 30 a dialogue; a chitchat turn may hold several, each its own line.
    utterances = [
        (turn[0]["sender"], text)
        for turn in conversation["messages"]
        if turn
        for text in (u["text"].strip() for u in turn)
        if text
    ]
    start, number = 0, 0
    while len(utterances) - start >= settings.min_turns:
        length = min(rng.randint(settings.min_turns, settings.max_turns), len(utterances) - start)
        window = utterances[start : start + length]
        start += length
        list_name = rng.choice(sorted(NAME_LISTS))
        senders = list(dict.fromkeys(sender for sender, _ in window))
        names = dict(zip(senders, rng.sample(NAME_LISTS[list_name], len(senders)), strict=True))
        lines = [f"{names[sender]}: {text}" for sender, text in window]
        yield {
            "id": f"chitchat-{conversation_id}-{number}",
            "dialogue": "\n".join(lines),
            "speakers": [names[s] for s in senders],
            "num_turns": length,
            "names_list": list_name,
        }
        number += 1


def build_chat_windows(
    conversations: dict[str, Any], settings: ChatWindowSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train windows, held-out windows), each list in a seeded random order."""
    train, heldout = [], []
    for conversation_id in sorted(conversations):
        part = heldout if is_heldout(conversation_id, settings.heldout_fraction, settings.seed) else train
        part.extend(conversation_windows(conversation_id, conversations[conversation_id], settings))
    order = random.Random(settings.seed)
    order.shuffle(train)
    order.shuffle(heldout)
    return train, heldout


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
