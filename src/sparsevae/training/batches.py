"""Where a training epoch's batches come from.

Every epoch visits the training examples in the order of :func:`epoch_order` (the seed and the
epoch alone decide it, so a resumed run sees the same batches without restoring a generator),
cut into global batches of ``batch_size``.  Under data-parallel training each process takes its
own slice of every global batch (``part``), so the run is the same whatever the number of
processes.

:class:`InMemoryBatches` indexes tensors that live on the device: the fast path for every data
set that fits in memory.  :class:`StreamedBatches` reads the same batches, in the same order,
from examples read on demand (:class:`~sparsevae.data.lazy.LazyImages`) in data-loader worker
processes: for data larger than memory.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..data.lazy import LazyImages

WORKERS_ENV = "SPARSEVAE_DATA_WORKERS"  # worker processes of a streamed data set (0: none)
PREFETCH = 4  # batches each worker reads ahead

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


class _EpochBatches:
    """What every batch source shares: ``examples`` cut into global batches of ``batch_size`` in
    the seed's epoch order, of which this process takes its ``part``."""

    def __init__(self, examples: int, batch_size: int, seed: int, part: Part) -> None:
        self.examples = examples  # per epoch, all processes' together
        self.batch_size, self.seed, self.part = batch_size, seed, part

    def __len__(self) -> int:
        """Batches per epoch."""
        return math.ceil(self.examples / self.batch_size)

    def indices(self, epoch: int, first_batch: int = 0) -> Iterator[torch.Tensor]:
        """This process's indices of ``epoch``'s batches from ``first_batch`` on."""
        return global_batches(
            self.examples, self.batch_size, self.seed, epoch, first_batch, self.part
        )


class InMemoryBatches(_EpochBatches):
    """Batches indexed out of tensors that are already on the training device."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        batch_size: int,
        seed: int,
        part: Part = whole,
    ) -> None:
        super().__init__(len(x), batch_size, seed, part)
        self.x, self.y = x, y

    def epoch(self, epoch: int, first_batch: int = 0) -> Iterator[Batch]:
        """``(xb, yb)`` of ``epoch``'s batches from ``first_batch`` on."""
        for index in self.indices(epoch, first_batch):
            index = index.to(self.x.device)
            yield self.x[index], None if self.y is None else self.y[index]


def default_workers() -> int:
    """``$SPARSEVAE_DATA_WORKERS``, else one core fewer than this process may use, at most 4."""
    if os.environ.get(WORKERS_ENV, "").strip():
        return max(0, int(os.environ[WORKERS_ENV]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(4, (cores or 1) - 1))


class _BatchRows(torch.utils.data.Dataset):
    """What a worker process serves: the examples (and labels) of a whole batch at a time."""

    def __init__(self, x: LazyImages, y: torch.Tensor | None) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: torch.Tensor) -> Batch:
        return self.x[index], None if self.y is None else self.y[index]


class _EpochIndices:
    """The sampler of one epoch: each item is one batch's indices (see :func:`global_batches`)."""

    def __init__(self, batches: _EpochBatches, epoch: int, first: int) -> None:
        self.batches, self.epoch, self.first = batches, epoch, first

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.batches.indices(self.epoch, self.first)

    def __len__(self) -> int:
        return max(0, len(self.batches) - self.first)


def _ignore_ctrl_c(worker: int) -> None:
    """Workers leave Ctrl-C to the trainer, which finishes its batch and saves a checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StreamedBatches(_EpochBatches):
    """The batches of :class:`InMemoryBatches` (same indices, same order, same resume position)
    read from examples on disk by ``workers`` data-loader processes (0: in this process) and
    moved to ``device`` (through pinned memory for CUDA)."""

    def __init__(
        self,
        x: LazyImages,
        y: torch.Tensor | None,
        batch_size: int,
        seed: int,
        part: Part = whole,
        *,
        device: torch.device | str = "cpu",
        workers: int | None = None,
    ) -> None:
        super().__init__(len(x), batch_size, seed, part)
        self.rows = _BatchRows(x, y)
        self.device = torch.device(device)
        self.workers = default_workers() if workers is None else workers

    def epoch(self, epoch: int, first_batch: int = 0) -> Iterator[Batch]:
        """``(xb, yb)`` of ``epoch``'s batches from ``first_batch`` on."""
        indices = _EpochIndices(self, epoch, first_batch)
        cuda = self.device.type == "cuda"
        loader = DataLoader(self.rows, sampler=indices, batch_size=None, **self._loading(cuda))
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=cuda), _moved(yb, self.device, cuda)

    def _loading(self, pin: bool) -> dict[str, Any]:
        if not self.workers:
            return {"num_workers": 0, "pin_memory": pin}
        return {
            "num_workers": self.workers,
            "pin_memory": pin,
            "prefetch_factor": PREFETCH,
            "worker_init_fn": _ignore_ctrl_c,
        }


BatchSource = InMemoryBatches | StreamedBatches  # what Trainer.run_epoch iterates


def _moved(y: torch.Tensor | None, device: torch.device, non_blocking: bool) -> torch.Tensor | None:
    return None if y is None else y.to(device, non_blocking=non_blocking)
