"""Data set names → loaders.  ``load_dataset(name, data_dir=..., **options)`` returns a Dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from .base import Dataset


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable[..., Dataset]
    shape: tuple[int, ...]
    sizes: tuple[int, int]
    description: str
    needs_files: bool = False  # True when the data come from files (download or --data-dir)


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    *,
    shape: tuple[int, ...],
    sizes: tuple[int, int],
    description: str,
    needs_files: bool = False,
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    def wrap(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = DatasetSpec(name, loader, shape, sizes, description, needs_files)
        return loader

    return wrap


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown data set {name!r}; choose one of {', '.join(sorted(DATASETS))}"
        ) from None


def load_dataset(name: str, data_dir: str | Path | None = None, **options: Any) -> Dataset:
    """Load a registered data set by name.  ``data_dir`` points at local files where needed."""
    spec = dataset_spec(name)
    if spec.needs_files:
        return spec.loader(data_dir=data_dir, **options)
    return spec.loader(**options)
