"""The VSC paper's correlation matrix between sources and latents."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import as_arrays, constant_columns, live_factors


def correlation_matrix(codes: Any, factors: Any, *, threshold: float = 0.07) -> dict[str, Any]:
    """|Pearson| between |factor| and |code| for every pair, with the live latents grouped.

    Returns ``matrix`` (F, C) — 0 for a dead latent (constant over the rows) or a constant
    factor —, ``group`` (C,) — the factor each latent correlates with most, or −1 when its
    strongest correlation is below ``threshold`` (the authors' 0.07) or it is dead —, ``order``
    (the live latents, factor by factor, unassigned ones last: dead latents are left out),
    ``ordered`` (the matrix with those columns in that order), ``dead_latents`` (how many were
    left out), ``skipped_factors`` (constant ones) and two summaries: ``block_purity`` (for
    assigned latents, the share of their correlation with their own factor, weighted by that
    correlation: 1 when each latent tracks a single factor) and ``factors_covered`` (fraction of
    the non-constant factors with at least one assigned latent).
    """
    codes, factors = as_arrays(codes, factors)
    live_factor, skipped = live_factors(factors)
    dead = constant_columns(codes)
    a, b = np.abs(factors), np.abs(codes)
    a, b = a - a.mean(0), b - b.mean(0)
    norms = np.sqrt((a**2).sum(0))[:, None] * np.sqrt((b**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.abs(a.T @ b) / norms
    matrix = np.nan_to_num(matrix, nan=0.0)  # a constant column correlates with nothing
    best = matrix.max(0)
    group = np.where((best >= threshold) & ~dead, matrix.argmax(0), -1)
    unassigned = np.flatnonzero((group < 0) & ~dead)
    order = np.concatenate(
        [np.flatnonzero(group == f) for f in range(factors.shape[1])] + [unassigned]
    ).astype(int)
    assigned = group >= 0
    if assigned.any():
        own = best[assigned]
        total = matrix[:, assigned].sum(0)
        purity = float((own * (own / total)).sum() / own.sum())
    else:
        purity = 0.0
    return {
        "matrix": matrix,
        "group": group,
        "order": order,
        "ordered": matrix[:, order],
        "dead_latents": int(dead.sum()),
        "skipped_factors": skipped,
        "block_purity": purity,
        "factors_covered": len(set(group[assigned].tolist())) / len(live_factor),
        "threshold": threshold,
    }
