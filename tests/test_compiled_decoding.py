"""The compiled static-cache decoding loop writes exactly what `generate` writes (greedy), and refuses what it cannot do."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from modeling.latent_space.compiled_decoding import UnsupportedDecodingSetting, compiled_decoder, compiled_generate
from tests.tiny_backbones import tiny_decoder_config, tiny_model, tiny_processor


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _decoder(kind: str):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_decoder_config(kind)).eval()


def _frequent_token(tokens: torch.Tensor) -> int:
    """A token the decoder writes in some rows but not all, used as EOS so that rows stop at different steps."""
    values, counts = tokens.unique(return_counts=True)
    for value in values[counts.argsort(descending=True)]:
        rows = (tokens == value).any(1)
        if 0 < int(rows.sum()) < tokens.shape[0]:
            return int(value)
    return int(values[counts.argmax()])


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_token_prompts_give_generates_tokens_and_stop_at_eos(kind):
    decoder = _decoder(kind)
    ids = torch.randint(2, 256, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # a left-padded row
    settings = {"max_new_tokens": 10, "do_sample": False, "pad_token_id": 0}
    free = decoder.generate(input_ids=ids, attention_mask=mask, eos_token_id=None, **settings)
    eos = _frequent_token(free[:, 7:])
    for eos_setting in (None, eos, [eos, 255]):
        expected = decoder.generate(input_ids=ids, attention_mask=mask, eos_token_id=eos_setting, **settings)
        got = compiled_generate(decoder, input_ids=ids, attention_mask=mask, eos_token_id=eos_setting, **settings)
        assert torch.equal(got, expected), eos_setting
    assert (got[:, 7:] == 0).any()  # EOS stopped some rows, padded after
    # Every row ends by its third token: the output stops there too, also when the loop checks every 2 steps.
    everyone = free[:, 7 + 2].unique().tolist()
    expected = decoder.generate(input_ids=ids, attention_mask=mask, eos_token_id=everyone, **settings)
    runner = compiled_decoder(decoder, check_every=2)
    got = runner.generate(input_ids=ids, attention_mask=mask, eos_token_id=everyone, **settings)
    assert torch.equal(got, expected) and got.shape[1] <= 7 + 3


def test_embedding_prompts_respect_min_and_max_new_tokens():
    decoder = _decoder("gpt2")
    embeds = torch.randn(3, 5, decoder.config.hidden_size, generator=torch.Generator().manual_seed(2))
    free = decoder.generate(inputs_embeds=embeds, max_new_tokens=8, do_sample=False, eos_token_id=None)
    eos = _frequent_token(free)
    for settings in ({"max_new_tokens": 8}, {"max_new_tokens": 8, "min_new_tokens": 5}, {"max_new_tokens": 3}):
        kwargs = {"do_sample": False, "eos_token_id": eos, "pad_token_id": 0, **settings}
        expected = decoder.generate(inputs_embeds=embeds, **kwargs)
        got = compiled_generate(decoder, inputs_embeds=embeds, **kwargs)
        assert torch.equal(got, expected), settings
        assert got.shape[1] <= settings["max_new_tokens"]
        if "min_new_tokens" in settings:
            assert not (got[:, :5] == eos).any()


def test_latent_model_compiled_decoding_matches_generate_with_the_idea_routes():
    model = tiny_model(decoder="llama", latent_to_embeddings=True, latent_to_logits=True).eval()
    batch = tiny_processor()(["anna : lunch at noon ?", "tom : ok , see you"], padding=True, return_tensors="pt")
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "max_new_tokens": 6}
    expected = model.generate(**inputs)
    assert torch.equal(model.generate(**inputs, decoding="compiled"), expected)
    latent = model.reason(model.encode(batch["input_ids"], batch["attention_mask"]))
    assert torch.equal(model.generate(latent=latent, max_new_tokens=6, decoding="compiled"), expected)


def test_sampling_runs_and_top_k_one_is_greedy():
    decoder = _decoder("gpt2")
    ids = torch.randint(2, 256, (2, 4), generator=torch.Generator().manual_seed(3))
    greedy = compiled_generate(decoder, input_ids=ids, max_new_tokens=5, eos_token_id=None)
    top1 = compiled_generate(decoder, input_ids=ids, max_new_tokens=5, eos_token_id=None, do_sample=True, top_k=1)
    assert torch.equal(top1, greedy)
    sampled = compiled_generate(
        decoder, input_ids=ids, max_new_tokens=5, eos_token_id=None, do_sample=True, temperature=0.7, top_p=0.9
    )
    assert sampled.shape == greedy.shape and int(sampled.max()) < decoder.config.vocab_size


def test_unsupported_settings_are_refused_by_name():
    decoder = _decoder("gpt2")
    ids = torch.randint(2, 256, (2, 4))
    for settings, name in (
        ({"num_beams": 2}, "num_beams"),
        ({"repetition_penalty": 1.3}, "repetition_penalty"),
        ({"no_repeat_ngram_size": 2}, "no_repeat_ngram_size"),
    ):
        with pytest.raises(UnsupportedDecodingSetting, match=name):
            compiled_generate(decoder, input_ids=ids, max_new_tokens=3, **settings)
    model = tiny_model().eval()
    with pytest.raises(UnsupportedDecodingSetting, match="num_beams"):
        model.generate(input_ids=torch.tensor([[2, 5, 3]]), num_beams=2, decoding="compiled")
    with pytest.raises(ValueError, match="decoding must be one of"):
        model.generate(input_ids=torch.tensor([[2, 5, 3]]), decoding="fast")


def test_same_shaped_batches_reuse_one_cache():
    decoder = _decoder("gpt2")
    runner = compiled_decoder(decoder)
    for length in (4, 9):  # both round up to one 64-position cache
        compiled_generate(decoder, input_ids=torch.randint(2, 256, (2, length)), max_new_tokens=3)
    assert compiled_decoder(decoder) is runner and len(runner._sessions) == 1


def test_the_step_is_one_graph_per_shape_without_graph_breaks():
    from torch._dynamo.testing import CompileCounter

    decoder, counter = _decoder("llama"), CompileCounter()
    options = {"backend": counter, "fullgraph": True, "mode": None}
    runner = compiled_decoder(decoder, compile=True, compile_options=options)
    ids = torch.randint(2, 256, (2, 5))
    expected = decoder.generate(input_ids=ids, max_new_tokens=4, do_sample=False, eos_token_id=None)
    for _ in range(2):
        assert torch.equal(runner.generate(input_ids=ids, max_new_tokens=4, eos_token_id=None), expected)
    assert counter.frame_count == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_decoding_matches_generate_on_gpu():
    decoder = _decoder("gpt2").cuda()
    ids = torch.randint(2, 256, (4, 8), device="cuda")
    expected = decoder.generate(input_ids=ids, max_new_tokens=20, do_sample=False, eos_token_id=None)
    for _ in range(3):  # warm-up, recording, replay
        got = compiled_generate(decoder, input_ids=ids, max_new_tokens=20, eos_token_id=None)
        assert torch.equal(got, expected)


def test_inference_and_run_eval_expose_the_compiled_loop():
    import run_eval
    from inference import LatentSpaceInference
    from training.arguments import parse_args

    model, processor = tiny_model().eval(), tiny_processor()
    dialogues = ["anna : lunch at noon ?", "tom : ok , see you", "kate : coffee ?"]
    fast = LatentSpaceInference(model, processor, device="cpu", batch_size=2, decoding="compiled")
    plain = LatentSpaceInference(model, processor, device="cpu", batch_size=2)
    assert fast.summarize(dialogues, max_new_tokens=5) == plain.summarize(dialogues, max_new_tokens=5)
    with pytest.raises(ValueError, match="decoding must be one of"):
        LatentSpaceInference(model, processor, device="cpu", decoding="fast")
    (args,) = parse_args(
        ["--model_name_or_path", "m", "--validation_file", "v.jsonl", "--decoding", "compiled"],
        classes=(run_eval.EvalArguments,),
    )
    assert args.generation_kwargs()["decoding"] == "compiled"


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_eager_step_attention_writes_the_same_tokens_and_restores_the_decoders_own(kind):
    decoder = _decoder(kind)
    own = decoder.config._attn_implementation
    assert own != "eager"  # so the option changes what the steps run
    ids = torch.randint(2, 256, (3, 6), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded row: the eager path builds its own 4D mask
    settings = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": 0, "eos_token_id": None}
    expected = decoder.generate(input_ids=ids, attention_mask=mask, **settings)
    got = compiled_decoder(decoder, step_attention="eager").generate(input_ids=ids, attention_mask=mask, **settings)
    assert torch.equal(got, expected)
    assert decoder.config._attn_implementation == own
    with pytest.raises(ValueError, match="step_attention"):
        compiled_decoder(decoder, step_attention="flash")
