"""The LLGAE comparison's tables: ``results.csv``, ``results.json`` and ``results.md``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...training.checkpoints import atomic_write_bytes
from ..tables import markdown_table
from .protocol import LlgaeSettings
from .sweep import COLUMNS, results_store

# The note's numbers (Fashion-MNIST, K = 11, E = 20, 540 epochs for LLGAE).
NOTE_REFERENCE = [
    ("LLGAE K=11 E=20 (540 epochs)", 768),
    ("autoencoder E=20", 1226),
    ("PCA 20", 1207),
    ("Gaussian-mixture encoder K=80", 1010),
    ("Gaussian-mixture encoder K=160", 900),
]


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if math.isfinite(value) else str(value)
    return str(value)


def note_heading(dataset: str) -> str:
    """What the note's numbers are beside these: the same data set, or only a reference."""
    if dataset == "fashion-mnist":
        return "The note's numbers, on the same data set and metric:"
    return "The note's numbers on Fashion-MNIST (another data set; for reference only):"


def write_report(rows: Sequence[dict[str, Any]], settings: LlgaeSettings, out: Path) -> Path:
    """The tables in the rows' order, and ``results.md`` from the best pixel error down."""
    out = Path(out)
    results_store(out).write_tables(rows)
    ranked = sorted(rows, key=lambda r: r["pixel_error"])
    lines = [
        f"# LLGAE and baselines on {settings.dataset}",
        "",
        "Test-set reconstruction, E = "
        f"{settings.component_dim} code numbers per example (mixtures: plus one of "
        f"K = {settings.components} components). Pixel error: per-pixel squared error on 0–255 "
        "pixels with each image's mean subtracted, averaged over the test set (CATSMILE-1022). "
        "Lower is better.",
        "",
        *markdown_table(
            [title for _, title in COLUMNS],
            [[row.get(key, "") for key, _ in COLUMNS] for row in ranked],
            cell,
        ),
        "",
        note_heading(settings.dataset),
        "",
        *markdown_table(["model", "pixel error"], NOTE_REFERENCE),
        "",
    ]
    path = out / "results.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path
