"""What a sweep will cost, stated before it starts: rough CPU seconds per run, scaled to this
machine by the runs already finished."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ..data import dataset_spec
from ..errors import DataError

# Multiply-adds a second on one CPU thread of the 2-core machine of the docs, from the full
# iclr2019 MNIST sweep: 38 runs of a 784–400–J MLP, 11 epochs of 60,000 images, trained in
# 59.2 min (docs/iclr2019.md), counting a training step as three forward passes.
CPU_MACS_PER_SECOND = 1.6e10


class Run(Protocol):
    """One run of a sweep: its ``id`` keys its row in the results."""

    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Run)


def dataset_sizes(dataset: str) -> tuple[int, int, int]:
    """(training images, test images, pixels) of a registered set; MNIST's for the user's own."""
    try:
        spec = dataset_spec(dataset)
    except DataError:
        return 60000, 10000, 784
    return spec.sizes[0], spec.sizes[1], math.prod(spec.shape)


def compute_seconds(macs: float) -> float:
    """Rough CPU seconds for ``macs`` multiply-adds."""
    return macs / CPU_MACS_PER_SECOND


def training_seconds(forward_macs: float, examples: float) -> float:
    """Rough CPU seconds to train on ``examples`` examples (summed over epochs) when one forward
    pass of one example costs ``forward_macs`` multiply-adds (backward: twice the forward)."""
    return compute_seconds(3.0 * forward_macs * examples)


def autoencoder_macs(pixels: int, hidden: Sequence[int], latent: int, heads: int = 2) -> int:
    """Multiply-adds of one example through an MLP encoder with ``heads`` outputs per latent
    (μ and log σ², …) and the mirrored decoder."""
    encoder = [pixels, *hidden, heads * latent]
    decoder = [latent, *reversed(hidden), pixels]
    return sum(a * b for layers in (encoder, decoder) for a, b in itertools.pairwise(layers))


def duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``1.2 h`` or ``3.4 days``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


def cost_statement(
    name: str,
    runs: Sequence[R],
    pending: Sequence[R],
    finished: Sequence[dict[str, Any]],
    estimate: Callable[[R], float] | None,
    key: str = "id",
) -> str:
    """What is left to do and about how long it takes: the estimate scaled to this machine by the
    runs already finished here (their ``seconds``), or the docs' CPU rate where there are none."""
    head = f"{name}: {len(pending)} of {len(runs)} runs to do"
    if len(pending) < len(runs):
        head += f" ({len(runs) - len(pending)} finished before)"
    if not pending or estimate is None:
        return head
    seconds = sum(estimate(run) for run in pending)
    by_id = {run.id: run for run in runs}
    measured = [
        (float(row["seconds"]), by_id[row[key]])
        for row in finished
        if row.get(key) in by_id and _positive(row.get("seconds"))
    ]
    predicted = sum(estimate(run) for _, run in measured)
    if measured and predicted > 0:
        seconds *= sum(s for s, _ in measured) / predicted
        basis = f"at the pace of the {len(measured)} runs finished here"
    else:
        basis = "on one CPU thread, a rough estimate; less on a GPU"
    return f"{head}; expected cost about {duration(seconds)} ({basis})"


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
