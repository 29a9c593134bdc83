"""
Synthetic long-sequence tasks as deterministic generators (seed, length) -> token ids, training labels, scored labels.

Seed 002's three datasets and two probes from the literature:

- `long_increment`: x_t = x_0 + t (mod vocab) and the last token jumps by 5. Scored: the jump (the model must know
  where the sequence ends, i.e. count to the length).
- `hidden_rule_switch`: x_t = x_{t-1} + a until a hidden point p, then x_t = x_{t-1} + b (a != b, both per example).
  Scored: every token after the first one of the new rule (that one is unpredictable: the switch is hidden).
- `structured_token`: a random pattern of period P repeated, x_t = pattern[t mod P]. Scored: everything after the
  first period.
- `mqar`: multi-query associative recall as in Zoology (Arora et al. 2023): key-value pairs, then the keys queried
  again at random later positions among filler tokens. Scored: the value after each queried key.
- `selective_copying`: as in the Mamba paper (Gu & Dao 2023): data tokens scattered among noise, then a separator and
  marker tokens at which the data tokens must be output in order. Scored: the copied tokens.

Labels follow the transformers causal-LM convention (position t is predicted from positions < t; -100 is ignored).

Training may weight the loss (`scored_loss_share`): the scored positions then make up a fixed share of each
sequence's loss, whatever their number; what is trained on and what is scored do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import TrainerCallback

TASKS = ("long_increment", "hidden_rule_switch", "structured_token", "mqar", "selective_copying")
IGNORE = -100
JUMP = 5
# selective copying's special tokens; data tokens follow them
NOISE, SEPARATOR, MARKER = 0, 1, 2


@dataclass
class TaskOptions:
    """Task sizes that a recipe may change (each task reads the ones it needs)."""

    vocab_size: int = 64
    max_rule_step: int = 4
    min_period: int = 2
    max_period: int = 16
    num_kv_pairs: int = 16
    num_tokens_to_copy: int = 16
    num_data_tokens: int = 16


@dataclass
class TaskExample:
    """One sequence: `input_ids`; `labels` (the predictable positions, trained on); `score_mask` (what is scored)."""

    input_ids: np.ndarray
    labels: np.ndarray
    score_mask: np.ndarray

    @property
    def scored_labels(self) -> np.ndarray:
        return np.where(self.score_mask, self.labels, IGNORE)


def scored_loss_weights(example: TaskExample, share: float, window: int = 0) -> np.ndarray:
    """
    Per-position loss weights (float32, aligned with `example.labels`) that give the scored positions, and the
    `window` trained positions before each of them, `share` of the sequence's loss and the other trained positions the
    rest, each group split evenly; they sum to 1 (a sequence with no other labels gives the first group all of it).
    long_increment at 4,096 tokens has one scored label among 4,095: unweighted it gets 1/4,095 of the gradient, with
    `share=0.5` half of it.

    Weighting a position w times moves the model's decision for it: it predicts the scored answer wherever it believes
    it to be right with probability above 1 / (1 + w), so with the scored position alone weighted, a model unsure
    where the sequence ends predicts long_increment's jump at several positions near the end. The `window` gives
    those neighbours the scored position's weight, so between them the decision stays at even odds.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"`scored_loss_share` must be in (0, 1], got {share}.")
    if window < 0:
        raise ValueError(f"`scored_loss_window` must be >= 0, got {window}.")
    trained = example.labels != IGNORE
    near = example.score_mask.copy()
    for offset in range(1, min(window, len(near) - 1) + 1):
        near[:-offset] |= example.score_mask[offset:]
    scored = trained & near
    other = trained & ~near
    if not other.any():
        share = 1.0
    weights = np.zeros(example.labels.shape, dtype=np.float32)
    weights[scored] = share / max(scored.sum(), 1)
    weights[other] = (1.0 - share) / max(other.sum(), 1)
    return weights


def generate(task: str, length: int, seed: int | list[int], options: TaskOptions | None = None) -> TaskExample:
    """The example of `task` at `length` for `seed`: the same arguments always give the same sequence."""
    options = options or TaskOptions()
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
    check_task(task, length, options)
    rng = np.random.default_rng(seed)
    return _GENERATORS[task](rng, length, options)


def check_task(task: str, length: int, options: TaskOptions) -> None:
    """Raises, in the task's words, when a length or vocabulary cannot hold the task (before anything slow)."""
    vocab = options.vocab_size
    if task == "long_increment" and length < 3:
        raise ValueError(f"long_increment needs length >= 3, got {length}.")
    if task == "long_increment" and vocab <= JUMP:
        raise ValueError(f"long_increment needs vocab_size > {JUMP} so the jump differs from an increment.")
    if task == "hidden_rule_switch" and (length < 8 or not 2 <= options.max_rule_step < vocab):
        raise ValueError(
            f"hidden_rule_switch needs length >= 8 and 2 <= max_rule_step < vocab_size, got length {length}, "
            f"max_rule_step {options.max_rule_step}, vocab_size {vocab}."
        )
    if task == "structured_token" and not 2 <= options.min_period <= options.max_period < length:
        raise ValueError(
            f"structured_token needs 2 <= min_period <= max_period < length, got {options.min_period}, "
            f"{options.max_period}, {length}."
        )
    if task == "mqar":
        pairs = options.num_kv_pairs
        if length < 4 * pairs:
            raise ValueError(f"mqar needs length >= 4 * num_kv_pairs = {4 * pairs}, got {length}.")
        if vocab // 2 - 1 < pairs:
            raise ValueError(f"mqar needs vocab_size >= 2 * (num_kv_pairs + 1) = {2 * (pairs + 1)}, got {vocab}.")
    if task == "selective_copying":
        copies = options.num_tokens_to_copy
        if length < 2 * copies + 1:
            raise ValueError(f"selective_copying needs length >= 2 * num_tokens_to_copy + 1, got {length}.")
        if vocab < MARKER + 1 + options.num_data_tokens:
            raise ValueError(
                f"selective_copying needs vocab_size >= {MARKER + 1 + options.num_data_tokens} "
                f"(3 special tokens + num_data_tokens), got {vocab}."
            )


def _long_increment(rng: np.random.Generator, length: int, options: TaskOptions) -> TaskExample:
    vocab = options.vocab_size
    tokens = (rng.integers(vocab) + np.arange(length)) % vocab
    tokens[-1] = (tokens[-2] + JUMP) % vocab
    labels = tokens.copy()
    labels[0] = IGNORE
    score = np.zeros(length, dtype=bool)
    score[-1] = True
    return TaskExample(tokens, labels, score)


def _hidden_rule_switch(rng: np.random.Generator, length: int, options: TaskOptions) -> TaskExample:
    vocab = options.vocab_size
    first, second = rng.choice(np.arange(1, options.max_rule_step + 1), size=2, replace=False)
    switch = int(rng.integers(length // 4, 3 * length // 4))
    steps = np.where(np.arange(length) < switch, first, second)
    steps[0] = rng.integers(vocab)
    tokens = np.cumsum(steps) % vocab
    labels = tokens.copy()
    labels[[0, 1, switch]] = IGNORE  # x_1 reveals the first rule, x_switch the second: neither is predictable
    score = np.arange(length) > switch
    return TaskExample(tokens, labels, score)


def _structured_token(rng: np.random.Generator, length: int, options: TaskOptions) -> TaskExample:
    period = int(rng.integers(options.min_period, options.max_period + 1))
    pattern = rng.integers(options.vocab_size, size=period)
    tokens = pattern[np.arange(length) % period]
    score = np.arange(length) >= period
    return TaskExample(tokens, np.where(score, tokens, IGNORE), score)


def _mqar(rng: np.random.Generator, length: int, options: TaskOptions) -> TaskExample:
    pairs, half = options.num_kv_pairs, options.vocab_size // 2
    keys = rng.choice(np.arange(1, half), size=pairs, replace=False)  # 0 is the filler token
    values = rng.integers(half, options.vocab_size, size=pairs)
    tokens = np.zeros(length, dtype=np.int64)
    tokens[0 : 2 * pairs : 2], tokens[1 : 2 * pairs : 2] = keys, values
    # every key is queried once, in random order, at random (key, value) slots after the context
    slots = np.sort(rng.choice((length - 2 * pairs) // 2, size=pairs, replace=False))
    order = rng.permutation(pairs)
    positions = 2 * pairs + 2 * slots
    tokens[positions], tokens[positions + 1] = keys[order], values[order]
    labels = np.full(length, IGNORE)
    labels[positions + 1] = values[order]
    return TaskExample(tokens, labels, labels != IGNORE)


def _selective_copying(rng: np.random.Generator, length: int, options: TaskOptions) -> TaskExample:
    copies = options.num_tokens_to_copy
    region = length - 1 - copies
    data = rng.integers(MARKER + 1, MARKER + 1 + options.num_data_tokens, size=copies)
    tokens = np.full(length, NOISE, dtype=np.int64)
    tokens[np.sort(rng.choice(region, size=copies, replace=False))] = data
    tokens[region] = SEPARATOR
    tokens[region + 1 :] = MARKER
    labels = np.full(length, IGNORE)
    labels[region + 1 :] = data  # the marker after the separator's k-th position is answered with the k-th datum
    return TaskExample(tokens, labels, labels != IGNORE)


_GENERATORS = {
    "long_increment": _long_increment,
    "hidden_rule_switch": _hidden_rule_switch,
    "structured_token": _structured_token,
    "mqar": _mqar,
    "selective_copying": _selective_copying,
}


class SyntheticTaskDataset(torch.utils.data.Dataset):
    """
    `num_examples` sequences of `task`, example i generated from the seed `[seed, split, i]`: train and evaluation
    streams never share a sequence and any example can be regenerated alone. `length` may be changed between batches
    (the length curriculum). Training items carry every predictable label; evaluation items only the scored ones.
    With `scored_loss_share` (and `scored_loss_window`), training items also carry `loss_weights` (see
    `scored_loss_weights`), which
    `LatentDynamicsForCausalLM` uses for a weighted loss. `all_labels=True` gives evaluation items every predictable
    label too: a model that gets a scored position right by predicting its answer everywhere (long_increment's jump
    at every position) is then caught.
    """

    SPLITS = {"train": 0, "eval": 1}

    def __init__(
        self,
        task: str,
        length: int,
        num_examples: int,
        seed: int,
        split: str,
        options: TaskOptions,
        scored_loss_share: float | None = None,
        all_labels: bool = False,
        scored_loss_window: int = 0,
    ) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"split must be train or eval, got {split!r}.")
        check_task(task, length, options)
        if scored_loss_share is not None and not 0.0 < scored_loss_share <= 1.0:
            raise ValueError(f"`scored_loss_share` must be in (0, 1], got {scored_loss_share}.")
        self.task, self.length, self.num_examples = task, length, num_examples
        self.seed, self.split, self.options = seed, split, options
        self.scored_loss_share, self.scored_loss_window = scored_loss_share, scored_loss_window
        self.all_labels = all_labels

    def __len__(self) -> int:
        return self.num_examples

    def example(self, index: int) -> TaskExample:
        return generate(self.task, self.length, [self.seed, self.SPLITS[self.split], self.length, index], self.options)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        example = self.example(index)
        labels = example.labels if self.split == "train" or self.all_labels else example.scored_labels
        item = {"input_ids": torch.as_tensor(example.input_ids), "labels": torch.as_tensor(labels)}
        if self.split == "train" and self.scored_loss_share is not None:
            item["loss_weights"] = torch.as_tensor(
                scored_loss_weights(example, self.scored_loss_share, self.scored_loss_window)
            )
        return item


def collate_sequences(features: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """
    Stacks a batch, right-padding shorter sequences (a curriculum boundary) with token 0, ignored labels and (when
    the items carry them) zero loss weights.
    """
    length = max(f["input_ids"].shape[0] for f in features)
    input_ids = torch.zeros(len(features), length, dtype=torch.long)
    labels = torch.full((len(features), length), IGNORE, dtype=torch.long)
    weighted = all("loss_weights" in f for f in features)
    loss_weights = torch.zeros(len(features), length, dtype=torch.float32) if weighted else None
    for row, feature in enumerate(features):
        input_ids[row, : feature["input_ids"].shape[0]] = feature["input_ids"]
        labels[row, : feature["labels"].shape[0]] = feature["labels"]
        if weighted:
            loss_weights[row, : feature["loss_weights"].shape[0]] = feature["loss_weights"]
    batch = {"input_ids": input_ids, "labels": labels}
    if weighted:
        batch["loss_weights"] = loss_weights
    return batch


def argmax_logits(logits, labels):
    """For `Trainer(preprocess_logits_for_metrics=...)`: keep only the predicted ids, not 8K x vocab logits."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def scored_accuracy(eval_prediction) -> dict[str, float]:
    """Accuracy over scored positions and the share of sequences with every scored position right."""
    predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    predictions, labels = np.asarray(predictions)[:, :-1], np.asarray(labels)[:, 1:]
    scored = labels != IGNORE
    correct = (predictions == labels) & scored
    per_sequence = correct.sum(axis=1) == scored.sum(axis=1)
    return {
        "accuracy": float(correct.sum() / max(scored.sum(), 1)),
        "sequence_accuracy": float(per_sequence.mean()) if len(per_sequence) else 0.0,
    }


class LengthCurriculumCallback(TrainerCallback):
    """Trains on `lengths` in order, an equal share of the steps each (the seed's "train on gradually longer")."""

    def __init__(self, dataset: SyntheticTaskDataset, lengths: list[int]) -> None:
        for length in lengths:
            check_task(dataset.task, length, dataset.options)
        self.dataset, self.lengths = dataset, list(lengths)

    def on_train_begin(self, args, state, control, **kwargs):
        self.on_step_begin(args, state, control)

    def on_step_begin(self, args, state, control, **kwargs):
        stage = min(state.global_step * len(self.lengths) // max(state.max_steps, 1), len(self.lengths) - 1)
        self.dataset.length = self.lengths[stage]
