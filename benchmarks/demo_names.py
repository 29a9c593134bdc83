"""
Are the demo's summaries about the right people? Scores a `predictions.jsonl` of `run_eval.py` on `data/demo/` against
the names each reference summary uses (the demo's 50 invented first names, so no guessing which words are names):

- first name = speaker: the first person the summary names speaks in the dialogue (as `run_eval.py` reports it);
- all the right people: the summary names exactly the people its reference names;
- at least one right person: it names at least one of them.

    python benchmarks/demo_names.py outputs/demo/predictions.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "data" / "demo"))

from generate_demo_data import PEOPLE  # noqa: E402

from metrics.speakers import first_name_is_speaker  # noqa: E402

NAMES = frozenset(person.name for person in PEOPLE)


def people(text: str) -> set[str]:
    """The demo names a text mentions (possessives included)."""
    return {word for word in re.findall(r"[A-Z][a-z]+", text) if word in NAMES}


def name_scores(rows: list[dict]) -> dict[str, float]:
    """Percentages over the rows (each with `dialogue`, `reference` and `prediction`)."""
    first = sum(first_name_is_speaker(row["prediction"], row["dialogue"]) for row in rows)
    exact = sum(people(row["prediction"]) == people(row["reference"]) for row in rows)
    some = sum(bool(people(row["prediction"]) & people(row["reference"])) for row in rows)
    return {
        "rows": len(rows),
        "first_name_is_speaker": 100 * first / len(rows),
        "all_right_people": 100 * exact / len(rows),
        "at_least_one_right_person": 100 * some / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", nargs="+", type=Path, help="predictions.jsonl files written by run_eval.py")
    args = parser.parse_args()
    print("file | rows | first name = speaker | all the right people | at least one right person")
    for path in args.predictions:
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run `python run_eval.py ... --output_dir DIR` first.")
        rows = [json.loads(line) for line in path.open() if line.strip()]
        if not rows:
            raise SystemExit(f"{path} holds no predictions.")
        scores = name_scores(rows)
        print(
            f"{path} | {scores['rows']} | {scores['first_name_is_speaker']:.1f} % | {scores['all_right_people']:.1f} % "
            f"| {scores['at_least_one_right_person']:.1f} %"
        )


if __name__ == "__main__":
    main()
