"""``sparsevae`` entry point: dispatches to the verb modules, turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

import torch

from .._version import __version__
from ..errors import SparseVAEError

# Each module defines ``add_parser(subparsers)`` and sets ``func`` on its parser.
VERB_MODULES = ("train", "evaluate", "encode", "sample", "reproduce", "datasets", "generate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsevae",
        description="Train, evaluate and explain sparse latent-variable autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"sparsevae {__version__}")
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("SPARSEVAE_THREADS", "0")),
        help="CPU threads for torch (default: torch's choice; 1 is faster on a busy machine)",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:
        importlib.import_module(f"{__package__}.{name}").add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except SparseVAEError as exc:
        print(f"sparsevae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparsevae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
