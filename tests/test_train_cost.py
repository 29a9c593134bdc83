"""`benchmarks/train_cost.py` (BENCHMARKS.md tables 2 and 4): its feature-cache rows must train like the uncached ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cached_and_uncached_frozen_rows_train_alike(tmp_path):
    output = tmp_path / "train_cost.json"
    command = [
        sys.executable, "benchmarks/train_cost.py", "--tiny", "--cpu", "--steps", "2", "--warmup", "1",
        "--recipes", "frozen", "--cache", "yes,no", "--batch_sizes", "4", "--output", str(output),
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(output.read_text())
    rows = {row["cache"]: row for row in (report["results"] if isinstance(report, dict) else report)}
    assert set(rows) == {True, False}
    for row in rows.values():
        assert row.get("error") is None, row.get("error")
        assert row["samples_per_s"] > 0
    # Same seed, same data: replaying the pooled vectors must give the loss of running the encoder every step.
    assert abs(rows[True]["train_loss"] - rows[False]["train_loss"]) < 1e-3


def test_no_pooled_norm_variant_builds_heads_without_the_layer_norm():
    from benchmarks import shapes, train_cost

    enc_cfg, dec_cfg = shapes.encoder_config("tiny-modernbert"), shapes.decoder_config("tiny-gpt2")
    job = {"recipe": "frozen", "cache": True, "options": ["base"]}
    assert "pooled_layer_norm" not in train_cost._head_fields(job, enc_cfg, dec_cfg)  # the config default: on
    job["options"] = ["compile-all", "no-pooled-norm"]
    assert train_cost._head_fields(job, enc_cfg, dec_cfg)["pooled_layer_norm"] is False
