"""Weight averaging (``--ema``): the exponential moving average of the weights is the result."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """Exponential moving average of a model's trainable parameters (Polyak averaging).

    The decay ramps up as min(decay, (1 + t) / (10 + t)), so that a short run is not pulled back
    towards its random initialisation.  ``finish()`` puts the averages into the model and keeps
    the raw weights in ``raw``; ``restore_raw()`` puts those back; ``swapped_in()`` does both
    around a block (evaluation, saving).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.decay = decay
        self.raw: list[torch.Tensor] = []  # the raw weights, once ``finish`` has run
        self.reset()

    @torch.no_grad()
    def reset(self) -> None:
        """Start averaging afresh from the model's current weights."""
        self.shadow = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - decay)

    @torch.no_grad()
    def load(self, shadow: list[torch.Tensor], updates: int) -> None:
        torch._foreach_copy_(self.shadow, shadow)
        self.updates = updates  # where the decay's ramp had got to

    @torch.no_grad()
    def finish(self) -> None:
        """Put the averages into the model, keeping the raw weights in ``raw`` to continue from."""
        self.raw = [p.detach().clone() for p in self.params]
        torch._foreach_copy_(self.params, self.shadow)

    @torch.no_grad()
    def restore_raw(self) -> None:
        """Put the raw weights kept by ``finish`` back into the model."""
        torch._foreach_copy_(self.params, self.raw)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        self.finish()
        try:
            yield
        finally:
            self.restore_raw()


def averages_swapped_in(averages: WeightAverage | None) -> contextlib.AbstractContextManager:
    """``averages.swapped_in()``, or a block that changes nothing when there are no averages."""
    return averages.swapped_in() if averages is not None else contextlib.nullcontext()
