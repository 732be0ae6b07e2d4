"""The deterministic code of a posterior with exact zeros (VSC's spike-and-slab, the thresholded
posterior of vsc-threshold): which number stands for each element in the code ``encode`` returns.

Each element is active with probability γ = ``q.probs``; elements with γ below the threshold are
exactly 0 in every code but ``mean``:

* ``sparse-mean``: γ·μ, the posterior mean (the VSC paper's code);
* ``mean-active``: μ, the active elements' slab mean, not shrunk by γ;
* ``mean``: μ for every element (dense: no zeros);
* ``most-probable``: μ on the m elements most likely to be active, m = round(Σ γ) the number a
  posterior draw has on average (at least 1), exactly 0 elsewhere — for posteriors whose γ stays
  below the threshold everywhere (vsc-threshold: its γ follows the scale, which its KL keeps near
  the prior's).
"""

from __future__ import annotations

import torch
from torch.distributions import Distribution

CODES = ("sparse-mean", "mean-active", "mean", "most-probable")


def spike_code(q: Distribution, threshold: float, code: str) -> torch.Tensor:
    """The ``code`` of posterior ``q`` (with ``probs`` γ and ``loc`` μ), zero where γ < threshold."""
    if code == "mean":
        return q.loc
    if code == "most-probable":
        return most_probable(q.probs, q.loc)
    value = q.probs * q.loc if code == "sparse-mean" else q.loc
    return torch.where(q.probs >= threshold, value, torch.zeros_like(value))


def most_probable(probs: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """``loc`` on each row's round(Σ probs) largest ``probs`` (at least one), 0 elsewhere."""
    count = probs.sum(-1, keepdim=True).round().clamp(min=1)
    rank = probs.argsort(-1, descending=True).argsort(-1)  # 0 for the most probable element
    return torch.where(rank < count, loc, torch.zeros_like(loc))
