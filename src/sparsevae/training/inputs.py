"""The data a caller hands to training, as tensors the model takes (or a one-line DataError)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.base import check_label_shape, validate_images
from ..errors import DataError


def as_images(x: Any, shape: Sequence[int], what: str) -> torch.Tensor:
    """Data as a float32 tensor shaped ``(N, *shape)``: flat rows are reshaped, values checked."""
    if x is None:
        raise DataError(f"{what}: no data given")
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if not torch.is_floating_point(x):
        raise DataError(f"{what}: expected floating-point values in [0, 1], got {x.dtype}")
    x = x.to(torch.float32)
    if x.ndim >= 1 and x.shape[0] == 0:
        raise DataError(f"{what}: the data set is empty")
    if tuple(x.shape[1:]) != tuple(shape):
        if x.ndim >= 2 and math.prod(x.shape[1:]) == math.prod(shape):
            x = x.reshape(-1, *shape)
        else:
            raise DataError(
                f"{what}: examples have shape {tuple(x.shape[1:])}, the model expects {tuple(shape)}"
            )
    validate_images(x, what)
    return x


def as_labels(y: Any, n: int, what: str) -> torch.Tensor | None:
    """Labels as a flat int64 tensor of ``n`` entries (None stays None)."""
    if y is None:
        return None
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    check_label_shape(tuple(y.shape), n, what)
    return y.long().reshape(-1)
