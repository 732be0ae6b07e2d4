"""Where a training epoch's batches come from.

Every epoch visits the training examples in the order of :func:`epoch_order` (the seed and the
epoch alone decide it, so a resumed run sees the same batches without restoring a generator),
cut into global batches of ``batch_size``.  Under data-parallel training each process takes its
own slice of every global batch (``part``), so the run is the same whatever the number of
processes.

:class:`InMemoryBatches` indexes tensors that live on the device: the fast path for every data
set that fits in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

Batch = tuple[torch.Tensor, torch.Tensor | None]  # examples and their labels (or None)
Part = Callable[[torch.Tensor], torch.Tensor]  # this process's share of a global batch's indices


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The batch order of ``epoch``: a permutation that depends on the seed and epoch alone, so a
    resumed run sees the same batches without restoring any generator."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def global_batch_size(n: int, batch_size: int, batch: int) -> int:
    """Examples in global batch number ``batch`` of an epoch over ``n`` examples."""
    return min(batch_size, n - batch * batch_size)


def whole(index: torch.Tensor) -> torch.Tensor:
    """A single process's share of a global batch: all of it."""
    return index


def global_batches(
    n: int, batch_size: int, seed: int, epoch: int, first_batch: int = 0, part: Part = whole
) -> Iterator[torch.Tensor]:
    """The indices (this process's ``part`` of each global batch) of ``epoch``'s batches from
    ``first_batch`` on."""
    order = epoch_order(n, seed, epoch)
    for b in range(first_batch, math.ceil(n / batch_size)):
        yield part(order[b * batch_size : (b + 1) * batch_size])


class InMemoryBatches:
    """Batches indexed out of tensors that are already on the training device."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        batch_size: int,
        seed: int,
        part: Part = whole,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size, self.seed, self.part = batch_size, seed, part

    def __len__(self) -> int:
        """Batches per epoch."""
        return math.ceil(len(self.x) / self.batch_size)

    @property
    def examples(self) -> int:
        """Examples per epoch (all processes' together)."""
        return len(self.x)

    def epoch(self, epoch: int, first_batch: int = 0) -> Iterator[Batch]:
        """``(xb, yb)`` of ``epoch``'s batches from ``first_batch`` on."""
        device = self.x.device
        for index in global_batches(
            len(self.x), self.batch_size, self.seed, epoch, first_batch, self.part
        ):
            index = index.to(device)
            yield self.x[index], None if self.y is None else self.y[index]
