"""The one shape every data set takes: float tensors in [0, 1], (N, C, H, W), with a fixed split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .lazy import LazyImages

VALIDATION_SAMPLE = 1024  # examples of a set read on demand that are checked when it is built


@dataclass
class Dataset:
    """A data set with a fixed train/test split.

    ``*_x`` are float32 tensors in [0, 1] shaped ``(N, *shape)`` (or, for a set larger than the
    memory budget, :class:`.lazy.LazyImages` that read them on demand); ``*_y`` integer labels or None;
    ``*_factors`` generating factors ``(N, F)`` where known, with their names in ``factor_names``.
    ``info`` holds what the run's config must record to rebuild the set (scaling, options).
    """

    name: str
    train_x: torch.Tensor | LazyImages
    test_x: torch.Tensor | LazyImages
    train_y: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    train_factors: torch.Tensor | None = None
    test_factors: torch.Tensor | None = None
    factor_names: list[str] | None = None
    num_classes: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    # Where each train and test example sits in its source (a file's rows, a folder's sorted
    # files), for sets split or shuffled here: encode --split all writes codes in that order.
    source_rows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    def first_train(self, n: int | None) -> Dataset:
        """The set with its first ``n`` training examples only (all for None or 0)."""
        if not n:
            return self
        if int(n) != n or n < 1:
            raise DataError(f"a training limit must be a positive whole number, got {n!r}")

        def head(values: Any) -> Any:
            return None if values is None else values[:n]

        rows = self.source_rows
        x = self.train_x
        return dataclasses.replace(
            self,
            train_x=x.head(n) if isinstance(x, LazyImages) else x[:n],
            train_y=head(self.train_y),
            train_factors=head(self.train_factors),
            source_rows=None if rows is None else (rows[0][:n], rows[1]),
        )

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if which == "train":
            return self.train_x, self.train_y
        if which == "test":
            return self.test_x, self.test_y
        raise DataError(f"unknown split {which!r}; use 'train' or 'test'")

    def __post_init__(self) -> None:
        validate_images(self.train_x, f"{self.name} (train)")
        validate_images(self.test_x, f"{self.name} (test)")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(
                f"{self.name}: train and test shapes differ: "
                f"{tuple(self.train_x.shape[1:])} vs {tuple(self.test_x.shape[1:])}"
            )
        for x, y, part in (
            (self.train_x, self.train_y, "train"),
            (self.test_x, self.test_y, "test"),
        ):
            if y is not None and len(y) != len(x):
                raise DataError(f"{self.name} ({part}): {len(x)} images but {len(y)} labels")


def validate_images(x: torch.Tensor | LazyImages, what: str) -> None:
    """Refuse data that would train on garbage: empty, non-finite, or outside [0, 1].  Of data
    read on demand only the first examples are read: each batch is scaled and checked as it is
    read."""
    if isinstance(x, LazyImages):
        x = x[:VALIDATION_SAMPLE]
    if x.ndim < 2:
        raise DataError(
            f"{what}: expected a batch of examples (N, ...), got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise DataError(f"{what}: the data set is empty")
    if not torch.is_floating_point(x):
        raise DataError(f"{what}: expected floating-point values in [0, 1], got {x.dtype}")
    if not torch.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{what}: values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]")


def check_label_shape(shape: tuple[int, ...], n: int, what: str) -> None:
    """Labels come as one class per example: shape ``(n,)`` (or ``(n, 1)``); else a DataError."""
    if len(shape) == 0 or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        hint = " (one-hot rows? pass y.argmax(1))" if len(shape) == 2 else ""
        raise DataError(
            f"{what}: labels must be 1-D, one class per example; got shape {tuple(shape)}{hint}"
        )
    if shape[0] != n:
        raise DataError(f"{what}: {n} examples but {shape[0]} labels")
