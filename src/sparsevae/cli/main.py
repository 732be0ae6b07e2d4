"""``sparsevae`` entry point: dispatches to the verb modules, turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import SparseVAEError

# Each module defines ``add_parser(subparsers)`` and sets ``func`` on its parser.
VERB_MODULES = ("train", "evaluate", "encode", "sample", "reproduce")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsevae",
        description="Train, evaluate and explain sparse latent-variable autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"sparsevae {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:
        importlib.import_module(f"{__package__}.{name}").add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
