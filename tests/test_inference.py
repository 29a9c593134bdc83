"""The inference API, the interactive loop, run_inference.py's subcommands and the latent plots, on a tiny model."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import run_inference
from inference import (
    LatentSpaceInference,
    exploration,
    generation_kwargs,
    interactive_loop,
    kmeans,
    lerp,
    load_records,
    parse_setting,
    pca,
    slerp,
)
from tests.tiny_backbones import PAIRS, tiny_model, tiny_processor

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = [dialogue for dialogue, _ in PAIRS]
TOPICS = ["meal", "errand", "party", "errand", "meal", "call"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models are ~40x faster on one thread than two when the other core is busy (CI runs beside training)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """
    A tiny model saved like a trained one. Its heads start wider than usual, and with a seed under which the six
    dialogues decode to six different texts, so round trips cannot pass by all texts decoding alike.
    """
    path = tmp_path_factory.mktemp("checkpoint")
    model = tiny_model(head_init="normal", initializer_range=0.5, seed=2)
    model.generation_config.max_new_tokens = 8
    model.save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def lsi(checkpoint) -> LatentSpaceInference:
    return LatentSpaceInference.from_pretrained(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """12 dialogues with ids and a topic column (the 6 tiny pairs, and each pair's dialogue followed by the next)."""
    path = tmp_path_factory.mktemp("data") / "dialogues.jsonl"
    rows = [{"id": f"r{i}", "dialogue": d, "topic": t} for i, (d, t) in enumerate(zip(DIALOGUES, TOPICS, strict=True))]
    for i, (dialogue, topic) in enumerate(zip(DIALOGUES, TOPICS, strict=True)):
        rows.append({"id": f"r{i + 6}", "dialogue": dialogue + "\n" + DIALOGUES[(i + 1) % 6], "topic": topic})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------------------------------------------------
# The API
# ----------------------------------------------------------------------------------------------------------------------


def test_tiny_model_gives_different_summaries(lsi):
    # Round-trip and interpolation tests below only mean something if the inputs decode to different texts.
    summaries = lsi.summarize(DIALOGUES)
    assert len(set(summaries)) == len(DIALOGUES), summaries


def test_decode_latent_of_get_latent_equals_greedy_summary(lsi):
    for dialogue in DIALOGUES:
        assert lsi.decode_latent(lsi.get_latent(dialogue)) == lsi.summarize(dialogue)
    # A batch too: the same batches (and padding) on both paths, so the same texts.
    assert lsi.decode_latent(lsi.get_latent(DIALOGUES)) == lsi.summarize(DIALOGUES)


def test_latent_shapes_and_stages(lsi):
    z_out = lsi.get_latent(DIALOGUES[0])
    z_in = lsi.get_latent(DIALOGUES[0], stage="in")
    assert z_out.shape == z_in.shape == (16,) and z_out.dtype == torch.float32
    assert lsi.get_latent(DIALOGUES, stage="in").shape == (6, 16)
    assert not torch.allclose(z_in, z_out)  # the middle model does something
    torch.testing.assert_close(lsi.reason(z_in), z_out)
    assert lsi.decode_latent(z_in, stage="in") == lsi.summarize(DIALOGUES[0])
    with pytest.raises(ValueError, match="stage must be"):
        lsi.get_latent(DIALOGUES[0], stage="middle")


def test_decode_latent_takes_hand_made_latents(lsi):
    z = lsi.get_latent(DIALOGUES[1])
    expected = lsi.summarize(DIALOGUES[1])
    assert lsi.decode_latent(z.numpy()) == expected
    assert lsi.decode_latent(z.tolist()) == expected
    assert lsi.decode_latent(np.stack([z.numpy(), z.numpy()])) == [expected, expected]
    edited = z.clone()
    edited[0] += 5.0
    assert isinstance(lsi.decode_latent(edited), str)
    with pytest.raises(ValueError, match="shape"):
        lsi.decode_latent(torch.zeros(8))
    with pytest.raises(ValueError, match="NaN"):
        lsi.decode_latent(torch.full((16,), float("nan")))


@pytest.mark.parametrize("method", ["linear", "slerp"])
@pytest.mark.parametrize("stage", ["out", "in"])
def test_interpolation_endpoints_are_the_two_generations(lsi, method, stage):
    a, b = DIALOGUES[0], DIALOGUES[2]
    summary_a, summary_b = lsi.summarize(a), lsi.summarize(b)
    assert summary_a != summary_b
    steps = lsi.interpolate(a, b, [0.0, 0.25, 0.5, 0.75, 1.0], method=method, stage=stage)
    assert [step.alpha for step in steps] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (steps[0].text, steps[-1].text) == (summary_a, summary_b)


def test_interpolation_arguments(lsi):
    assert [step.alpha for step in lsi.interpolate(DIALOGUES[0], DIALOGUES[1], 3)] == [0.0, 0.5, 1.0]
    assert len(lsi.interpolate(DIALOGUES[0], DIALOGUES[1], [-0.5, 1.5])) == 2  # extrapolation is allowed
    with pytest.raises(ValueError, match="method"):
        lsi.interpolate(DIALOGUES[0], DIALOGUES[1], method="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        lsi.interpolate(DIALOGUES[0], DIALOGUES[1], 1)


def test_lerp_and_slerp():
    torch.manual_seed(0)
    a, b = torch.randn(16), 3 * torch.randn(16)
    for mix in (lerp, slerp):
        assert torch.equal(mix(a, b, 0.0), a) and torch.equal(mix(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    torch.testing.assert_close(middle.norm(), (a.norm() + b.norm()) / 2)  # no shrinking towards the origin
    cos = torch.nn.functional.cosine_similarity
    torch.testing.assert_close(cos(middle, a, dim=0), cos(middle, b, dim=0))  # halfway along the arc
    torch.testing.assert_close(slerp(a, 2 * a, 0.5), lerp(a, 2 * a, 0.5))  # parallel: falls back to lerp


def test_nearest(lsi):
    neighbors = lsi.nearest(DIALOGUES, DIALOGUES[3], k=3)
    assert len(neighbors) == 3
    assert neighbors[0].index == 3 and neighbors[0].text == DIALOGUES[3]
    assert neighbors[0].score == pytest.approx(1.0, abs=1e-5)
    assert [n.score for n in neighbors] == sorted((n.score for n in neighbors), reverse=True)
    latents = lsi.get_latent(DIALOGUES)
    assert lsi.nearest(DIALOGUES, lsi.get_latent(DIALOGUES[3]), k=3, latents=latents) == neighbors
    assert len(lsi.nearest(DIALOGUES, DIALOGUES[0], k=50)) == 6
    with pytest.raises(ValueError, match="shape"):
        lsi.nearest(DIALOGUES, DIALOGUES[0], latents=latents[:2])


def test_generation_settings(lsi):
    assert generation_kwargs({"temperature": 0.7, "seed": 3}) == ({"temperature": 0.7, "do_sample": True}, 3)
    assert generation_kwargs({"top_p": 0.9, "do_sample": False}) == ({"do_sample": False}, None)
    assert generation_kwargs({"temperature": 0, "top_k": 5}) == ({"do_sample": False}, None)
    assert generation_kwargs({"num_beams": 2, "max_new_tokens": None}) == ({"num_beams": 2}, None)
    sampled = [lsi.summarize(DIALOGUES[0], temperature=5.0, seed=3) for _ in range(2)]
    assert sampled[0] == sampled[1]  # a seed makes sampling repeatable
    others = {lsi.summarize(DIALOGUES[0], temperature=5.0, seed=seed) for seed in range(6)}
    assert len(others) > 1  # and sampling does sample
    assert lsi.summarize(DIALOGUES[0], num_beams=2) != ""
    assert len(lsi.summarize(DIALOGUES[0], max_new_tokens=2).split()) <= 2


def test_parse_setting():
    assert parse_setting("temperature", "0.7") == 0.7
    assert parse_setting("top_k", "50") == 50
    assert parse_setting("do_sample", "on") is True
    assert parse_setting("num_beams", "none") is None
    for name, value, message in [
        ("temprature", "1", "Unknown setting"),
        ("top_k", "many", "integer"),
        ("top_p", "1.5", "top_p"),
        ("num_beams", "0", "at least 1"),
        ("do_sample", "maybe", "true or false"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_setting(name, value)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model checkpoint"):
        LatentSpaceInference.from_pretrained(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="Unknown dtype"):
        LatentSpaceInference.from_pretrained(tmp_path, dtype="float99")


# ----------------------------------------------------------------------------------------------------------------------
# Interactive mode
# ----------------------------------------------------------------------------------------------------------------------


def test_interactive_loop_through_streams(lsi):
    greedy = lsi.summarize(DIALOGUES[0])
    last = lsi.summarize(DIALOGUES[1], num_beams=2)
    script = "\n".join(
        [
            ":set temperature 0.7",
            ":set top_k many",
            ":show",
            ":set temperature 0",  # back to greedy
            *DIALOGUES[0].splitlines(),
            "",
            "",
            ":latent",
            ":unset temperature",
            ":set num_beams 2",
            ":bogus",
            ":help",
            *DIALOGUES[1].splitlines(),  # no blank line: end of input still summarizes it
        ]
    )
    stdout = io.StringIO()
    assert interactive_loop(lsi, stdin=io.StringIO(script), stdout=stdout) == 0
    output = stdout.getvalue()
    assert "temperature = 0.7  (sampling on)" in output
    assert "error: top_k takes an integer" in output
    assert "* temperature = 0.7" in output  # :show marks changed settings
    assert f"summary: {greedy}\n" in output
    assert "z_in: dim 16" in output and "cosine(z_in, z_out)" in output
    assert "Unknown command ':bogus'" in output
    assert ":set NAME VALUE" in output  # :help
    assert output.count("summary: ") == 2 and f"summary: {last}\n" in output
    assert output.rstrip().endswith("bye")


def test_interactive_quit_and_ctrl_c(lsi):
    stdout = io.StringIO()
    assert interactive_loop(lsi, io.StringIO(":quit\n" + DIALOGUES[0] + "\n\n"), stdout) == 0
    assert "summary:" not in stdout.getvalue()

    class CtrlC(io.StringIO):
        def readline(self, *args):
            raise KeyboardInterrupt

    stdout = io.StringIO()
    assert interactive_loop(lsi, CtrlC(), stdout) == 0
    assert stdout.getvalue().rstrip().endswith("bye")


def test_interactive_cli_driven_through_stdin(checkpoint, lsi):
    stdin = DIALOGUES[4] + "\n\n:set max_new_tokens 2\n" + DIALOGUES[5] + "\n\n"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_inference.py"), "interactive", "-m", str(checkpoint), "--device", "cpu"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"summary: {lsi.summarize(DIALOGUES[4])}\n" in result.stdout
    assert f"summary: {lsi.summarize(DIALOGUES[5], max_new_tokens=2)}\n" in result.stdout
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------------------------


def test_cli_generate_jsonl(checkpoint, data_file, lsi, tmp_path):
    output = tmp_path / "out" / "predictions.jsonl"
    argv = ["generate", "-m", str(checkpoint), "--input_file", str(data_file), "--output", str(output)]
    assert run_inference.main([*argv, "--no_progress"]) == 0
    rows = read_jsonl(output)
    texts = [row["dialogue"] for row in read_jsonl(data_file)]
    assert [row["id"] for row in rows] == [f"r{i}" for i in range(12)]
    assert [row["dialogue"] for row in rows] == texts
    assert [row["prediction"] for row in rows] == lsi.summarize(texts)
    assert "topic" not in rows[0]

    assert run_inference.main([*argv, "--keep_columns", "--max_samples", "2", "--max_new_tokens", "1"]) == 0
    rows = read_jsonl(output)
    assert len(rows) == 2 and rows[0]["topic"] == "meal"
    assert all(len(row["prediction"].split()) <= 1 for row in rows)


def test_cli_generate_input_to_stdout(checkpoint, lsi, capsys):
    text = DIALOGUES[0].replace("\n", "\\n")  # as typed in a shell
    assert run_inference.main(["generate", "-m", str(checkpoint), "--input", text, "--input", DIALOGUES[3]]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == [0, 1]
    assert rows[0]["dialogue"] == DIALOGUES[0]
    assert [row["prediction"] for row in rows] == lsi.summarize([DIALOGUES[0], DIALOGUES[3]])


def test_cli_latents(checkpoint, data_file, lsi, tmp_path):
    output = tmp_path / "latents.npy"
    argv = ["latents", "-m", str(checkpoint), "--input_file", str(data_file), "--output", str(output), "--stage", "in"]
    assert run_inference.main(argv) == 0
    latents = np.load(output)
    metadata = json.loads(output.with_suffix(".json").read_text())
    assert latents.shape == (12, 16) and latents.dtype == np.float32
    assert metadata["ids"] == [f"r{i}" for i in range(12)] and metadata["stage"] == "in"
    texts = [row["dialogue"] for row in read_jsonl(data_file)]
    np.testing.assert_allclose(latents, lsi.get_latent(texts, "in").numpy(), atol=1e-5)


def test_cli_interpolate(checkpoint, data_file, lsi, tmp_path, capsys):
    output = tmp_path / "steps.jsonl"
    argv = ["interpolate", "-m", str(checkpoint), "--input_file", str(data_file), "--id_a", "r0", "--id_b", "r2"]
    assert run_inference.main([*argv, "--alphas", "0,0.5,1", "--method", "slerp", "--output", str(output)]) == 0
    printed = capsys.readouterr().out.splitlines()
    steps = read_jsonl(output)
    assert [step["alpha"] for step in steps] == [0.0, 0.5, 1.0]
    assert steps[0]["text"] == lsi.summarize(DIALOGUES[0]) and steps[-1]["text"] == lsi.summarize(DIALOGUES[2])
    assert len(printed) == 3 and printed[0].startswith("alpha=0")

    argv = ["interpolate", "-m", str(checkpoint), "--text_a", DIALOGUES[1], "--text_b", DIALOGUES[4], "--steps", "4"]
    assert run_inference.main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_cli_nearest(checkpoint, data_file, capsys):
    argv = ["nearest", "-m", str(checkpoint), "--input_file", str(data_file), "--query", DIALOGUES[5], "-k", "2"]
    assert run_inference.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "[r5]" in lines[0]


def test_cli_errors_are_clear(checkpoint, data_file, tmp_path, monkeypatch, capsys):
    model = ["-m", str(checkpoint)]
    with pytest.raises(ValueError, match="no column\\(s\\) 'text'.*'dialogue'"):
        run_inference.main(
            ["latents", *model, "--input_file", str(data_file), "--text_column", "text", "--output", "x.npy"]
        )
    with pytest.raises(ValueError, match="'genre'"):
        run_inference.main(
            ["plot", *model, "--input_file", str(data_file), "--color_column", "genre", "--output", "x.png"]
        )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_inference.main(["generate", *model, "--input_file", str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match="either --input"):
        run_inference.main(["generate", *model])
    with pytest.raises(ValueError, match="--alphas takes"):
        run_inference.main(["interpolate", *model, "--text_a", "a", "--text_b", "b", "--alphas", "0,half,1"])
    with pytest.raises(ValueError, match="No row with id 'r99'"):
        run_inference.main(["interpolate", *model, "--input_file", str(data_file), "--id_a", "r0", "--id_b", "r99"])
    with pytest.raises(FileNotFoundError, match="No model checkpoint"):
        run_inference.main(["generate", "-m", str(tmp_path / "nothing"), "--input", "hi"])
    # From a shell: one line, no traceback, exit status 2.
    monkeypatch.setattr(sys, "argv", ["run_inference.py", "generate", *model])
    assert run_inference.cli() == 2
    assert capsys.readouterr().err.startswith("error: Give either --input")


def test_load_records_formats(tmp_path):
    rows = [{"text": "a : hi", "label": "x"}, {"text": "  ", "label": "y"}, {"text": "b : no", "label": "z"}]
    json_path = tmp_path / "rows.json"
    json_path.write_text(json.dumps(rows))
    csv_path = tmp_path / "rows.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    for path in (json_path, csv_path):
        records = load_records(path, "text", required_columns=["label"])
        assert records.texts == ["a : hi", "b : no"]  # the empty row is skipped
        assert records.ids == [0, 2]  # no id column: row numbers of the file
        assert records.columns == {"text": ["a : hi", "b : no"], "label": ["x", "z"]}
    assert load_records(json_path, "text", max_samples=1).texts == ["a : hi"]
    with pytest.raises(ValueError, match="must be .json, .jsonl or .csv"):
        load_records(tmp_path / "rows.txt")
    with pytest.raises(ValueError, match="no column\\(s\\) 'id'"):
        load_records(json_path, "text", id_column="id")
    with pytest.raises(ValueError, match="exactly one source"):
        load_records(json_path, dataset_name="samsum")
    (tmp_path / "blank.jsonl").write_text(json.dumps({"text": " "}) + "\n")
    with pytest.raises(ValueError, match="no row with a non-empty 'text'"):
        load_records(tmp_path / "blank.jsonl", "text")


def test_empty_and_bad_inputs_are_clear_errors(lsi):
    with pytest.raises(ValueError, match="The text is empty"):
        lsi.summarize("   ")
    with pytest.raises(ValueError, match="position\\(s\\) \\[1\\]"):
        lsi.get_latent([DIALOGUES[0], "", DIALOGUES[1]])
    with pytest.raises(ValueError, match="No texts"):
        lsi.summarize([])
    with pytest.raises(ValueError, match="The text is empty"):
        lsi.interpolate(DIALOGUES[0], "")
    with pytest.raises(ValueError, match="k must be at least 1"):
        lsi.nearest(DIALOGUES, DIALOGUES[0], k=0)
    with pytest.raises(TypeError, match="list of texts"):
        lsi.nearest(DIALOGUES[0], DIALOGUES[1])
    with pytest.raises(ValueError, match="shape \\(16,\\) or \\(n, 16\\)"):
        lsi.decode_latent(torch.zeros(2, 3, 16))
    with pytest.raises(ValueError, match="max_source_length must be at least 1, got 0"):
        LatentSpaceInference(lsi.model, lsi.processor, max_source_length=0)


# ----------------------------------------------------------------------------------------------------------------------
# Exploration: projections, clusters, the plot
# ----------------------------------------------------------------------------------------------------------------------


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=10.0, size=(3, 8))
    sizes = [30, 20, 10]
    x = np.concatenate([c + rng.normal(size=(n, 8)) for c, n in zip(centers, sizes, strict=True)])
    return x, np.repeat(np.arange(3), sizes)


@pytest.mark.parametrize("use_sklearn", [False, True])
def test_kmeans_finds_blobs_numbered_by_size(use_sklearn, monkeypatch):
    if use_sklearn:
        pytest.importorskip("sklearn")
    else:
        monkeypatch.setattr(exploration, "sklearn_available", lambda: False)
    x, truth = blobs()
    labels, centroids = kmeans(x, 3, seed=0)
    assert centroids.shape == (3, 8)
    assert np.array_equal(labels, truth)  # the largest blob is cluster 0, and so on


def test_pca():
    x, _ = blobs()
    coords, ratio = pca(x)
    assert coords.shape == (60, 2) and ratio.shape == (2,)
    assert 0.5 < ratio.sum() <= 1.0 and ratio[0] >= ratio[1]
    np.testing.assert_allclose(coords, pca(x)[0])  # deterministic signs
    np.testing.assert_allclose(
        np.abs(coords[:, 0]).max(), np.abs((x - x.mean(0)) @ np.linalg.svd(x - x.mean(0))[2][0]).max()
    )


def test_coloring_keeps_top_categories():
    values = ["a"] * 5 + ["b"] * 3 + ["c", "d", None]
    coloring = exploration.make_coloring(values, "topic", top_categories=2)
    assert coloring.categories == ["a", "b", "other"]
    assert coloring.point_categories.count("other") == 3
    numeric = exploration.make_coloring(list(range(30)), "length", top_categories=10)
    assert numeric.kind == "numeric" and numeric.numbers.shape == (30,)


def test_cluster_labels_are_spread_apart():
    # Two clusters with the same median would print their numbers on top of each other.
    spread = exploration._spread_labels(np.array([[5.0, 1.0], [5.0, 1.0], [9.0, 3.0]]), np.array([10.0, 2.0]))
    scaled = spread / np.array([10.0, 2.0])
    gaps = [np.hypot(*(scaled[i] - scaled[j])) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) >= 0.07 - 1e-9
    np.testing.assert_allclose(spread.mean(axis=0), [19 / 3, 5 / 3])  # pushed apart, not moved away
    assert exploration._spread_labels(np.zeros((0, 2)), np.ones(2)).shape == (0, 2)


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_coloured_by_column(checkpoint, data_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output = tmp_path / "images" / "latent_pca.png"
    argv = ["plot", "-m", str(checkpoint), "--input_file", str(data_file), "--color_column", "topic"]
    assert run_inference.main([*argv, "--output", str(output), "--projection", "pca", "--num_clusters", "3"]) == 0
    assert output.is_file() and _is_png(output) and output.stat().st_size > 20_000
    from matplotlib.image import imread

    height, width = imread(output).shape[:2]
    assert width > height > 400
    table = (tmp_path / "images" / "latent_pca_clusters.md").read_text()
    assert table.startswith("| cluster | size | decoded centroid | closest member | top topic |")
    assert len(table.strip().splitlines()) == 2 + 3
    assert table in capsys.readouterr().out


def test_plot_coloured_by_cluster_with_tsne(lsi, data_file, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    records = load_records(data_file)
    result = exploration.explore_latents(
        lsi,
        records.texts,
        tmp_path / "map.png",
        ids=records.ids,
        num_clusters=4,
        stage="in",
        table_path=tmp_path / "t.md",
    )
    assert set(result.projections) == {"pca", "tsne"}
    assert result.figure_path.stat().st_size > 20_000 and _is_png(result.figure_path)
    assert result.latents.shape == (12, 16) and sorted(set(result.labels.tolist())) == [0, 1, 2, 3]
    assert sum(c.size for c in result.clusters) == 12
    # Each centroid's decoding is the decoding of that z_in centroid.
    assert result.clusters[0].centroid_text == lsi.decode_latent(result.centroids[0].astype(np.float32), stage="in")
    assert (tmp_path / "t.md").read_text() == result.table


def test_plot_without_matplotlib_says_what_to_install(lsi, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        exploration.explore_latents(lsi, DIALOGUES, tmp_path / "x.png", projections=("pca",))
