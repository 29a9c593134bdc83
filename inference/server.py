"""
A REST server for a trained checkpoint: a CALM student (`POST /generate`) or a latent-space summarizer
(`POST /summarize`), whichever the folder holds.

    python -m inference.server --model outputs/calm-student [--host 127.0.0.1 --port 7860]

    GET  /          health: {"status": "ok", "model_type": ...}
    GET  /info      model facts (for CALM: K as "compression_factor", latent size, parameters, limits)
    POST /generate  {"prompt", "max_new_tokens", "temperature", "top_p", "top_k", "seed"}
                    -> {"generated_text", "prompt", "continuation", "num_tokens_generated", "ar_steps",
                        "compression_factor"}
    POST /summarize {"dialogue": "..."} -> {"summary": "..."};  {"dialogue": ["...", ...]} -> {"summaries": [...]}

Bad requests get a 4xx with a message: 422 for a missing field or a wrong type, 400 for a value the model cannot use
(or an endpoint of the other family), 413 for an oversize input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

logger = logging.getLogger("inference.server")

FAMILIES = {"calm": "CALM student (POST /generate)", "latent_space": "latent-space summarizer (POST /summarize)"}


class GenerateRequest(BaseModel):
    """The seed's request: a prompt and its sampling settings (temperature 0 = greedy, top_k 0 = off)."""

    model_config = ConfigDict(extra="forbid")
    prompt: StrictStr = Field(min_length=1)
    max_new_tokens: StrictInt = Field(default=128, ge=0)
    temperature: StrictFloat | StrictInt = Field(default=0.8, ge=0)
    top_p: StrictFloat | StrictInt = Field(default=0.9, gt=0, le=1)
    top_k: StrictInt = Field(default=0, ge=0)
    seed: StrictInt | None = None


class SummarizeRequest(BaseModel):
    """One dialogue or a list of them; optional generation settings."""

    model_config = ConfigDict(extra="forbid")
    dialogue: StrictStr | list[StrictStr]
    max_new_tokens: StrictInt | None = Field(default=None, ge=1)
    num_beams: StrictInt | None = Field(default=None, ge=1, le=8)
    temperature: StrictFloat | StrictInt | None = Field(default=None, ge=0)
    seed: StrictInt | None = None


def model_type_of(model_dir: str | Path) -> str:
    """The `model_type` of a checkpoint folder, checked before anything heavy loads."""
    config_path = Path(model_dir) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{model_dir} is not a model folder (no config.json).")
    model_type = json.loads(config_path.read_text()).get("model_type")
    if model_type not in FAMILIES:
        raise ValueError(
            f"{model_dir} holds a {model_type!r} model; this server serves: "
            + ", ".join(f"{k} ({v})" for k, v in FAMILIES.items())
        )
    return model_type


def _load(model_dir: str, model_type: str, device: str | None, dtype: str | None):
    if model_type == "calm":
        from inference.calm_inference import CalmInference

        return CalmInference.from_pretrained(model_dir, device=device, dtype=dtype)
    from inference.latent_space_inference import LatentSpaceInference

    return LatentSpaceInference.from_pretrained(model_dir, device=device, dtype=dtype)


def create_app(
    model_dir: str,
    device: str | None = None,
    dtype: str | None = None,
    max_new_tokens_limit: int = 1024,
    max_prompt_chars: int = 20_000,
    max_batch: int = 32,
    engine: Any = None,
) -> FastAPI:
    """The app for one checkpoint folder (`engine` lets a caller pass an already loaded inference object)."""
    model_type = model_type_of(model_dir)
    engine = engine if engine is not None else _load(model_dir, model_type, device, dtype)
    lock = threading.Lock()  # one generation at a time: torch calls from several threads would only contend
    app = FastAPI(title="latent-space model recipes server", version="0.1.0")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        messages = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
            messages.append(f"{where}: {item.get('msg')}")
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages) or "invalid request"})

    def refuse_other_family(wanted: str) -> None:
        if model_type != wanted:
            other = "/generate" if model_type == "calm" else "/summarize"
            raise HTTPException(
                status_code=400,
                detail=f"This server holds a {FAMILIES[model_type]}; it answers POST {other}, not this endpoint.",
            )

    @app.get("/")
    def health() -> dict[str, str]:
        return {"status": "ok", "model_type": model_type}

    @app.get("/info")
    def info() -> dict[str, Any]:
        if model_type == "calm":
            facts = engine.info()
        else:
            config = engine.model.config
            facts = {
                "model_type": model_type,
                "latent_dim": config.latent_dim,
                "encoder": config.encoder_name_or_path,
                "decoder": config.decoder_name_or_path,
                "max_source_length": engine.max_source_length,
                "device": str(engine.device),
            }
        return {
            **facts,
            "model_dir": str(model_dir),
            "limits": {"max_new_tokens": max_new_tokens_limit, "max_prompt_chars": max_prompt_chars},
        }

    @app.post("/generate")
    def generate(request: GenerateRequest) -> dict[str, Any]:
        refuse_other_family("calm")
        if len(request.prompt) > max_prompt_chars:
            raise HTTPException(
                413, f"The prompt has {len(request.prompt)} characters; the limit is {max_prompt_chars}."
            )
        if request.max_new_tokens > max_new_tokens_limit:
            raise HTTPException(400, f"max_new_tokens must be at most {max_new_tokens_limit}.")
        if engine.prompt_length(request.prompt) > engine.max_prompt_tokens:
            raise HTTPException(413, f"The prompt is longer than the model's {engine.max_prompt_tokens} tokens.")
        try:
            with lock:
                result = engine.generate(
                    request.prompt,
                    max_new_tokens=request.max_new_tokens,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    top_k=request.top_k,
                    seed=request.seed,
                )
        except ValueError as error:
            raise HTTPException(400, str(error)) from error
        return {
            "generated_text": request.prompt + result.text,
            "prompt": request.prompt,
            "continuation": result.text,
            "num_tokens_generated": result.num_tokens,
            "ar_steps": result.ar_steps,
            "compression_factor": engine.patch_size,
        }

    @app.post("/summarize")
    def summarize(request: SummarizeRequest) -> dict[str, Any]:
        refuse_other_family("latent_space")
        dialogues = [request.dialogue] if isinstance(request.dialogue, str) else request.dialogue
        if not dialogues or any(not d.strip() for d in dialogues):
            raise HTTPException(400, "Each dialogue must be a non-empty string.")
        if len(dialogues) > max_batch:
            raise HTTPException(413, f"{len(dialogues)} dialogues in one request; the limit is {max_batch}.")
        if any(len(d) > max_prompt_chars for d in dialogues):
            raise HTTPException(413, f"A dialogue is longer than {max_prompt_chars} characters.")
        if request.max_new_tokens is not None and request.max_new_tokens > max_new_tokens_limit:
            raise HTTPException(400, f"max_new_tokens must be at most {max_new_tokens_limit}.")
        settings = {
            name: value
            for name, value in request.model_dump(exclude={"dialogue"}).items()
            if value is not None and not (name == "temperature" and value == 0)
        }
        try:
            with lock:
                summaries = engine.summarize(dialogues, **settings)
        except ValueError as error:
            raise HTTPException(400, str(error)) from error
        if isinstance(request.dialogue, str):
            return {"summary": summaries[0]}
        return {"summaries": summaries}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A checkpoint folder (CALM student or summarizer).")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on (0.0.0.0: all).")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available).")
    parser.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: as saved).")
    parser.add_argument("--max_new_tokens_limit", type=int, default=1024)
    parser.add_argument("--max_prompt_chars", type=int, default=20_000)
    args = parser.parse_args(argv)
    try:
        model_type_of(args.model)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    app = create_app(
        args.model,
        device=args.device,
        dtype=args.dtype,
        max_new_tokens_limit=args.max_new_tokens_limit,
        max_prompt_chars=args.max_prompt_chars,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
