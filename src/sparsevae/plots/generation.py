"""Figures for controlled generation: traversals, feature on/off and shared-attribute samples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt
import torch

from ..errors import ConfigError
from .grids import image_grid


def save_labelled_rows(
    rows: Sequence[torch.Tensor],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    scale: float = 0.55,
) -> Path:
    """One row of images per entry of ``rows`` (each ``(K, C, H, W)``), labelled on the left."""
    if not rows or len(rows) != len(labels):
        raise ConfigError("give one label per row of images (and at least one row)")
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(scale * ncols + 1.2, scale * len(rows) + 0.5), squeeze=False
    )
    for ax, images, label in zip(axes[:, 0], rows, labels, strict=True):
        grid = image_grid(images, ncols=ncols)
        ax.imshow(
            grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_traversal_figure(
    images: torch.Tensor,
    dims: Sequence[int],
    values: Sequence[float] | torch.Tensor,
    path: str | Path,
    *,
    original: tuple[torch.Tensor, torch.Tensor] | None = None,
    title: str | None = None,
) -> Path:
    """``images`` ``(D, V, C, H, W)`` from :func:`sparsevae.generation.traverse`: one row per
    dimension, one column per value, each row labelled with its dimension and range (``values``
    ``(V,)`` for all rows, or ``(D, V)``); ``original`` (the input and its reconstruction)
    makes the first row."""
    if images.shape[0] != len(dims):
        raise ConfigError(f"{images.shape[0]} traversal rows but {len(dims)} dimensions")
    values = torch.as_tensor(values, dtype=torch.float32)
    per_row = values.expand(len(dims), -1) if values.ndim == 1 else values
    labels = [
        f"z[{d}] {float(v[0]):.3g}…{float(v[-1]):.3g}" for d, v in zip(dims, per_row, strict=True)
    ]
    rows = list(images)
    if original is not None:
        rows.insert(0, torch.stack(original))
        labels.insert(0, "input, recon.")
    return save_labelled_rows(rows, labels, path, title=title or "latent traversals")


def save_feature_toggle_figure(
    originals: torch.Tensor,
    reconstructions: torch.Tensor,
    edited: torch.Tensor,
    change_text: str,
    path: str | Path,
) -> Path:
    """Three rows: inputs, their reconstructions, and the decodings with features changed."""
    return save_labelled_rows(
        [originals, reconstructions, edited],
        ["input", "reconstruction", change_text],
        path,
        title=f"feature on/off: {change_text}",
    )


def save_shared_attribute_figure(
    original: torch.Tensor,
    reconstruction: torch.Tensor,
    samples: torch.Tensor,
    path: str | Path,
    *,
    mode: str,
    per_row: int = 8,
) -> Path:
    """The input and its reconstruction, then the samples that share its attributes."""
    rows = [torch.stack([original, reconstruction])]
    labels = ["input, recon."]
    for start in range(0, len(samples), per_row):
        rows.append(samples[start : start + per_row])
        labels.append("samples" if start == 0 else "")
    return save_labelled_rows(rows, labels, path, title=f"samples sharing attributes ({mode})")
