"""Data-parallel training: one model, several processes (``torch.distributed``, started by
``torchrun`` or ``sparsevae train --nproc N``).

Every process holds the whole model and takes its slice of every global batch (the epoch order
depends on the seed and the epoch alone, see :mod:`.batches`); ``DistributedDataParallel``
averages the gradients, so the run is the one a single process would make with the same global
batch, up to the order of floating-point sums.  Process 0 writes the run directory.

What the processes must agree on is agreed through a collective: whether to stop (Ctrl-C, a
non-finite value), the epoch's loss sums, a skipped batch.  A process that dies makes the others'
next collective fail; they stop with one line naming what happened.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import TrainingError
from ..models import LossOutput, SparseVAEModel

TIMEOUT = datetime.timedelta(minutes=10)  # a collective waits this long for a silent peer


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` processes training one model (rank 0 writes)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> World:
        """The world ``torchrun`` describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or a
        single process."""
        size = int(environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        return cls(int(environ["RANK"]), size, int(environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def __str__(self) -> str:
        return f"process {self.rank} of {self.size}"

    # -- this process's share of a global batch --------------------------------------------------
    def share(self, global_size: int) -> int:
        """How many of a global batch's ``global_size`` examples are this process's."""
        return global_size // self.size + (self.rank < global_size % self.size)

    def part(self, index: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a global batch's indices; a process whose slice is
        empty (a last batch smaller than the world) gets the batch's first index, which its
        zero :meth:`loss_weight` keeps out of the gradient."""
        mine = index.tensor_split(self.size)[self.rank]
        return mine if len(mine) else index[:1]

    def loss_weight(self, global_size: int) -> float:
        """The factor on this process's batch-mean loss that makes the averaged gradient the
        gradient of the global batch's mean (slices may differ in size by one)."""
        return self.share(global_size) * self.size / global_size

    # -- joining and agreeing --------------------------------------------------------------------
    def join(self, device: torch.device) -> None:
        """Join the process group (gloo on the CPU, NCCL on CUDA), once."""
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=TIMEOUT)

    def device(self, device: torch.device) -> torch.device:
        """Each process on a node takes its own GPU."""
        if self.distributed and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the processes (in place; unchanged for one process)."""
        if self.distributed:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` holds in any process."""
        if not self.distributed:
            return flag
        return bool(self.sum(torch.tensor([int(flag)], device=device)).item())

    def replicate(self, model: SparseVAEModel, device: torch.device) -> nn.Module:
        """The model wrapped for gradient averaging; its ``forward`` is the model's loss."""
        ids = [device.index] if device.type == "cuda" else None
        # Every model's loss reaches all its parameters (checked for each kind in the tests), so
        # DDP need not search the graph for unused ones each step.
        return nn.parallel.DistributedDataParallel(_Loss(model), device_ids=ids)

    @contextlib.contextmanager
    def peers_watched(self, kept: Callable[[], str]) -> Iterator[None]:
        """A collective that fails because another process went away ends in one line (saying
        what the run has ``kept`` by then), not a traceback."""
        try:
            yield
        except RuntimeError as exc:
            if not (self.distributed and is_collective_failure(exc)):
                raise
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise PeerLost(
                f"{self}: another process of this data-parallel run stopped ({first[:160]}); {kept}"
            ) from None


SINGLE = World()


class PeerLost(TrainingError):
    """Another process of a data-parallel run stopped (died, or hung past the timeout)."""


class _Loss(nn.Module):
    """``forward`` = the model's training loss: what DistributedDataParallel wraps."""

    def __init__(self, model: SparseVAEModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, kl_weight: float) -> LossOutput:
        return self.model.loss(x, y, kl_weight)


def is_collective_failure(error: BaseException) -> bool:
    """A failure of the communication between processes (a peer died or hung)."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        word in text for word in ("gloo", "nccl", "connection", "timed out", "broken pipe")
    )


def leave() -> None:
    """Leave the process group (at the end of a run)."""
    if dist.is_initialized():
        dist.destroy_process_group()
