"""What every sparsevae model has: a recorded config, a loss with named terms, encode/decode/sample."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError


@dataclass
class LossOutput:
    """``loss`` is what the optimiser minimises (batch mean); ``terms`` are batch means in nats per
    example, every one of them logged (``loss`` included)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def init_args(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of an ``__init__`` call, JSON-friendly, for ``model.config``."""
    config = {}
    for key, value in frame_locals.items():
        if key in ("self", "__class__") or key.startswith("_"):
            continue
        if isinstance(value, tuple):
            value = list(value)
        config[key] = value
    return config


def check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ConfigError(
            f"input_shape must be positive sizes such as (1, 28, 28), got {input_shape!r}"
        )
    return shape


def check_hidden(hidden: int | Sequence[int]) -> tuple[int, ...]:
    sizes = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise ConfigError(f"hidden layer sizes must be positive integers, got {hidden!r}")
    return tuple(check_positive_int("a hidden layer size", h) for h in sizes)


def check_positive_int(name: str, value: int) -> int:
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value == int(value) and value > 0):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class SparseVAEModel(nn.Module):
    """Base class.  Subclasses set ``kind`` (their registry name) and ``self.config`` (the keyword
    arguments that rebuild them), and implement ``loss``, ``encode`` and ``decode``."""

    kind: ClassVar[str] = ""
    #: True for models with a prior (ELBO, importance sampling, prior samples are defined).
    is_variational: ClassVar[bool] = False

    input_shape: tuple[int, ...]
    latent_dim: int
    num_classes: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.config: dict[str, Any] = {}

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_weight: float = 1.0
    ) -> LossOutput:
        raise NotImplementedError

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code used downstream, ``(N, latent_dim)``."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Expected image for codes ``z``, shaped like the input."""
        raise NotImplementedError

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, y), y)

    def update_schedules(self, progress: float) -> dict[str, float]:
        """Set schedule-driven values for training progress in [0, 1]; return them for logging."""
        return {}

    def one_hot(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Labels as one-hot rows for conditional models; None for unconditional ones."""
        if not self.num_classes:
            return None
        if y is None:
            raise ConfigError(f"model {self.kind!r} is conditional: pass labels (y) as well")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.numel() != batch or (y.numel() and (y.min() < 0 or y.max() >= self.num_classes)):
            raise ConfigError(f"labels must be {batch} integers in [0, {self.num_classes})")
        return nn.functional.one_hot(y, self.num_classes).to(torch.get_default_dtype())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, input_shape={self.input_shape}, latent_dim={self.latent_dim}"
