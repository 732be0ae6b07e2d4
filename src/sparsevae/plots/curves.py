"""Line plots of sweep results (metric vs latent dimension, sparsity vs α) and histograms.

Every function takes plain rows (dicts) so any table of results can be plotted, and writes one PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

# Published points drawn as hollow markers next to our solid lines, one per series label.
Published = Mapping[str, Mapping[int | float, float]]


def _series(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str, label_key: str):
    """``{label: (xs, ys)}`` sorted by x, skipping rows without a finite y."""
    out: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        value = row.get(y_key)
        if value is None or not np.isfinite(float(value)):
            continue
        out.setdefault(str(row[label_key]), []).append((float(row[x_key]), float(value)))
    return {k: tuple(zip(*sorted(v), strict=True)) for k, v in out.items()}


def _plot_published(ax: Any, label: str, points: Mapping[float, float], colour: Any) -> None:
    """Published ``{x: y}`` points as hollow squares in the colour of our matching line."""
    if not points:
        return
    xs, ys = zip(*sorted(points.items()), strict=True)
    ax.plot(
        xs, ys, linestyle="none", marker="s", ms=7, mfc="none", color=colour,
        label=f"{label} (published)",
    )  # fmt: skip


def _log_ticks(values: Sequence[float], wanted: Sequence[float] | None) -> list[float]:
    """Ticks for a log axis, written 0.01 rather than 10^-2: ``wanted`` within the range of the
    positive ``values``, or the values themselves, each at least 20 % (in log space) from the
    last kept one so that the labels do not overlap."""
    positive = sorted({x for x in values if x > 0})
    if not positive:
        return []
    if wanted is not None:
        return [t for t in wanted if positive[0] / 1.5 <= t <= positive[-1] * 1.5]
    ticks: list[float] = []
    for x in positive:
        if not ticks or math.log10(x / ticks[-1]) > 0.2:
            ticks.append(x)
    return ticks


def plot_metric_vs(
    rows: Sequence[Mapping[str, Any]],
    x_key: str,
    y_key: str,
    path: str | Path,
    *,
    label_key: str = "model",
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    published: Published | None = None,
    scale: float = 1.0,
    logx: bool = False,
    xticks: Sequence[float] | None = None,
) -> Path:
    """One line per ``label_key`` value of ``y_key`` (× ``scale``) against ``x_key``.

    ``published`` maps a label to ``{x: y}`` points shown as hollow markers of the same colour.
    With ``logx``, the x ticks are ``xticks`` (those within the data's range) or else the measured
    x values.
    """
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    series = _series(rows, x_key, y_key, label_key)
    if len(series) > 10:  # the default cycle has 10 colours: two lines would share one
        ax.set_prop_cycle(color=[plt.get_cmap("tab20")(i) for i in range(20)])
    colours = {}
    for label, (xs, ys) in sorted(series.items()):
        (line,) = ax.plot(xs, np.asarray(ys) * scale, marker="o", ms=4, label=label)
        colours[label] = line.get_color()
    for label, points in (published or {}).items():
        _plot_published(ax, label, points, colours.get(label, "black"))
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(_log_ticks([x for xs, _ in series.values() for x in xs], xticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel or x_key)
    ax.set_ylabel(ylabel or y_key)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # Beside the axes, not over them: with many series an inside legend hides points.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_accuracy_panels(
    rows: Sequence[Mapping[str, Any]],
    probes: Sequence[str],
    path: str | Path,
    *,
    x_key: str = "latent_dim",
    label_key: str = "model",
    title: str = "",
    published: Mapping[str, Published] | None = None,
) -> Path:
    """Accuracy (%) against ``x_key``, one panel per probe (``probe_<name>_accuracy`` columns)."""
    fig, axes = plt.subplots(1, len(probes), figsize=(4.2 * len(probes), 3.6), squeeze=False)
    for ax, probe in zip(axes[0], probes, strict=True):
        series = _series(rows, x_key, f"probe_{probe}_accuracy", label_key)
        colours = {}
        for label, (xs, ys) in sorted(series.items()):
            (line,) = ax.plot(xs, np.asarray(ys) * 100, marker="o", ms=4, label=label)
            colours[label] = line.get_color()
        for label, points in ((published or {}).get(probe) or {}).items():
            # "vsc α=0.01" takes the colour of our "vsc α=0.01 [code]" line where there is one
            related = [c for name, c in colours.items() if name.split(" [")[0] == label]
            colour = colours.get(label) or (related[0] if related else "black")
            _plot_published(ax, label, points, colour)
        ax.set_title(f"probe: {probe}", fontsize=10)
        ax.set_xlabel("latent dimension J" if x_key == "latent_dim" else x_key)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_active_histogram(
    counts: Sequence[int] | np.ndarray, path: str | Path, *, title: str = ""
) -> Path:
    """Bar chart of a histogram: ``counts[j]`` examples have ``j`` non-zero code elements."""
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    used = np.nonzero(counts)[0]
    hi = int(used.max()) + 1 if len(used) else len(counts)
    lo = int(used.min()) if len(used) else 0
    ax.bar(np.arange(lo, hi), counts[lo:hi], width=0.9, color="tab:blue")
    ax.set_xlabel("non-zero code elements per example")
    ax.set_ylabel("examples")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = ""
) -> Path | None:
    """One panel per loss term of a run's per-epoch records (``train/<term>``, ``test/<term>``):
    train solid, test dashed, against the epoch.  None (nothing written) without loss terms."""
    terms = list(
        dict.fromkeys(key.split("/", 1)[1] for record in history for key in record if "/" in key)
    )
    if not terms:
        return None
    ncols = min(3, len(terms))
    nrows = math.ceil(len(terms) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.4 * nrows), squeeze=False)
    for ax, term in zip(axes.flat, terms, strict=False):
        for split, style in (("train", "-"), ("test", "--")):
            points = [
                (r["epoch"], float(r[f"{split}/{term}"]))
                for r in history
                if isinstance(r.get(f"{split}/{term}"), int | float)
                and math.isfinite(r[f"{split}/{term}"])
            ]
            if points:
                ax.plot(*zip(*points, strict=True), style, marker="o", ms=3, label=split)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(terms) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    # Fixed margins rather than tight_layout, which takes as long as drawing: a run writes this
    # figure every time it ends.
    width, height = 3.4 * ncols, 2.4 * nrows  # inches; margins of about half an inch
    fig.subplots_adjust(left=0.5 / width, right=1 - 0.1 / width, wspace=0.3, hspace=0.65)
    fig.subplots_adjust(bottom=0.45 / height, top=1 - 0.55 / height)
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
