"""Watching for NaN/inf without a host synchronisation per batch."""

from __future__ import annotations

import torch

CHECK_EVERY = 100  # batches between host reads of the non-finite monitor (and progress bar updates)
GRADIENT = "gradient norm"  # the name the global gradient norm is watched under


class NonFiniteMonitor:
    """Watches loss terms (and the gradient norm) for NaN/inf without a host sync per batch.

    Each batch costs a few tiny device ops: the first batch number at which each watched value went
    non-finite is kept in a device tensor, read back only by :meth:`first_failure` (every
    ``CHECK_EVERY`` batches and at the end of an epoch).  The watched names are those of the first
    :meth:`observe`.
    """

    NEVER = 2**62

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.names: list[str] = []
        self.first_bad: torch.Tensor | None = None

    def observe(self, values: torch.Tensor, names: list[str]) -> None:
        """One batch's ``values`` (named ``names``): mark those that are not finite."""
        if self.first_bad is None:
            self.names = list(names)
            self.first_bad = torch.full(
                (len(names),), self.NEVER, dtype=torch.long, device=self.device
            )
            self.never = torch.tensor(self.NEVER, dtype=torch.long, device=self.device)
            self.counter = torch.zeros((), dtype=torch.long, device=self.device)
        self.counter += 1
        marks = torch.where(torch.isfinite(values), self.never, self.counter)
        torch.minimum(self.first_bad, marks, out=self.first_bad)

    def first_failure(self) -> tuple[int, list[str]] | None:
        """``(batch number counted from 1, names that went non-finite first)`` or None."""
        if self.first_bad is None:
            return None
        first = self.first_bad.tolist()
        worst = min(first)
        if worst >= self.NEVER:
            return None
        return worst, [n for n, f in zip(self.names, first, strict=True) if f == worst]


def gradient_norm(model: torch.nn.Module) -> torch.Tensor:
    """Global L2 norm of the gradients (a device scalar; no sync)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(model.parameters()).device)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6: one fused reduction
        return torch.nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
