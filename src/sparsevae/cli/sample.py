"""``sparsevae sample RUN_DIR -n 64 --out grid.png``: images decoded from prior draws (``--out
samples.npy`` saves them as an array)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..plots import save_image_grid
from .common import add_device_argument, check_output_file, load_run, sample_labels


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "sample",
        help="draw images from a trained model's prior",
        description="Decode n prior draws into a grid of images.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument(
        "--label", type=int, help="class to draw (conditional models; default: all classes)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", required=True, help="output file: a PNG grid, or .npy for the images as an array"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_device_argument(p)
    p.set_defaults(func=run)


FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".npy")


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    if Path(args.out).suffix.lower() not in FORMATS:
        raise ConfigError(f"--out must end in one of {', '.join(FORMATS)}, got {args.out!r}")
    out = check_output_file(args.out, args.overwrite)
    model, _ = load_run(args.run_dir, args.device)
    if not model.is_variational:
        raise ConfigError(f"model {model.kind!r} has no prior to sample from")
    if model.num_classes and args.label is not None and not 0 <= args.label < model.num_classes:
        raise ConfigError(f"--label must be in [0, {model.num_classes}), got {args.label}")
    if not model.num_classes and args.label is not None:
        raise ConfigError(f"--label needs a conditional model (cvae); {model.kind!r} is not")
    labels = sample_labels(model, args.n, args.label)
    torch.manual_seed(args.seed)
    images = model.sample(args.n, labels).cpu()
    if out.suffix.lower() == ".npy":
        np.save(out, images.numpy())  # (n, C, H, W) in [0, 1]
    else:
        save_image_grid(images, out, title=f"{model.kind}: {args.n} prior samples")
    print(f"wrote {args.n} samples to {out}")
    return 0
