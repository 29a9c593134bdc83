import importlib.util
import json
import re
from pathlib import Path

import pytest

from metrics.sentence_split import split_sentences

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("generate_demo_data", DEMO_DIR / "generate_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed():
    return {split: (DEMO_DIR / f"{split}.jsonl").read_text(encoding="utf-8") for split in SPLITS}


@pytest.fixture(scope="module")
def rows(committed):
    return {split: [json.loads(line) for line in text.splitlines()] for split, text in committed.items()}


def test_committed_files_match_generator(generator, committed):
    regenerated = generator.build_splits()
    assert list(regenerated) == list(SPLITS)
    for split in SPLITS:
        assert generator.to_jsonl(regenerated[split]) == committed[split], (
            f"data/demo/{split}.jsonl is stale; run python data/demo/generate_demo_data.py"
        )


def test_check_mode(generator, tmp_path, capsys):
    assert generator.main(["--check"]) == 0
    assert generator.main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert generator.main(["--out-dir", str(tmp_path)]) == 0
    assert generator.main(["--check", "--out-dir", str(tmp_path)]) == 0


def test_sizes_keys_and_ids(rows):
    assert {split: len(r) for split, r in rows.items()} == {"train": 1200, "validation": 100, "test": 100}
    all_rows = [row for split in SPLITS for row in rows[split]]
    assert all(list(row) == ["id", "dialogue", "summary", "scenario"] for row in all_rows)
    ids = [row["id"] for row in all_rows]
    assert len(set(ids)) == len(ids)
    assert sum((DEMO_DIR / f"{split}.jsonl").stat().st_size for split in SPLITS) < 1_000_000


def test_no_empty_text_and_format(rows, generator):
    names = {person.name for person in generator.PEOPLE}
    for row in (row for split in SPLITS for row in rows[split]):
        assert row["dialogue"].strip() and row["summary"].strip(), row["id"]
        lines = row["dialogue"].split("\n")
        assert generator.MIN_TURNS <= len(lines) <= generator.MAX_TURNS, row["id"]
        assert all(re.fullmatch(r"[A-Z][a-z]+: \S.*", line) for line in lines), row["id"]
        assert len(split_sentences(row["summary"])) == 1, row["summary"]
        assert row["summary"].endswith(".")
        # Everyone named in the summary appears in the dialogue, so the summary is derivable from it.
        speakers_and_mentions = set(re.findall(r"[A-Z][a-z]+", row["dialogue"]))
        assert (set(re.findall(r"[A-Z][a-z]+", row["summary"])) & names) <= speakers_and_mentions, row["id"]
        assert row["scenario"] in generator.SCENARIOS


def test_splits_share_no_dialogues(rows):
    dialogues = {split: {row["dialogue"] for row in rows[split]} for split in SPLITS}
    assert all(len(dialogues[split]) == len(rows[split]) for split in SPLITS)
    assert not dialogues["train"] & dialogues["validation"]
    assert not dialogues["train"] & dialogues["test"]
    assert not dialogues["validation"] & dialogues["test"]


def test_all_scenarios_in_every_split(rows, generator):
    for split in SPLITS:
        assert {row["scenario"] for row in rows[split]} == set(generator.SCENARIOS)
