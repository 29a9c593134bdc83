"""The REST server on loopback: a real `python -m inference.server` process for a CALM student, and a uvicorn server
in a thread for a summarizer; every endpoint and its error replies (4xx with a message, never 500)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from modeling import CalmAutoencoderConfig, CalmConfig, CalmForCausalLM
from tests.tiny_backbones import decoder_tokenizer, tiny_model, tiny_processor

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_up(base: str, process: subprocess.Popen | None = None, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read()[-3000:]}")
        try:
            if call(base, "/")[0] == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{base} did not come up in {seconds} s")


@pytest.fixture(scope="module")
def calm_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calm")
    tokenizer = decoder_tokenizer()
    torch.manual_seed(0)
    autoencoder = CalmAutoencoderConfig(
        vocab_size=len(tokenizer), patch_size=4, latent_size=8, hidden_size=16, intermediate_size=32,
        num_encoder_layers=1, num_decoder_layers=1, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    config = CalmConfig(
        autoencoder=autoencoder, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16,
    )  # fmt: skip
    CalmForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    port = free_port()
    command = [sys.executable, "-m", "inference.server", "--model", str(folder), "--port", str(port)]
    command += ["--max_prompt_chars", "300", "--max_new_tokens_limit", "64", "--device", "cpu"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_health_and_info(calm_server):
    assert call(calm_server, "/") == (200, {"status": "ok", "model_type": "calm"})
    status, info = call(calm_server, "/info")
    assert status == 200 and info["compression_factor"] == 4 and info["latent_size"] == 8
    assert info["max_prompt_tokens"] == 15 * 4


def test_generate_returns_the_seed_fields(calm_server):
    body = {"prompt": "anna : hi tom", "max_new_tokens": 10, "temperature": 0, "seed": 1}
    status, reply = call(calm_server, "/generate", body)
    assert status == 200
    assert reply["prompt"] == "anna : hi tom" and reply["generated_text"].startswith("anna : hi tom")
    assert reply["compression_factor"] == 4 and 1 <= reply["num_tokens_generated"] <= 10
    assert reply["ar_steps"] <= 3
    again = call(calm_server, "/generate", body)[1]
    assert again["generated_text"] == reply["generated_text"]  # greedy is repeatable
    sampled = call(
        calm_server,
        "/generate",
        {"prompt": "tom :", "max_new_tokens": 8, "temperature": 0.8, "top_p": 0.9, "top_k": 5},
    )
    assert sampled[0] == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"max_new_tokens": 5}, 422, "prompt: Field required"),
        ({"prompt": ""}, 422, "prompt"),
        ({"prompt": "hi", "max_new_tokens": -1}, 422, "max_new_tokens"),
        ({"prompt": "hi", "max_new_tokens": "ten"}, 422, "max_new_tokens"),
        ({"prompt": 42}, 422, "prompt"),
        ({"prompt": "hi", "top_p": 0}, 422, "top_p"),
        ({"prompt": "hi", "temperature": -0.5}, 422, "temperature"),
        ({"prompt": "hi", "colour": "red"}, 422, "colour"),
        ({"prompt": "hi", "max_new_tokens": 65}, 400, "at most 64"),
        ({"prompt": "hi " * 200}, 413, "limit is 300"),
        ({"prompt": "hi " * 90, "max_new_tokens": 8}, 413, "longer than the model's 60 tokens"),
    ],
)
def test_bad_generate_requests_get_a_4xx_with_a_message(calm_server, body, status, message):
    code, reply = call(calm_server, "/generate", body)
    assert code == status and message in reply["detail"]


def test_malformed_json_and_the_other_familys_endpoint(calm_server):
    code, reply = call(calm_server, "/generate", raw=b'{"prompt": "hi"')
    assert code == 422 and reply["detail"]
    code, reply = call(calm_server, "/summarize", {"dialogue": "A: hi"})
    assert code == 400 and "POST /generate" in reply["detail"]


def test_server_refuses_a_folder_without_a_model(tmp_path, capsys):
    from inference.server import main

    with pytest.raises(SystemExit) as stop:
        main(["--model", str(tmp_path)])
    assert stop.value.code == 2 and "no config.json" in capsys.readouterr().err


def test_summarizer_endpoints_on_a_uvicorn_server(tmp_path):
    import uvicorn

    from inference.server import create_app

    tiny_model().save_pretrained(tmp_path)
    tiny_processor().save_pretrained(tmp_path)
    app = create_app(str(tmp_path), device="cpu", max_new_tokens_limit=32)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        assert call(base, "/")[1]["model_type"] == "latent_space"
        assert call(base, "/info")[1]["latent_dim"] > 0
        status, reply = call(base, "/summarize", {"dialogue": "anna : hi tom !", "max_new_tokens": 8})
        assert status == 200 and isinstance(reply["summary"], str)
        status, reply = call(base, "/summarize", {"dialogue": ["anna : hi", "tom : sure ."], "max_new_tokens": 8})
        assert status == 200 and len(reply["summaries"]) == 2
        assert call(base, "/summarize", {"dialogue": ["ok", " "]})[0] == 400
        assert call(base, "/summarize", {"text": "hi"})[0] == 422
        assert call(base, "/summarize", {"dialogue": "hi", "max_new_tokens": 33})[0] == 400
        code, reply = call(base, "/generate", {"prompt": "hi"})
        assert code == 400 and "POST /summarize" in reply["detail"]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
