"""Users see only true and useful messages: no false 'default config' notes on load, no bitsandbytes CPU alarm."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoModelForSeq2SeqLM

from tests.tiny_backbones import tiny_model

REPO = Path(__file__).resolve().parents[1]


def test_loading_a_checkpoint_does_not_claim_default_backbone_configs(tmp_path, caplog):
    tiny_model().save_pretrained(tmp_path)
    with caplog.at_level(logging.INFO):
        model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
        repr(model.config)  # transformers builds a default config to diff against: no message from it either
    assert "config given" not in caplog.text
    assert model.config.encoder.model_type == "bert" and model.config.decoder.model_type == "gpt2"


def test_the_bitsandbytes_cpu_kernel_failure_is_not_shown(caplog):
    import training  # noqa: F401  (installs the filter, as the scripts' first import does)

    with caplog.at_level(logging.WARNING):
        bnb_logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
        bnb_logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s.", "No module named x")
        bnb_logger.warning("another bitsandbytes warning")
    assert "gemm_4bit_forward" not in caplog.text and "another bitsandbytes warning" in caplog.text


def test_scripts_import_training_before_transformers_can_import_bitsandbytes():
    """bitsandbytes warns while it is imported (through the Trainer or peft), so the filter must come first."""
    for script in ("run_summarization.py", "run_eval.py"):
        imports = [
            line
            for line in (REPO / script).read_text().splitlines()
            if line.startswith(("import ", "from ")) and "__future__" not in line
        ]
        assert imports[0].startswith("import training"), script


def test_importing_modeling_first_hides_the_bitsandbytes_cpu_alarm_too():
    """`from modeling import ...` is what users write; peft (imported by it) imports bitsandbytes, which warns."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import modeling, logging; print(logging.getLogger('bitsandbytes.backends.cpu.ops').filters)"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gemm_4bit_forward" not in result.stderr and "_DropMessage" in result.stdout
