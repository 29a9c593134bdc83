"""Local data files are checked before any backbone loads; a broken one names the file, the line and the example."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

import run_eval
import run_summarization
from training.data import DataFileError, check_data_file, check_data_files, load_raw_splits

ROWS = [
    {"id": "a1", "dialogue": "Anna: lunch?\nTom: sure.", "summary": "They will have lunch."},
    {"id": "a2", "dialogue": "Kate: coffee?\nJohn: ok.", "summary": "John will buy coffee."},
]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe_with_missing_backbones(tmp_path: Path, train_file: Path) -> Path:
    """Backbones that do not exist: the run must stop at the data, before it would try to load them."""
    recipe = {
        "encoder_name_or_path": str(tmp_path / "no-encoder"),
        "decoder_name_or_path": str(tmp_path / "no-decoder"),
        "train_file": str(train_file),
        "output_dir": str(tmp_path / "run"),
        "do_train": True,
        "report_to": "none",
        "use_cpu": True,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_malformed_jsonl_line_names_file_and_line_before_any_backbone_loads(tmp_path):
    good = [json.dumps(row) for row in ROWS]
    bad = write_jsonl(tmp_path / "train.jsonl", [good[0], "", good[1], '{"id": "a3", "dialogue": "x" "summary": "y"}'])
    start = time.perf_counter()
    with pytest.raises(DataFileError, match=r"train\.jsonl:\n  line 4: not valid JSON") as error:
        run_summarization.main([str(recipe_with_missing_backbones(tmp_path, bad))])
    assert str(bad) in str(error.value) and time.perf_counter() - start < 10
    assert not (tmp_path / "run").exists()


def test_row_whose_summary_is_not_a_string_is_reported_with_its_id(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "summary": None}, {"id": 7, "dialogue": ["A: hi"], "summary": "s"}]
    path = write_jsonl(tmp_path / "train.jsonl", [json.dumps(row) for row in rows])
    with pytest.raises(DataFileError) as error:
        run_summarization.main([str(recipe_with_missing_backbones(tmp_path, path))])
    message = str(error.value)
    assert "2 problem(s)" in message
    assert "line 2 (id 'a2'): 'summary' is null, not a string" in message
    assert "line 3 (id 7): 'dialogue' is [\"A: hi\"] (list), not a string" in message


def test_run_eval_checks_its_file_before_loading_the_checkpoint(tmp_path):
    path = write_jsonl(tmp_path / "validation.jsonl", [json.dumps(ROWS[0]), "{not json"])
    with pytest.raises(DataFileError, match="line 2: not valid JSON"):
        run_eval.main(["--model_name_or_path", str(tmp_path / "missing-model"), "--validation_file", str(path)])


def test_csv_and_json_files_name_the_line_too(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text('id,dialogue,summary\na1,"A: hi\nB: hello",They greet.\na2,A: bye,They part.,extra\n')
    with pytest.raises(DataFileError, match="line 4: 4 fields, but the header has 3"):
        check_data_file(csv_path, ["dialogue", "summary"])
    json_path = tmp_path / "train.json"
    json_path.write_text('[\n  {"dialogue": "A: hi", "summary": "s"},\n  {"dialogue": "A: yo" "summary": "t"}\n]\n')
    with pytest.raises(DataFileError, match="line 3: not valid JSON"):
        check_data_file(json_path, ["dialogue", "summary"])
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"dialogue": ["A: hi", "A: yo"], "summary": ["s", 3]}))
    with pytest.raises(DataFileError, match="row 1: 'summary' is 3 \\(int\\), not a string"):
        check_data_file(columns, ["dialogue", "summary"])


def test_the_checker_takes_any_family_columns_and_counts_rows(tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", [json.dumps({"question": "1+1?", "answer": "#### 2"})] * 3)
    text = write_jsonl(tmp_path / "text.jsonl", [json.dumps({"text": "hello"})])
    assert check_data_files({"train": [str(qa)], "validation": str(qa), "test": None}, ["question", "answer"]) == {
        "train": 3,
        "validation": 3,
    }
    assert check_data_file(text, ["text"]) == 1
    with pytest.raises(DataFileError, match="has no column\\(s\\) 'answer', 'question'; its columns are \\['text'\\]"):
        check_data_file(text, ["question", "answer"])


def test_loading_a_broken_file_directly_also_names_the_line(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [json.dumps(ROWS[0]), json.dumps(ROWS[1])[:-3]])
    with pytest.raises(DataFileError, match="line 2: not valid JSON"):
        load_raw_splits(data_files={"train": str(path)}, splits=("train",))
