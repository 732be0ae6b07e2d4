"""Data sets as tensors: ``load_dataset(name, data_dir=...)``; importing registers every set."""

from . import builtin  # noqa: F401  (registers the built-in sets)
from .base import Dataset, validate_images
from .registry import DATASETS, dataset_spec, load_dataset, register_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "dataset_spec",
    "load_dataset",
    "register_dataset",
    "validate_images",
]
