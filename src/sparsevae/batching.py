"""Running a model over a data set outside training: eval mode, batches, a private seed.

Low level on purpose: it imports neither the models nor the evaluation, so models, evaluation,
training and the scikit-learn wrapper can all use it without import cycles.

    >>> with eval_mode(model):                                          # doctest: +SKIP
    ...     codes = map_batches(model.encode, x, device=model.device)  # (N, J) on the CPU
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .errors import ConfigError, DataError

DEFAULT_BATCH_SIZE = 1000

Device = torch.device | str | None


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode under ``torch.no_grad()``; every submodule's own training flag is
    restored afterwards, also when the block raises."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for module, training in flags:
            module.training = training


def iter_batches(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Consecutive ``(xb, yb)`` slices of ``batch_size`` rows, moved to ``device`` when given;
    ``yb`` is None when ``y`` is.  Raises DataError for empty data or ``y`` of another length."""
    if int(batch_size) != batch_size or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(x) == 0:
        raise DataError("no examples to process: the data are empty")
    if y is not None and len(y) != len(x):
        raise DataError(f"{len(x)} examples but {len(y)} labels")
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        yb = None if y is None else y[start : start + batch_size]
        if device is not None:
            xb = xb.to(device)
            yb = None if yb is None else yb.to(device)
        yield xb, yb


def map_batches(
    fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Device = None,
) -> torch.Tensor:
    """``fn(xb)`` — or ``fn(xb, yb)`` when ``y`` is given — over batches on ``device``, the
    results concatenated along the first dimension on the CPU.

    Equal to ``fn(x)`` for a row-wise ``fn``, with memory bounded by ``batch_size``.  Empty data
    raise DataError: the shape of an empty result is unknown without calling ``fn``.
    Gradients and the model's mode are the caller's choice (see :func:`eval_mode`).
    """
    parts = [
        (fn(xb) if yb is None else fn(xb, yb)).cpu()
        for xb, yb in iter_batches(x, y, batch_size=batch_size, device=device)
    ]
    return torch.cat(parts)


@contextmanager
def private_rng(seed: int) -> Iterator[None]:
    """Seed torch for this block only: the caller's CPU and CUDA generator states are restored
    afterwards, so a seeded evaluation does not change the draws that follow it."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
