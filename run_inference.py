#!/usr/bin/env python
r"""
Use a trained latent-space summarizer and explore its idea space from the command line.

    python run_inference.py interactive -m outputs/offline-frozen
    python run_inference.py generate    -m outputs/offline-frozen --input "Anna: lunch?\nTom: sure, at noon."
    python run_inference.py generate    -m outputs/offline-frozen --input_file dialogues.jsonl --output preds.jsonl
    python run_inference.py interpolate -m outputs/offline-frozen --text_a "..." --text_b "..." --steps 5
    python run_inference.py latents     -m outputs/offline-frozen --input_file data.jsonl --output latents.npy
    python run_inference.py plot        -m outputs/offline-frozen --input_file data.jsonl --color_column topic \
                                        --output docs/images/latent_pca.png
    python run_inference.py nearest     -m outputs/offline-frozen --input_file data.jsonl --query "..." -k 5

Each subcommand's --help lists its options. The work is done by the `inference` package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from inference import (
    GENERATION_SETTINGS,
    LatentSpaceInference,
    Records,
    explore_latents,
    interactive_loop,
    load_records,
)
from inference.commands import (
    dump_latents,
    format_interpolation,
    format_neighbors,
    generate_jsonl,
    pick_texts,
    write_interpolation,
)
from modeling.latent_space.compiled_decoding import DECODING_CHOICES

logger = logging.getLogger("run_inference")

GENERATION_HELP = {
    "max_new_tokens": "Summary length limit in tokens (default: the model's generation config).",
    "min_new_tokens": "Minimum summary length in tokens.",
    "num_beams": "Beam search width (default: greedy).",
    "temperature": "Sampling temperature; setting it turns sampling on (0 = greedy).",
    "top_p": "Nucleus sampling mass; turns sampling on.",
    "top_k": "Top-k sampling; turns sampling on.",
    "repetition_penalty": "Penalty for repeated tokens (1 = none).",
    "no_repeat_ngram_size": "Never repeat n-grams of this size.",
    "length_penalty": "Beam search length penalty.",
    "seed": "Seed for sampling (repeatable outputs).",
}


def _unescape(text: str | None) -> str | None:
    """Lets `--input "A: hi\\nB: hello"` carry line breaks from a shell."""
    return None if text is None else text.replace("\\n", "\n")


def build_parser() -> argparse.ArgumentParser:
    model = argparse.ArgumentParser(add_help=False)
    group = model.add_argument_group("model")
    group.add_argument("--model_name_or_path", "-m", required=True, help="Checkpoint folder or Hub id.")
    group.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available).")
    group.add_argument("--dtype", help="float32, float16, bfloat16 or auto (default: as saved).")
    group.add_argument("--batch_size", type=int, default=16, help="Texts per forward pass.")
    group.add_argument("--max_source_length", type=int, help="Dialogue tokens kept (default: min(encoder, 512)).")
    group.add_argument("--no_progress", action="store_true", help="No progress bars.")
    group.add_argument(
        "--decoding",
        choices=DECODING_CHOICES,
        default="generate",
        help="generate (every setting) or compiled (a static-cache loop, one CUDA graph per step on a GPU; greedy "
        "or temperature/top_k/top_p sampling only).",
    )

    generation = argparse.ArgumentParser(add_help=False)
    group = generation.add_argument_group("generation (default: the model's own generation config)")
    for name, kind in GENERATION_SETTINGS.items():
        if kind is bool:
            continue
        group.add_argument(f"--{name}", type=kind, help=GENERATION_HELP[name])
    group.add_argument(
        "--do_sample", action="store_const", const=True, help="Sample (implied by temperature/top_p/top_k)."
    )

    stage = argparse.ArgumentParser(add_help=False)
    stage.add_argument(
        "--stage",
        choices=("in", "out"),
        default="out",
        help="Latent stage: z_in (before the middle model) or z_out (after it; what the decoder reads). Default: out.",
    )

    data = argparse.ArgumentParser(add_help=False)
    group = data.add_argument_group("data (a local file or a Hub dataset split)")
    group.add_argument("--input_file", help="A .jsonl, .json or .csv file of dialogues.")
    group.add_argument("--dataset_name", help="A Hub dataset instead of --input_file (e.g. knkarthick/dialogsum).")
    group.add_argument("--dataset_config_name", help="The Hub dataset's configuration.")
    group.add_argument("--split", default="validation", help="The Hub dataset's split (default: validation).")
    group.add_argument("--text_column", default="dialogue", help="Column with the dialogue (default: dialogue).")
    group.add_argument("--id_column", help="Column with row ids (default: `id` when present, else row numbers).")
    group.add_argument("--max_samples", type=int, help="Use only the first N rows.")

    parser = argparse.ArgumentParser(
        description="Summarize with a latent-space model and explore its idea space.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `%(prog)s SUBCOMMAND --help` for each subcommand's options.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    subparsers.add_parser(
        "interactive",
        parents=[model, generation],
        help="Prompt loop: paste a dialogue, a blank line summarizes it (:help for commands).",
    )

    sub = subparsers.add_parser(
        "generate",
        parents=[model, generation, data],
        help="Summaries of --input texts, or of a data file or split, as JSONL.",
    )
    sub.add_argument("--input", action="append", help="A dialogue to summarize (repeatable; \\n for line breaks).")
    sub.add_argument("--output", help="JSONL file to write (default: stdout).")
    sub.add_argument("--keep_columns", action="store_true", help="Copy every input column into the output rows.")

    sub = subparsers.add_parser(
        "interpolate",
        parents=[model, generation, stage, data],
        help="Decode mixes of two dialogues' latents.",
    )
    sub.add_argument("--text_a", help="First dialogue (alpha 0).")
    sub.add_argument("--text_b", help="Second dialogue (alpha 1).")
    sub.add_argument("--id_a", help="With --input_file: the id of the first dialogue.")
    sub.add_argument("--id_b", help="With --input_file: the id of the second dialogue.")
    sub.add_argument("--steps", type=int, default=5, help="Evenly spaced alphas from 0 to 1 (default: 5).")
    sub.add_argument("--alphas", help="Comma-separated mixing weights instead of --steps, e.g. 0,0.3,0.5,1.2.")
    sub.add_argument("--method", choices=("linear", "slerp"), default="linear", help="Linear or spherical mixing.")
    sub.add_argument("--output", help="Also write the steps as JSONL here.")

    sub = subparsers.add_parser(
        "latents",
        parents=[model, stage, data],
        help="Dump the latents of a data file or split to .npy (ids in a .json beside it).",
    )
    sub.add_argument("--output", required=True, help="The .npy file; ids go to the same name with .json.")

    sub = subparsers.add_parser(
        "plot",
        parents=[model, generation, stage, data],
        help="PCA/t-SNE picture of a split's latents and a table of decoded k-means centroids.",
    )
    sub.add_argument("--output", required=True, help="The picture (.png); the table goes to <name>_clusters.md.")
    sub.add_argument("--color_column", help="Colour points by this column (e.g. topic); default: by k-means cluster.")
    sub.add_argument("--num_clusters", type=int, default=8, help="k-means clusters (default: 8).")
    sub.add_argument(
        "--projection",
        choices=("auto", "pca", "tsne", "both"),
        default="auto",
        help="auto = PCA and t-SNE when scikit-learn is installed, else PCA only.",
    )
    sub.add_argument("--top_categories", type=int, default=10, help="Colour this many most frequent values.")
    sub.add_argument("--table", help="Where the cluster table goes (default: beside the picture).")
    sub.add_argument("--title", help="Figure title.")
    sub.add_argument("--random_state", type=int, default=0, help="Seed of k-means and t-SNE.")

    sub = subparsers.add_parser(
        "nearest", parents=[model, stage, data], help="The dialogues whose latents are closest to a query."
    )
    sub.add_argument("--query", required=True, help="The query dialogue (\\n for line breaks).")
    sub.add_argument("-k", type=int, default=5, help="How many neighbours (default: 5).")
    return parser


def generation_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The generation flags the user gave; the rest stay at the model's own defaults."""
    return {name: getattr(args, name) for name in GENERATION_SETTINGS if getattr(args, name, None) is not None}


def load_inference(args: argparse.Namespace) -> LatentSpaceInference:
    return LatentSpaceInference.from_pretrained(
        args.model_name_or_path,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        max_source_length=args.max_source_length,
        decoding=getattr(args, "decoding", "generate"),
    )


def read_records(args: argparse.Namespace, required_columns: tuple[str, ...] = ()) -> Records:
    """The dialogues of --input_file or of --dataset_name's --split (read before the model loads: errors come fast)."""
    return load_records(
        args.input_file,
        args.text_column,
        args.id_column,
        required_columns,
        args.max_samples,
        dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name,
        split=args.split,
    )


def run_generate(args: argparse.Namespace) -> int:
    if bool(args.input) == bool(args.input_file or args.dataset_name):
        raise ValueError("Give either --input TEXT (repeatable) or a data source (--input_file / --dataset_name).")
    records = Records.from_texts([_unescape(text) for text in args.input]) if args.input else read_records(args)
    inference = load_inference(args)
    generate_jsonl(
        inference,
        records,
        args.output,
        args.text_column,
        args.keep_columns,
        progress=not args.no_progress,
        **generation_settings(args),
    )
    return 0


def run_interpolate(args: argparse.Namespace) -> int:
    if args.input_file or args.dataset_name:
        if not (args.id_a and args.id_b):
            raise ValueError("With --input_file or --dataset_name, give --id_a and --id_b (the rows to mix).")
        text_a, text_b = pick_texts(read_records(args), args.id_a, args.id_b)
    elif args.text_a and args.text_b:
        text_a, text_b = _unescape(args.text_a), _unescape(args.text_b)
    else:
        raise ValueError("Give --text_a and --text_b, or --input_file with --id_a and --id_b.")
    try:
        alphas = [float(alpha) for alpha in args.alphas.split(",")] if args.alphas else args.steps
    except ValueError:
        raise ValueError(f"--alphas takes comma-separated numbers such as 0,0.5,1; got {args.alphas!r}.") from None
    inference = load_inference(args)
    steps = inference.interpolate(
        text_a, text_b, alphas, method=args.method, stage=args.stage, **generation_settings(args)
    )
    print(format_interpolation(steps))
    if args.output:
        write_interpolation(steps, args.output, args.method, args.stage)
    return 0


def run_latents(args: argparse.Namespace) -> int:
    records = read_records(args)
    inference = load_inference(args)
    source = args.input_file or f"{args.dataset_name}[{args.split}]"
    dump_latents(
        inference, records, args.output, args.stage, source, args.model_name_or_path, progress=not args.no_progress
    )
    return 0


def run_plot(args: argparse.Namespace) -> int:
    records = read_records(args, (args.color_column,) if args.color_column else ())
    projections = {"auto": None, "pca": ("pca",), "tsne": ("tsne",), "both": ("pca", "tsne")}[args.projection]
    inference = load_inference(args)
    result = explore_latents(
        inference,
        records.texts,
        args.output,
        ids=records.ids,
        color_values=records.columns[args.color_column] if args.color_column else None,
        color_name=args.color_column,
        num_clusters=args.num_clusters,
        projections=projections,
        stage=args.stage,
        seed=args.random_state,
        top_categories=args.top_categories,
        table_path=args.table,
        title=args.title,
        progress=not args.no_progress,
        **generation_settings(args),
    )
    print(result.table)
    logger.info(f"Wrote {result.figure_path} and {result.table_path}")
    return 0


def run_nearest(args: argparse.Namespace) -> int:
    records = read_records(args)
    inference = load_inference(args)
    neighbors = inference.nearest(
        records.texts, _unescape(args.query), k=args.k, stage=args.stage, progress=not args.no_progress
    )
    print(format_neighbors(neighbors, records.ids))
    return 0


def run_interactive(args: argparse.Namespace) -> int:
    return interactive_loop(load_inference(args), settings=generation_settings(args))


COMMANDS = {
    "interactive": run_interactive,
    "generate": run_generate,
    "interpolate": run_interpolate,
    "latents": run_latents,
    "plot": run_plot,
    "nearest": run_nearest,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s - %(name)s - %(message)s", level=logging.WARNING, stream=sys.stderr)
    for name in ("inference", "run_inference"):
        logging.getLogger(name).setLevel(logging.INFO)
    return COMMANDS[args.command](args)


def cli() -> int:
    """`main` with plain one-line errors (exit status 2) instead of tracebacks for bad arguments, files or columns."""
    try:
        return main()
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
