"""The code-usage figure: how often each latent is active, and which latents each example uses.

A sparse code shows a band of input-dependent latents and a speckled raster; dimension selection
shows a few always-on latents, a cliff to the dead ones, and vertical stripes in the raster.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt
import numpy as np
import torch

from ..evaluation.usage import (
    ALWAYS_ON,
    RARE,
    active_matrix,
    as_labels,
    latent_classes,
    latent_frequency,
)

REGIONS = (  # (name, colour) in the order latents appear when sorted by falling frequency
    ("always on", "tab:orange"),
    ("input-dependent", "tab:green"),
    ("dead (never active, off the log axis)", "tab:gray"),
)


def _draw_frequencies(
    ax: plt.Axes, sorted_frequency: np.ndarray, n: int, always_on: float, rare: float
) -> None:
    """Sorted frequencies on a log axis, the three regions shaded, the 1 % and 99 % lines."""
    classes = latent_classes(torch.as_tensor(sorted_frequency), always_on, rare)
    on, used = classes["always_on_latents"], len(sorted_frequency) - classes["dead_latents"]
    bounds = (0, on, used, len(sorted_frequency))
    moderate = (
        f" ({classes['active_1_to_99_percent_latents']} active for {rare:.0%}-{always_on:.0%})"
    )
    for (name, colour), lo, hi in zip(REGIONS, bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            label = f"{name}: {hi - lo}" + (moderate if name == "input-dependent" else "")
            ax.axvspan(lo - 0.5, hi - 0.5, color=colour, alpha=0.15, lw=0, label=label)
    ranks = np.arange(used)
    ax.plot(ranks, sorted_frequency[:used], color="black", lw=1.2, marker="." if used < 60 else "")
    for level, side in ((rare, "bottom"), (always_on, "top")):  # labels inside the axes
        ax.axhline(level, color="tab:red", ls="--", lw=0.8)
        ax.text(len(sorted_frequency) - 0.5, level, f"{level:.0%} ", color="tab:red", fontsize=7,
                ha="right", va=side)  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(min(0.5 / n, rare / 2), 1.3)  # room for a latent active on one example
    ax.set_ylabel("fraction of examples active")
    ax.set_title("(a) activation frequency of each latent, sorted", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax.grid(alpha=0.3, axis="y", which="major")


def _sample_rows(
    n: int, labels: np.ndarray | None, examples: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """A seeded sample of example indices, grouped by label when labels exist."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(examples, n), replace=False))
    if labels is None:
        return rows, None
    rows = rows[np.argsort(labels[rows], kind="stable")]
    return rows, labels[rows]


def _draw_raster(ax: plt.Axes, activity: np.ndarray, row_labels: np.ndarray | None) -> None:
    """Examples (rows) × latents (columns), black where active; class boundaries as lines."""
    ax.imshow(activity, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("latent, by falling activation frequency")
    ax.set_title(
        f"(b) which latents {len(activity)} random examples use (black = non-zero)",
        fontsize=9, loc="left",
    )  # fmt: skip
    if row_labels is None:
        ax.set_ylabel("example")
        return
    values, starts = np.unique(row_labels, return_index=True)
    ends = np.append(starts[1:], len(row_labels))
    for start in starts[1:]:
        ax.axhline(start - 0.5, color="tab:red", lw=0.6)
    ax.set_yticks((starts + ends - 1) / 2, labels=[str(v) for v in values], fontsize=6)
    ax.set_ylabel("example, grouped by label")


def plot_code_usage(
    codes: torch.Tensor | np.ndarray,
    path: str | Path,
    labels: torch.Tensor | np.ndarray | None = None,
    *,
    examples: int = 200,
    always_on: float = ALWAYS_ON,
    rare: float = RARE,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Write the code-usage figure of ``codes`` ``(N, J)``: (a) the latents' sorted activation
    frequencies, (b) the activity of ``examples`` seeded random examples (grouped by ``labels``
    where given), latents in the same order as (a)."""
    active = active_matrix(codes)
    frequency = latent_frequency(active).numpy()
    order = np.argsort(-frequency, kind="stable")
    labels = as_labels(labels, len(active))
    label_array = None if labels is None else labels.numpy()
    rows, row_labels = _sample_rows(len(active), label_array, examples, seed)
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(float(np.clip(len(order) / 90, 7.0, 14.0)), 6.4),  # a pixel column per latent
        sharex=True,
        gridspec_kw={"height_ratios": [1, 1.4]},
    )
    _draw_frequencies(top, frequency[order], len(active), always_on, rare)
    _draw_raster(bottom, active.numpy()[rows][:, order].astype(float), row_labels)
    bottom.set_xlim(-0.5, len(order) - 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
