"""Pieces the CLI verbs share: loading a run with its data, refusing to overwrite files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ..data import Dataset, load_dataset
from ..errors import ConfigError, DataError, RunDirectoryError
from ..models import SparseVAEModel
from ..training import load, read_config
from ..training.trainer import resolve_device


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")


def add_data_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--dataset", required=required, help="data set name (see `sparsevae datasets list`)"
    )
    parser.add_argument(
        "--data-dir", help="directory holding the data set's files (MNIST IDX files, …)"
    )


def check_output_file(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace an existing file unless asked to."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise RunDirectoryError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.exists():
        raise RunDirectoryError(f"{path.parent}: directory does not exist")
    return path


def load_run(run_dir: str, device: str = "auto") -> tuple[SparseVAEModel, dict[str, Any]]:
    config = read_config(run_dir)
    model = load(run_dir, map_location=resolve_device(device))
    return model, config


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """The data set named by ``--dataset`` / ``--data-dir`` (and any other data flags)."""
    return load_dataset(args.dataset, data_dir=args.data_dir)


def run_dataset(
    config: dict[str, Any], dataset: str | None = None, data_dir: str | None = None
) -> Dataset:
    """The run's data set (as recorded in its config), or another one named on the command line."""
    data = config.get("data", {})
    name = dataset or data.get("name")
    if not name:
        raise DataError("the run records no data set; pass --dataset (and --data-dir)")
    options = data.get("options", {}) if name == data.get("name") else {}
    directory = data_dir or (data.get("data_dir") if name == data.get("name") else None)
    return load_dataset(name, data_dir=directory, **options)


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON where it parses (numbers, lists, true/false)."""
    if "=" not in text:
        raise ConfigError(f"--option expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def labels_for(model: SparseVAEModel, y: torch.Tensor | None) -> torch.Tensor | None:
    return y if model.num_classes else None
