"""What the public model calls take: NumPy arrays or tensors, checked against the model's shapes.

:class:`~.base.SparseVAEModel` wraps every subclass's ``encode``, ``decode`` and ``elbo`` with
:func:`checked_call`, so that a caller gets a one-line :class:`DataError` for data of the wrong
shape or kind instead of a torch error from deep inside a network, and so that inference calls
(model in eval mode) return tensors without a graph: ``model.encode(x).numpy()`` works.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from .base import SparseVAEModel

Method = TypeVar("Method", bound=Callable[..., Any])
# The checked methods and what their first argument is: examples or codes.
CHECKED_METHODS = {"encode": "examples", "elbo": "examples", "decode": "codes"}
# Functions already wrapped by checked_call (a subclass may reuse its parent's).
CHECKED: set[Callable[..., Any]] = set()


def as_float_tensor(x: Any, what: str) -> torch.Tensor:
    """``x`` (a tensor, NumPy array or nested list) as a floating tensor; integer or boolean
    values raise DataError (8-bit images are not guessed at: divide them by 255 first)."""
    if x is None:
        raise DataError(f"{what}: no data given")
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"{what}: not an array of numbers ({exc})") from None
    if not torch.is_floating_point(x):
        hint = "; divide 8-bit images by 255 first" if x.dtype == torch.uint8 else ""
        raise DataError(f"{what}: expected floating-point values in [0, 1], got {x.dtype}{hint}")
    return x


def as_batch(x: Any, shape: Sequence[int], what: str) -> torch.Tensor:
    """``x`` as a floating tensor ``(N, *shape)`` (see :func:`as_float_tensor`); flat rows
    ``(N, prod(shape))`` are reshaped, no examples or other shapes raise DataError."""
    x = as_float_tensor(x, what)
    if x.ndim >= 1 and x.shape[0] == 0:
        raise DataError(f"{what}: no examples (the data are empty)")
    if tuple(x.shape[1:]) != tuple(shape):
        if x.ndim < 2 or math.prod(x.shape[1:]) != math.prod(shape):
            raise DataError(
                f"{what}: examples have shape {tuple(x.shape[1:])}, the model expects "
                f"{tuple(shape)} or flat rows of {math.prod(shape)} (a batch: N examples along "
                "the first axis)"
            )
        x = x.reshape(-1, *shape)
    return x


def _checked(model: SparseVAEModel, data: Any, kind: str, method: str) -> torch.Tensor:
    """``data`` as the model takes it: a batch of examples or codes of its dtype, on its device."""
    reference = next(model.parameters())
    shape = tuple(model.input_shape) if kind == "examples" else (model.latent_dim,)
    if (  # the trainer's path: nothing to convert, nothing synchronised
        isinstance(data, torch.Tensor)
        and data.dtype == reference.dtype
        and data.device == reference.device
        and tuple(data.shape[1:]) == shape
        and (kind == "examples" or data.ndim == 2)
    ):
        return data
    what = f"{model.kind}.{method}"
    if kind == "examples":
        batch = as_batch(data, shape, what)
    else:
        batch = as_float_tensor(data, what)
        if batch.ndim != 2 or batch.shape[1] != model.latent_dim:
            raise ConfigError(
                f"{what}: codes must have shape (N, {model.latent_dim}), got {tuple(batch.shape)}"
            )
    return batch.to(device=reference.device, dtype=reference.dtype)


def checked_call(method: Method, name: str) -> Method:
    """``method`` taking checked input (see :func:`as_batch`), and in eval mode, unless the input
    itself requires a gradient, run without autograd: inference returns plain tensors.  In
    training mode (inside ``loss``) the graph is kept."""
    kind = CHECKED_METHODS[name]

    @functools.wraps(method)
    def call(self: SparseVAEModel, data: Any, *args: Any, **kwargs: Any) -> Any:
        data = _checked(self, data, kind, name)
        if self.training or data.requires_grad or not torch.is_grad_enabled():
            return method(self, data, *args, **kwargs)
        with torch.no_grad():
            return method(self, data, *args, **kwargs)

    CHECKED.add(call)
    return call  # type: ignore[return-value]
