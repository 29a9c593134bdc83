"""Pushing a finished output folder (model, tokenizers, config with auto_map, card) to the Hugging Face Hub."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def push_output_dir(training_args) -> str:
    """Uploads output_dir (without intermediate checkpoints); without network, says so and leaves the files alone."""
    from huggingface_hub import HfApi

    output_dir = Path(training_args.output_dir)
    repo_id = training_args.hub_model_id or output_dir.name
    api = HfApi(token=training_args.hub_token)
    try:
        url = api.create_repo(repo_id, private=bool(training_args.hub_private_repo), exist_ok=True)
        api.upload_folder(
            repo_id=url.repo_id,
            folder_path=str(output_dir),
            commit_message="Upload latent-space summarizer",
            ignore_patterns=["checkpoint-*", "checkpoint-*/**", "runs/**", "*.pt"],
        )
    except Exception as error:  # network, auth and hub errors all end here with one clear message
        raise RuntimeError(
            f"Could not push {output_dir} to the Hub as {repo_id!r} ({type(error).__name__}: {error}). The model, "
            f"tokenizers and card are saved locally in {output_dir}; push them later with "
            f"`huggingface-cli upload {repo_id} {output_dir}`."
        ) from error
    logger.info(f"Pushed {output_dir} to {url}")
    return str(url)
