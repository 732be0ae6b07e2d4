"""An epoch in progress: its place in the run, running loss sums, non-finite monitor."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..models import Schedule
from .distributed import World
from .monitor import NonFiniteMonitor
from .step import StepResult
from .stopping import join_words


@dataclass
class EpochRun:
    """One run through an epoch, from ``first_batch`` (> 0 when a checkpoint resumed mid-epoch).

    The loss sums stay on the device (no sync per batch); a resumed epoch starts from the sums the
    interrupted run saved, so its record equals that of an uninterrupted one.
    """

    epoch: int  # counted from 0
    steps: int  # batches in the epoch
    first_batch: int
    first_step: int  # the run's step count when this epoch run began
    monitor: NonFiniteMonitor | None  # None under nan_policy="skip"
    sums: torch.Tensor
    names: list[str] | None = None
    used: int = 0  # examples in batches that stepped
    skipped: int = 0  # batches dropped by nan_policy="skip"
    skipped_before: int = 0  # of which counted by the interrupted run
    schedule: Schedule = field(default_factory=Schedule)  # the last step's

    @classmethod
    def begin(
        cls,
        epoch: int,
        steps: int,
        first_step: int,
        device: torch.device,
        *,
        watch: bool,
        interrupted: dict[str, Any] | None = None,
    ) -> EpochRun:
        """A fresh epoch run, or the rest of ``interrupted`` (a checkpoint's mid-epoch progress)."""
        part = interrupted or {}
        sums = part.get("sums")
        skipped = int(part.get("skipped", 0))
        return cls(
            epoch,
            steps,
            int(part.get("batch", 0)),
            first_step,
            NonFiniteMonitor(device) if watch else None,
            torch.zeros(0, device=device) if sums is None else torch.tensor(sums, device=device),
            names=part.get("names"),
            used=int(part.get("used", 0)),
            skipped=skipped,
            skipped_before=skipped,
        )

    def add(self, result: StepResult, examples: int) -> None:
        """Count a step on ``examples`` examples."""
        if self.names is None:
            self.names, self.sums = result.names, torch.zeros_like(result.terms)
        self.schedule = result.schedule
        if not result.applied:
            self.skipped += 1
            return
        self.sums += result.terms * examples
        self.used += examples

    def combined(self, world: World) -> EpochRun:
        """This run with the loss sums and example counts of all processes of ``world`` (every
        process calls it at the same point: it is a collective)."""
        if not world.distributed or self.names is None:
            return self
        totals = world.sum(torch.cat([self.sums, self.sums.new_tensor([self.used])]))
        return replace(self, sums=totals[:-1], used=int(totals[-1].item()))

    def means(self) -> dict[str, float]:
        """Mean loss terms per example over the batches that stepped (one host read)."""
        values = (self.sums / max(self.used, 1)).tolist()
        return dict(zip(self.names or [], values, strict=True))

    def progress(self, batch: int, step: int) -> dict[str, Any]:
        """The checkpoint's record of this epoch interrupted before ``batch``."""
        return {
            "epoch": self.epoch,
            "batch": batch,
            "step": step,
            "names": self.names,
            "sums": self.sums.tolist() if self.names else None,
            "used": self.used,
            "skipped": self.skipped,
        }

    def non_finite(self) -> str | None:
        """Where values first went non-finite (one host read of the monitor), or None."""
        failure = self.monitor.first_failure() if self.monitor is not None else None
        if failure is None:
            return None
        count, names = failure
        return (
            f"non-finite {join_words(names, 'and')} in epoch {self.epoch + 1} (batch "
            f"{self.first_batch + count} of {self.steps}, step {self.first_step + count})"
        )
