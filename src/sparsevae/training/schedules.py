"""Schedules as plain functions of training progress, so resuming needs only the step count."""

from __future__ import annotations


def linear_warmup(step: int, warmup_steps: int) -> float:
    """0 → 1 linearly over ``warmup_steps`` steps (1 throughout when ``warmup_steps`` is 0)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)
