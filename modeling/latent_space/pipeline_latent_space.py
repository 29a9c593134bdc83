"""
`pipeline("summarization", model=dir_or_hub_id, trust_remote_code=True)` for a latent-space summarizer.

The stock summarization pipeline tokenizes and decodes with one tokenizer; this model reads with the encoder's and
writes with the decoder's, so it needs its processor. A saved checkpoint names this class in `config.custom_pipelines`
and carries this file beside the model's code, so the pipeline loads with nothing but transformers.
"""

from __future__ import annotations

from typing import Any

from transformers import Pipeline

# What `save_pretrained` writes into `config.custom_pipelines` (transformers' format for pipelines in remote code).
CUSTOM_PIPELINES = {
    "summarization": {
        "impl": "pipeline_latent_space.LatentSpaceSummarizationPipeline",
        "pt": ["AutoModelForSeq2SeqLM"],
        "type": "text",
    }
}


class LatentSpaceSummarizationPipeline(Pipeline):
    """
    Dialogue(s) in, `[{"summary_text": ...}]` out, like the stock summarization pipeline. Generation settings
    (`max_new_tokens`, `num_beams`, `do_sample`, ...) are passed through to `model.generate`; `max_source_length`
    cuts long dialogues (default: the length the model was trained with, recorded in its encoder tokenizer).
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Batches (`batch_size=`) pad the dialogues, so they are padded with the encoder's pad token.
        self.tokenizer = self.processor.encoder_tokenizer

    def __call__(self, inputs: str | list[str], **kwargs: Any):
        """One dialogue -> `[{"summary_text": ...}]`; a list of dialogues -> one such dict per dialogue."""
        result = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and all(len(records) == 1 for records in result):
            return [records[0] for records in result]
        return result

    def _sanitize_parameters(self, max_source_length: int | None = None, **generate_kwargs: Any):
        preprocess_params = {} if max_source_length is None else {"max_source_length": max_source_length}
        return preprocess_params, generate_kwargs, {}

    def preprocess(self, dialogue: str, max_source_length: int | None = None) -> dict[str, Any]:
        if max_source_length is None:
            recorded = self.processor.encoder_tokenizer.model_max_length
            max_source_length = recorded if recorded and recorded < 1_000_000 else None
        return self.processor(dialogue, max_source_length=max_source_length, return_tensors="pt")

    def _forward(self, model_inputs: dict[str, Any], **generate_kwargs: Any) -> dict[str, Any]:
        return {"output_ids": self.model.generate(**model_inputs, **generate_kwargs)}

    def postprocess(self, model_outputs: dict[str, Any]) -> list[dict[str, str]]:
        return [{"summary_text": text} for text in self.processor.batch_decode(model_outputs["output_ids"])]
