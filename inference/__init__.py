"""
Inference and idea-space exploration for latent-space summarizers.

    from inference import LatentSpaceInference

    lsi = LatentSpaceInference.from_pretrained("outputs/offline-frozen")
    lsi.summarize(dialogue)                       # or a list of dialogues; temperature=, top_p=, num_beams=, seed= ...
    z = lsi.get_latent(dialogue)                  # z_out (stage="out", default) or z_in (stage="in")
    lsi.decode_latent(z)                          # == lsi.summarize(dialogue) under greedy decoding
    lsi.interpolate(dialogue_a, dialogue_b, alphas=[0, 0.25, 0.5, 0.75, 1], method="slerp")
    lsi.nearest(corpus, query=dialogue, k=5)

Plots (`explore_latents`, `plot_latent_map`) need matplotlib, and t-SNE scikit-learn; both are optional.
The command line is `run_inference.py` at the repository root.
"""

from .data import Records, load_records
from .exploration import (
    ClusterSummary,
    LatentMap,
    explore_latents,
    format_cluster_table,
    kmeans,
    pca,
    plot_latent_map,
    sklearn_available,
    tsne,
)
from .interactive import interactive_loop
from .latent_space_inference import (
    GENERATION_SETTINGS,
    InterpolationStep,
    LatentSpaceInference,
    Neighbor,
    generation_kwargs,
    lerp,
    parse_setting,
    slerp,
)

__all__ = [
    "GENERATION_SETTINGS",
    "ClusterSummary",
    "InterpolationStep",
    "LatentMap",
    "LatentSpaceInference",
    "Neighbor",
    "Records",
    "explore_latents",
    "format_cluster_table",
    "generation_kwargs",
    "interactive_loop",
    "kmeans",
    "lerp",
    "load_records",
    "parse_setting",
    "pca",
    "plot_latent_map",
    "sklearn_available",
    "slerp",
    "tsne",
]
