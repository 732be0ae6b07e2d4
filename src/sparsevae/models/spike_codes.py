"""The deterministic code of a posterior with exact zeros (VSC's spike-and-slab, the thresholded
posterior of vsc-threshold): which number stands for each element in the code ``encode`` returns.

Each element is active with probability γ = ``q.probs``; elements with γ below the threshold are
exactly 0 in every code but ``mean``:

* ``sparse-mean``: γ·μ, the posterior mean (the VSC paper's code);
* ``mean-active``: μ, the active elements' slab mean, not shrunk by γ;
* ``mean``: μ for every element (dense: no zeros).
"""

from __future__ import annotations

import torch
from torch.distributions import Distribution

CODES = ("sparse-mean", "mean-active", "mean")


def spike_code(q: Distribution, threshold: float, code: str) -> torch.Tensor:
    """The ``code`` of posterior ``q`` (with ``probs`` γ and ``loc`` μ), zero where γ < threshold."""
    if code == "mean":
        return q.loc
    value = q.probs * q.loc if code == "sparse-mean" else q.loc
    return torch.where(q.probs >= threshold, value, torch.zeros_like(value))
