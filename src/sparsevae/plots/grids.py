"""Figures: image grids of reconstructions and samples (matplotlib, headless)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt
import numpy as np
import torch


def image_grid(
    images: torch.Tensor | np.ndarray, ncols: int | None = None, pad: int = 1
) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images (C = 1 or 3, values in [0, 1]) into one array with a border."""
    images = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    n, c, h, w = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = torch.ones(c, nrows * (h + pad) + pad, ncols * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[
            :,
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + col * (w + pad) : pad + col * (w + pad) + w,
        ] = images[i]
    array = grid.permute(1, 2, 0).numpy()
    return array[..., 0] if c == 1 else array


def save_image_grid(
    images: torch.Tensor | np.ndarray,
    path: str | Path,
    *,
    ncols: int | None = None,
    title: str | None = None,
    scale: float = 0.6,
) -> Path:
    """Write a grid of images to a PNG (grey colour map for one channel)."""
    grid = image_grid(images, ncols)
    height, width = grid.shape[:2]
    size = max(height, width)
    fig, ax = plt.subplots(
        figsize=(
            scale * 10 * width / size + 0.2,
            scale * 10 * height / size + (0.5 if title else 0.2),
        )
    )
    ax.imshow(
        grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def reconstruction_pairs(
    originals: torch.Tensor, reconstructions: torch.Tensor, ncols: int = 8
) -> torch.Tensor:
    """Rows alternate originals and their reconstructions, ``ncols`` examples a row (fewer when
    there are fewer examples; a last incomplete row is dropped)."""
    ncols = max(1, min(ncols, len(originals)))
    n = (len(originals) // ncols) * ncols
    o = originals[:n].reshape(-1, ncols, *originals.shape[1:])
    r = reconstructions[:n].reshape(-1, ncols, *reconstructions.shape[1:])
    return torch.stack([o, r], dim=1).reshape(-1, *originals.shape[1:])
