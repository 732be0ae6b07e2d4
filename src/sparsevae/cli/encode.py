"""``sparsevae encode RUN_DIR --out codes.npy``: the code of every example, in the data's order."""

from __future__ import annotations

import argparse

import numpy as np

from ..data import Dataset
from ..evaluation import encode_dataset
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
        help="which examples (default test); all: every example — for your own file without a "
        "split, its rows in the file's order; otherwise train then test",
    )
    add_data_arguments(p)
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = check_output_file(args.out, args.overwrite)
    model, config = load_run(args.run_dir, args.device)
    data = run_dataset(config, args.dataset, args.data_dir, args=args)
    if args.split == "all":
        codes = encode_all(model, data)
    else:
        x, y = data.split(args.split)
        codes = encode_dataset(model, x, y).numpy()
    with open(out, "wb") as f:  # np.save on a path would append .npy to other names
        np.save(f, codes)
    print(f"wrote {codes.shape[0]}×{codes.shape[1]} codes to {out}")
    return 0


def encode_all(model, data: Dataset) -> np.ndarray:
    """Codes of every example: in the source's order where the set was split or shuffled here
    (a file's rows, a folder's sorted files), otherwise train then test."""
    train = encode_dataset(model, data.train_x, data.train_y).numpy()
    test = encode_dataset(model, data.test_x, data.test_y).numpy()
    codes = np.concatenate([train, test])
    if data.source_rows is None:
        return codes
    in_source_order = np.empty_like(codes)
    in_source_order[np.concatenate(data.source_rows)] = codes
    return in_source_order
