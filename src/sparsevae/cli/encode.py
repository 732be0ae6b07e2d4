"""``sparsevae encode RUN_DIR --out codes.npy``: the code of every example, in the data's order
(``--labels FILE`` writes their labels beside them)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..evaluation import CODES, probe_codes
from ..models import SparseVAEModel
from .common import (
    add_data_arguments,
    add_device_argument,
    check_output_file,
    load_run,
    run_dataset,
)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "encode",
        help="write the codes of a data split to a .npy file",
        description="Encode a split with a trained run: one row per example, in the data set's "
        "order (VSC: the sparse code γ·μ thresholded; VAE: μ; autoencoders: the code).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--split",
        choices=("train", "test", "all"),
        default="test",
        help="which examples (default test); all: every example — for your own file or folder, "
        "in its own order; otherwise train then test",
    )
    add_data_arguments(p)
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument(
        "--code",
        choices=CODES,
        default="sparse",
        help="sparse = model.encode (VSC: γ·μ thresholded; VAE: μ), mu = the posterior location "
        "μ of a variational model (default sparse)",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="also write the examples' labels, row for row, to this .npy file",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = check_output_file(args.out, args.overwrite)
    labels_out = None if args.labels is None else check_output_file(args.labels, args.overwrite)
    model, config = load_run(args.run_dir, args.device)
    data = run_dataset(config, args.dataset, args.data_dir, args=args)
    codes, labels = encode_split(model, data, args.split, args.code)
    if labels_out is not None and labels is None:
        raise DataError(f"{data.name} has no labels to write to {labels_out}")
    save_npy(out, codes)
    print(f"wrote {codes.shape[0]}×{codes.shape[1]} codes to {out}")
    if labels_out is not None and labels is not None:
        save_npy(labels_out, labels)
        print(f"wrote their {len(labels)} labels to {labels_out}")
    return 0


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # np.save on a path would append .npy to other names
        np.save(f, array)


def encode_split(
    model: SparseVAEModel, data: Dataset, split: str, code: str = "sparse"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of ``split`` (``train``, ``test`` or ``all``) and their labels (None without): for
    ``all``, in the source's order where the set was split or shuffled here (a file's rows, a
    folder's sorted files), otherwise train then test."""
    parts = ("train", "test") if split == "all" else (split,)
    codes, labels = [], []
    for part in parts:
        x, y = data.split(part)
        codes.append(probe_codes(model, x, y, code).numpy())
        labels.append(None if y is None else y.numpy())
    if split != "all":
        return codes[0], labels[0]
    ordered_labels = None if labels[0] is None else in_source_order(data, np.concatenate(labels))
    return in_source_order(data, np.concatenate(codes)), ordered_labels


def in_source_order(data: Dataset, values: np.ndarray) -> np.ndarray:
    """Rows of the train split then the test split, put in the source's order when known (a
    training limit leaves some source rows out: the others keep their order)."""
    if data.source_rows is None:
        return values
    return values[np.argsort(np.concatenate(data.source_rows), kind="stable")]
