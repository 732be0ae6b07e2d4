"""The VSC paper's correlation-matrix figure: |corr(|source|, |code|)| with latents grouped by the
source they track, so a disentangled code shows a block-diagonal staircase."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt
import numpy as np

from ..errors import ConfigError


def draw_correlation_matrix(
    ax: plt.Axes,
    result: dict[str, Any],
    *,
    title: str | None = None,
    factor_names: Sequence[str] | None = None,
) -> Any:
    """Draw one ``correlation_matrix`` result (its ``ordered`` matrix) on ``ax``; returns the image."""
    ordered = np.asarray(result["ordered"])
    image = ax.imshow(ordered, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    assigned = int((np.asarray(result["group"]) >= 0).sum())
    if 0 < assigned < ordered.shape[1]:  # separate the grouped latents from the unassigned ones
        ax.axvline(assigned - 0.5, color="tab:red", linewidth=0.8)
    ax.set_xlabel("latents, grouped by source", fontsize=8)
    if factor_names is not None and len(factor_names) == ordered.shape[0]:
        ax.set_yticks(range(len(factor_names)), labels=list(factor_names), fontsize=6)
    else:
        ax.set_ylabel("source")
    if title:
        ax.set_title(title, fontsize=9)
    return image


def save_correlation_figure(
    panels: Sequence[tuple[str, dict[str, Any]]],
    path: str | Path,
    *,
    ncols: int | None = None,
    factor_names: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> Path:
    """Side-by-side correlation matrices, one panel per ``(title, correlation_matrix result)``."""
    if not panels:
        raise ConfigError("a correlation figure needs at least one panel")
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows + 0.4), squeeze=False)
    image = None
    for index, (ax, (title, result)) in enumerate(zip(axes.flat, panels, strict=False)):
        first_column = index % ncols == 0  # source names only once per row of panels
        image = draw_correlation_matrix(
            ax, result, title=title, factor_names=factor_names if first_column else None
        )
        if not first_column:
            ax.set_yticks([])
            ax.set_ylabel("")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="|correlation|")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1.0 + 0.12 / nrows)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
