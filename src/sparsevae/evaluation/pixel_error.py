"""The CATSMILE-1022 note's reconstruction metric: mean-centred per-pixel squared error on 0–255.

For an image x and its reconstruction x̂ (both in [0, 1] here), each is rescaled to 0–255 and has its
own mean over pixels subtracted; the error is the mean over pixels of the squared difference,
averaged over the examples.  Subtracting each image's mean makes the metric blind to a global
brightness offset, so it measures the shape of the reconstruction; it equals the plain per-pixel
MSE minus the squared difference of the two means (hence never larger than the plain MSE).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..batching import DEFAULT_BATCH_SIZE, eval_mode, iter_batches
from ..errors import DataError

PIXEL_SCALE = 255.0


def centred_pixel_error(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Per-example metric ``(N,)``: mean over pixels of ((x − x̄) − (x̂ − x̂̄))² on the 0–255 scale."""
    if x.shape != reconstruction.shape:
        raise DataError(
            f"reconstruction shape {tuple(reconstruction.shape)} differs from the data's "
            f"{tuple(x.shape)}"
        )
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"expected a non-empty batch of images, got shape {tuple(x.shape)}")
    diff = (x - reconstruction).flatten(1).double() * PIXEL_SCALE
    centred = diff - diff.mean(1, keepdim=True)  # (x − x̄) − (x̂ − x̂̄) = d − d̄
    return centred.pow(2).mean(1)


@torch.no_grad()
def pixel_error(
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
) -> float:
    """The note's metric averaged over ``x`` for any ``reconstruct(xb) -> x̂b`` (batched).

    ``device``: where batches are sent before ``reconstruct`` (the model's device); the sum is
    accumulated in float64 so that 10 000 test images give a reproducible average.
    """
    total = 0.0
    for xb, _ in iter_batches(x, batch_size=batch_size, device=device):
        total += float(centred_pixel_error(xb, reconstruct(xb)).sum())
    return total / len(x)


def model_pixel_error(
    model: torch.nn.Module, x: torch.Tensor, batch_size: int = DEFAULT_BATCH_SIZE
) -> float:
    """The metric for a sparsevae model (unconditional): x̂ = decode(encode(x)) in eval mode
    (the model's mode is restored).  ``evaluate_model`` reports the same number as
    ``pixel_error``."""
    device = next(model.parameters()).device
    with eval_mode(model):
        return pixel_error(
            lambda xb: model.decode(model.encode(xb)), x, batch_size=batch_size, device=device
        )
