"""Schedules as plain functions of training progress, so resuming needs only the step count."""

from __future__ import annotations

from dataclasses import dataclass


def linear_warmup(step: int, warmup_steps: int) -> float:
    """0 → 1 linearly over ``warmup_steps`` steps (1 throughout when ``warmup_steps`` is 0)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a training step falls: ``step`` steps were taken before it, of ``total_steps``
    planned; the KL weight rises over the first ``warmup_steps``."""

    step: int
    total_steps: int
    warmup_steps: int = 0

    @property
    def fraction(self) -> float:
        """0 at the first step, 1 at the last planned one (and after it)."""
        return min(self.step / max(self.total_steps - 1, 1), 1.0)

    @property
    def kl_weight(self) -> float:
        return linear_warmup(self.step, self.warmup_steps)
