"""
Maps of the idea space: 2-D projections (PCA, t-SNE) of a split's latents, k-means clusters and their decoded centroids.

matplotlib (for the picture) and scikit-learn (t-SNE, and a faster k-means) are optional:

    pip install matplotlib scikit-learn

PCA and the fallback k-means use numpy only, so a plot needs matplotlib alone.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .latent_space_inference import LatentSpaceInference

logger = logging.getLogger(__name__)

PROJECTIONS = ("pca", "tsne")
OTHER = "other"


def sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def _require_matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("Plotting latents needs matplotlib: pip install matplotlib") from error
    return Figure


def _as_array(latents: Any) -> np.ndarray:
    array = latents.detach().cpu().numpy() if hasattr(latents, "detach") else np.asarray(latents)
    array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"Need a (n, latent_dim) array with at least 2 rows, got shape {array.shape}.")
    return array


# ----------------------------------------------------------------------------------------------------------------------
# Projections and clustering
# ----------------------------------------------------------------------------------------------------------------------


def pca(latents: Any, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Principal components by SVD (numpy only): `(coords (n, n_components), explained variance ratio)`."""
    x = _as_array(latents)
    x = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    n_components = min(n_components, len(s))
    # Fix each axis' sign (largest loading positive) so the same data always gives the same picture.
    signs = np.sign(vt[np.arange(n_components), np.abs(vt[:n_components]).argmax(axis=1)])
    signs[signs == 0] = 1
    coords = u[:, :n_components] * s[:n_components] * signs
    total = float((s**2).sum())
    ratio = (s[:n_components] ** 2) / total if total > 0 else np.zeros(n_components)
    return coords, ratio


def tsne(latents: Any, seed: int = 0, perplexity: float | None = None) -> tuple[np.ndarray, float]:
    """t-SNE to 2-D (needs scikit-learn): `(coords, perplexity used)`. Perplexity defaults to min(30, (n - 1) / 3)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ImportError("t-SNE needs scikit-learn: pip install scikit-learn (or use PCA only)") from error
    x = _as_array(latents)
    if perplexity is None:
        perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3)))
    if perplexity >= len(x):
        raise ValueError(f"t-SNE needs more points than its perplexity ({perplexity}); got {len(x)} points.")
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return coords, perplexity


def _kmeans_numpy(x: np.ndarray, k: int, seed: int, n_init: int = 5, max_iter: int = 200):
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        # k-means++ seeding
        centroids = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            distances = ((x[:, None, :] - np.asarray(centroids)[None]) ** 2).sum(-1).min(axis=1)
            total = distances.sum()
            index = rng.choice(len(x), p=distances / total) if total > 0 else rng.integers(len(x))
            centroids.append(x[index])
        centers = np.asarray(centroids)
        labels = np.zeros(len(x), dtype=np.int64)
        for iteration in range(max_iter):
            distances = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
            new_labels = distances.argmin(axis=1)
            if iteration > 0 and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for cluster in range(k):
                members = x[labels == cluster]
                if len(members):
                    centers[cluster] = members.mean(axis=0)
        inertia = float(((x - centers[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels.copy(), centers.copy())
    return best[1], best[2]


def kmeans(latents: Any, num_clusters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """
    k-means in the full latent space: `(labels (n,), centroids (k, latent_dim))`, clusters numbered by size (0 is the
    largest). Uses scikit-learn when installed, else a small numpy implementation (k-means++ seeding, 5 restarts).
    """
    x = _as_array(latents)
    k = min(num_clusters, len(x))
    if k < 1:
        raise ValueError(f"num_clusters must be at least 1, got {num_clusters}.")
    if sklearn_available():
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        labels, centers = model.labels_.astype(np.int64), model.cluster_centers_
    else:
        labels, centers = _kmeans_numpy(x, k, seed)
    # Renumber: largest cluster first, so cluster ids read in order of importance.
    order = sorted(range(k), key=lambda c: (-int((labels == c).sum()), c))
    rename = np.empty(k, dtype=np.int64)
    rename[order] = np.arange(k)
    return rename[labels], centers[order]


# ----------------------------------------------------------------------------------------------------------------------
# Cluster table
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class ClusterSummary:
    cluster: int
    size: int
    centroid_text: str
    closest_id: Any
    closest_text: str
    top_values: list[tuple[str, int]] = field(default_factory=list)


def describe_clusters(
    inference: LatentSpaceInference,
    latents: Any,
    labels: np.ndarray,
    centroids: np.ndarray,
    texts: Sequence[str],
    ids: Sequence[Any],
    stage: str = "out",
    values: Sequence[Any] | None = None,
    **settings: Any,
) -> list[ClusterSummary]:
    """Decodes each centroid (a latent of `stage`) and names the member closest to it and the cluster's top values."""
    x = _as_array(latents)
    decoded = inference.decode_latent(np.asarray(centroids, dtype=np.float32), stage, **settings)
    summaries = []
    for cluster, centroid_text in enumerate(decoded):
        members = np.flatnonzero(labels == cluster)
        closest = int(members[((x[members] - centroids[cluster]) ** 2).sum(-1).argmin()])
        top = Counter(_category(values[i]) for i in members).most_common(3) if values is not None else []
        summaries.append(
            ClusterSummary(cluster, len(members), centroid_text, ids[closest], texts[closest], top_values=top)
        )
    return summaries


def _cell(text: Any, width: int = 100) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_cluster_table(clusters: list[ClusterSummary], value_name: str | None = None) -> str:
    """A Markdown table: cluster, size, decoded centroid, the member closest to the centroid (and top values)."""
    header = ["cluster", "size", "decoded centroid", "closest member"]
    if value_name:
        header.append(f"top {value_name}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for c in clusters:
        row = [
            str(c.cluster),
            str(c.size),
            _cell(c.centroid_text),
            f"`{_cell(c.closest_id, 40)}`: {_cell(c.closest_text, 60)}",
        ]
        if value_name:
            row.append(", ".join(f"{_cell(v, 30)} ({n})" for v, n in c.top_values))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------------
# The picture
# ----------------------------------------------------------------------------------------------------------------------


def _category(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(missing)"
    return " ".join(str(value).split()) or "(empty)"


def _is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Coloring:
    """How points are coloured: categories (with the rarest folded into `other`) or numbers on a colour scale."""

    kind: str  # "category" | "numeric"
    title: str
    categories: list[str] = field(default_factory=list)  # legend order; `other` last when present
    point_categories: list[str] = field(default_factory=list)
    numbers: np.ndarray | None = None


def make_coloring(values: Sequence[Any], title: str, top_categories: int = 10) -> Coloring:
    """
    Categorical values keep their `top_categories` most frequent classes (legend shows counts), the rest are `other`;
    numeric values with more distinct values than that get a continuous colour scale.
    """
    present = [v for v in values if v is not None]
    if present and _is_numeric(present) and len(set(present)) > top_categories:
        numbers = np.asarray([np.nan if v is None else float(v) for v in values])
        return Coloring("numeric", title, numbers=numbers)
    labels = [_category(v) for v in values]
    counts = Counter(labels)
    kept = [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_categories]]
    if len(counts) > len(kept):
        hidden = len(counts) - len(kept)
        logger.info(
            f"Colouring the {len(kept)} most frequent of {len(counts)} {title!r} values; {hidden} are 'other'."
        )
    kept_set = set(kept)
    point_categories = [label if label in kept_set else OTHER for label in labels]
    categories = kept + ([OTHER] if OTHER in point_categories and OTHER not in kept_set else [])
    return Coloring("category", title, categories=categories, point_categories=point_categories)


def _palette(n: int) -> list[Any]:
    """`n` distinct colours, none of them grey: grey is kept for the `other` points."""
    from matplotlib import colormaps

    tab10 = [colormaps["tab10"](i) for i in range(10) if i != 7]
    if n <= len(tab10):
        return tab10[:n]
    tab20 = colormaps["tab20"]
    # Dark shades first, then the light ones: neighbouring legend entries stay easy to tell apart.
    shades = [tab20(2 * i) for i in range(10) if i != 7] + [tab20(2 * i + 1) for i in range(10) if i != 7]
    if n <= len(shades):
        return shades[:n]
    turbo = colormaps["turbo"]
    return [turbo(i / max(n - 1, 1)) for i in range(n)]


def _spread_labels(positions: np.ndarray, extent: np.ndarray, min_distance: float = 0.07) -> np.ndarray:
    """Pushes label positions apart until none are closer than `min_distance` of the panel's size (boxes overlap)."""
    scale = np.where(extent > 0, extent, 1.0)
    points = positions / scale
    for _ in range(100):
        moved = False
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                gap = points[j] - points[i]
                distance = float(np.hypot(*gap))
                if distance >= min_distance:
                    continue
                direction = gap / distance if distance > 1e-9 else np.array([1.0, 0.0])
                shift = direction * (min_distance - distance) / 2
                points[i] -= shift
                points[j] += shift
                moved = True
        if not moved:
            break
    return points * scale


def plot_latent_map(
    projections: dict[str, tuple[np.ndarray, str]],
    coloring: Coloring,
    output: str | Path,
    title: str = "",
    annotations: dict[str, list[tuple[str, np.ndarray]]] | None = None,
    dpi: int = 150,
) -> Path:
    """
    Draws one panel per projection (`name -> (coords (n, 2), subtitle)`), points coloured by `coloring`, with one
    shared legend (or colour bar) on the right; `annotations` (`name -> [(label, xy)]`) writes labels such as cluster
    numbers at positions. Saves a PNG (or any format matplotlib knows from the suffix) and returns its path.
    """
    Figure = _require_matplotlib()
    n_panels = len(projections)
    n_points = len(next(iter(projections.values()))[0])
    # Large corpora get small, see-through points; a handful of points get big ones.
    size = float(np.clip(3000.0 / max(n_points, 1), 6.0, 60.0))
    if coloring.kind == "category":
        longest = max(len(_short(c, 44)) + 6 for c in [*coloring.categories, coloring.title])
        legend_width = 0.8 + 0.075 * longest  # about 0.075 inch a character at font size 8
    else:
        legend_width = 1.2
    figure = Figure(figsize=(5.6 * n_panels + legend_width, 5.6), dpi=dpi, layout="constrained")
    axes = figure.subplots(1, n_panels, squeeze=False)[0]

    handles: list[Any] = []
    mappable = None
    for axis, (name, (coords, subtitle)) in zip(axes, projections.items(), strict=True):
        coords = np.asarray(coords)
        if coloring.kind == "numeric":
            mappable = axis.scatter(
                coords[:, 0], coords[:, 1], c=coloring.numbers, cmap="viridis", s=size, alpha=0.8, linewidths=0
            )
        else:
            named = [category for category in coloring.categories if category != OTHER]
            colors = dict(zip(named, _palette(len(named)), strict=True))
            if OTHER in coloring.categories:
                colors[OTHER] = (0.6, 0.6, 0.6, 1.0)
            point_categories = np.asarray(coloring.point_categories, dtype=object)
            counts = Counter(coloring.point_categories)
            has_other = OTHER in colors
            handles = []
            # `other` first (underneath, small and pale), then the classes from the rarest up, so few points stay seen.
            draw_order = ([OTHER] if OTHER in colors else []) + [
                c for c in reversed(coloring.categories) if c != OTHER
            ]
            for category in draw_order:
                mask = point_categories == category
                is_other = category == OTHER
                # Against a crowd of `other` points the named classes are drawn larger, with a dark rim, to stand out.
                handle = axis.scatter(
                    coords[mask, 0],
                    coords[mask, 1],
                    color=colors[category],
                    s=size * 0.6 if is_other else (max(2.5 * size, 24.0) if has_other else size),
                    alpha=0.35 if is_other else 0.9,
                    linewidths=0 if is_other else (0.5 if has_other else 0.2),
                    edgecolors="0.15" if has_other else "white",
                    label=f"{_short(category, 44)} ({counts[category]})",
                )
                handles.append((coloring.categories.index(category), handle))
        labels = (annotations or {}).get(name, [])
        spread = _spread_labels(
            np.asarray([xy for _, xy in labels], dtype=float).reshape(-1, 2), np.ptp(coords, axis=0)
        )
        for (label, _), xy in zip(labels, spread, strict=True):
            axis.annotate(
                label,
                xy,
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "0.3", "alpha": 0.85},
            )
        axis.set_title(subtitle, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_box_aspect(1)
        for spine in axis.spines.values():
            spine.set_color("0.7")

    if coloring.kind == "numeric":
        figure.colorbar(mappable, ax=list(axes), label=coloring.title, shrink=0.85)
    else:
        ordered = [handle for _, handle in sorted(handles, key=lambda item: item[0])]
        legend = figure.legend(
            handles=ordered,
            title=coloring.title,
            loc="outside right center",
            fontsize=8,
            title_fontsize=9,
            frameon=False,
        )
        for handle in legend.legend_handles:  # one readable marker size in the legend, whatever the point sizes
            handle.set_sizes([36.0])
            handle.set_alpha(1.0)
    if title:
        figure.suptitle(title, fontsize=11)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    return output


# ----------------------------------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class LatentMap:
    """What `explore_latents` computed and wrote."""

    latents: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    projections: dict[str, tuple[np.ndarray, str]]
    clusters: list[ClusterSummary]
    figure_path: Path
    table_path: Path | None
    table: str


def explore_latents(
    inference: LatentSpaceInference,
    texts: Sequence[str],
    output: str | Path,
    ids: Sequence[Any] | None = None,
    color_values: Sequence[Any] | None = None,
    color_name: str | None = None,
    num_clusters: int = 8,
    projections: Sequence[str] | None = None,
    stage: str = "out",
    seed: int = 0,
    top_categories: int = 10,
    table_path: str | Path | None = None,
    title: str | None = None,
    latents: Any = None,
    progress: bool = False,
    **settings: Any,
) -> LatentMap:
    """
    Encodes `texts` to latents (`stage` "in" or "out"), clusters them with k-means and draws PCA (and t-SNE, by
    default when scikit-learn is installed) to `output`. Points are coloured by `color_values` (e.g. DialogSum's
    `topic`) or, without them, by cluster, with each cluster's decoded centroid in the legend. A Markdown table of the
    decoded centroids goes to `table_path` (default: beside the picture, `<name>_clusters.md`).
    """
    if projections is None:
        projections = PROJECTIONS if sklearn_available() else ("pca",)
    unknown = [p for p in projections if p not in PROJECTIONS]
    if unknown or not projections:
        raise ValueError(f"projections must be among {PROJECTIONS}, got {list(projections)}.")
    if "tsne" in projections and not sklearn_available():
        raise ImportError("t-SNE needs scikit-learn: pip install scikit-learn (or plot PCA only)")
    _require_matplotlib()  # fail before the (slow) encoding, not after
    texts = list(texts)
    ids = list(ids) if ids is not None else list(range(len(texts)))
    if color_values is not None and len(color_values) != len(texts):
        raise ValueError(f"Got {len(texts)} texts but {len(color_values)} colour values.")
    if len(texts) < 3:
        raise ValueError(f"A latent map needs at least 3 texts, got {len(texts)}.")

    x = _as_array(latents if latents is not None else inference.get_latent(texts, stage, progress=progress))
    labels, centroids = kmeans(x, num_clusters, seed)
    clusters = describe_clusters(inference, x, labels, centroids, texts, ids, stage, color_values, **settings)
    table = format_cluster_table(clusters, color_name if color_values is not None else None)

    computed: dict[str, tuple[np.ndarray, str]] = {}
    for name in projections:
        if name == "pca":
            coords, ratio = pca(x)
            explained = " + ".join(f"{100 * r:.1f}%" for r in ratio)
            computed[name] = (coords, f"PCA of z_{stage} (variance explained {explained})")
        else:
            coords, perplexity = tsne(x, seed=seed)
            computed[name] = (coords, f"t-SNE of z_{stage} (perplexity {perplexity:g})")

    if color_values is not None:
        coloring = make_coloring(list(color_values), color_name or "value", top_categories)
    else:
        names = {str(c.cluster): f"{c.cluster}: {_short(c.centroid_text, 40) or '(empty)'}" for c in clusters}
        coloring = make_coloring([str(label) for label in labels], "k-means cluster: decoded centroid", len(clusters))
        coloring.categories = sorted(coloring.categories, key=int)
        coloring.categories = [names[c] for c in coloring.categories]
        coloring.point_categories = [names[c] for c in coloring.point_categories]
    # Cluster numbers sit at each cluster's median position, so the picture reads together with the table.
    annotations = {
        name: [(str(c.cluster), np.median(coords[labels == c.cluster], axis=0)) for c in clusters if c.size > 0]
        for name, (coords, _) in computed.items()
    }
    if title is None:
        title = f"{len(texts)} texts in the model's idea space ({x.shape[1]}-d z_{stage}), coloured by " + (
            f"{color_name or 'value'}; numbers mark the {len(clusters)} k-means clusters"
            if color_values is not None
            else f"{len(clusters)} k-means clusters"
        )
    figure_path = plot_latent_map(computed, coloring, output, title=title, annotations=annotations)

    output = Path(output)
    table_path = Path(table_path) if table_path is not None else output.with_name(f"{output.stem}_clusters.md")
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.write_text(table)
    return LatentMap(x, labels, centroids, computed, clusters, figure_path, table_path, table)


__all__ = [
    "ClusterSummary",
    "Coloring",
    "LatentMap",
    "describe_clusters",
    "explore_latents",
    "format_cluster_table",
    "kmeans",
    "make_coloring",
    "pca",
    "plot_latent_map",
    "sklearn_available",
    "tsne",
]
