"""
Few shapes, so `--torch_compile true` pays off on real data.

Padding each batch to its own longest row gives a new shape almost every step; a compiled model then recompiles
until dynamo's limit and falls back to slow eager code (BENCHMARKS.md: 24.5 samples/s compiled against 450 eager on
real DialogSum lengths). Here:

- the collator pads to a few bucket lengths chosen in the recipe (`source_buckets`, `target_buckets`);
- batches are drawn from rows of similar length (`train_sampling_strategy: group_by_length`), grouped by the length
  that costs: the summary's when the encoder's outputs are cached, the dialogue's otherwise. transformers drops a
  `length` column before its sampler reads it, so the lengths are handed to the Trainer directly;
- dynamo compiles once per shape (static shapes by default), with its recompile limit set to the number of shapes
  the buckets allow and an error, not a silent eager fallback, beyond it. Without buckets, compile is refused
  unless dynamic shapes are asked for (and then the same limit guards it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch.utils.data import SequentialSampler
from transformers import Seq2SeqTrainer
from transformers.trainer_pt_utils import LengthGroupedSampler

logger = logging.getLogger(__name__)

# Per bucket pair: full and last partial batch, in training and in evaluation mode.
SHAPES_PER_BUCKET_PAIR = 4


def sequence_lengths(dataset, column: str) -> list[int]:
    """Row lengths of `column` (`input_ids` or `labels`) of a tokenized dataset, or of one wrapped by the cache."""
    inner = getattr(dataset, "dataset", dataset)  # CachedEncoderDataset keeps the tokenized rows as `.dataset`
    return [len(ids) for ids in inner[column]]


class LengthGroupingMixin:
    """
    Put before a transformers Trainer class: with `train_sampling_strategy="group_by_length"` and `train_lengths`
    given, batches group rows by these lengths (the stock sampler, fed the lengths that matter).
    """

    train_lengths: list[int] | None = None

    def _get_train_sampler(self, train_dataset=None):
        if self.train_lengths is not None and self.args.train_sampling_strategy == "group_by_length":
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=self.train_lengths
            )
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        # transformers 5 groups evaluation by length too under group_by_length: predictions would then come back in
        # another order than the rows they belong to (example summaries, prediction files), so evaluation keeps the
        # dataset's order. Distributed evaluation keeps the stock sharding (None).
        if eval_dataset is None or self.args.world_size > 1:
            return None
        return SequentialSampler(eval_dataset)


class LengthGroupedSeq2SeqTrainer(LengthGroupingMixin, Seq2SeqTrainer):
    """The stock `Seq2SeqTrainer`, grouping training batches by `train_lengths` when asked to; evaluation in order."""

    def __init__(self, *args, train_lengths: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_lengths = train_lengths


def configure_compile(
    torch_compile: bool,
    source_buckets: Sequence[int] | None,
    target_buckets: Sequence[int] | None,
    compile_shapes: str = "static",
) -> int | None:
    """
    Sets dynamo for a compiled run and returns its recompile limit (None when not compiling). Raises, before anything
    loads, when compile would recompile for every new length.
    """
    if not torch_compile:
        return None
    if not (source_buckets and target_buckets) and compile_shapes != "dynamic":
        raise ValueError(
            "--torch_compile true needs few input shapes, or it recompiles for every new length and runs slower than "
            "eager. Set `source_buckets` and `target_buckets` (e.g. [64, 128, 256] and [16, 32, 64]) in the recipe "
            "(with `train_sampling_strategy: group_by_length`), or set `compile_shapes: dynamic` to try one graph with symbolic lengths."
        )
    pairs = len(source_buckets or [0]) * len(target_buckets or [0])
    limit = max(8, SHAPES_PER_BUCKET_PAIR * pairs)
    if compile_shapes == "static":
        torch._dynamo.config.automatic_dynamic_shapes = False  # one graph per bucket shape, each fully specialised
    elif compile_shapes == "dynamic":
        torch._dynamo.config.assume_static_by_default = False  # one graph with symbolic lengths
    torch._dynamo.config.recompile_limit = limit
    # Beyond the limit dynamo would quietly run the rest eagerly, slower than never compiling: fail loudly instead.
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    logger.info(
        f"torch.compile: {compile_shapes} shapes, {pairs} bucket pair(s), at most {limit} compilations of a frame."
    )
    return limit


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process so far (each compilation of a frame counts)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
