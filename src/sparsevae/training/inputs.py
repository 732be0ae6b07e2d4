"""The data a caller hands to training, as tensors the model takes (or a one-line DataError)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.base import check_label_shape, validate_images
from ..data.lazy import LazyImages
from ..errors import DataError
from ..models.inputs import as_batch


def as_images(x: Any, shape: Sequence[int], what: str) -> torch.Tensor | LazyImages:
    """Data as a float32 tensor shaped ``(N, *shape)``: flat rows are reshaped, values checked.
    Examples read on demand stay so (their first examples checked; each batch is as it is read)."""
    if isinstance(x, LazyImages):
        if tuple(x.shape[1:]) != tuple(shape):
            raise DataError(
                f"{what}: examples have shape {tuple(x.shape[1:])}, the model expects {tuple(shape)}"
            )
        validate_images(x, what)
        return x
    x = as_batch(x, shape, what).to(torch.float32)
    validate_images(x, what)
    return x


def as_labels(y: Any, n: int, what: str) -> torch.Tensor | None:
    """Labels as a flat int64 tensor of ``n`` entries (None stays None)."""
    if y is None:
        return None
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    check_label_shape(tuple(y.shape), n, what)
    return y.long().reshape(-1)
