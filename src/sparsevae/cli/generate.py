"""``sparsevae generate MODE RUN_DIR …``: controlled generation from a trained model.

    sparsevae generate traverse RUN_DIR --index 0 --dims 3 7 --range -3 3 --steps 9 --out t.png
    sparsevae generate toggle   RUN_DIR --index 0 1 2 3 --set 3=0 --set 7=2.5 --out toggle.png
    sparsevae generate shared   RUN_DIR --index 0 -n 16 --mode active-set --out shared.png

Inputs are test images of the run's data set, chosen by ``--index``.
"""

from __future__ import annotations

import argparse

import torch

from ..errors import ConfigError
from ..evaluation import encode_dataset
from ..generation import (
    SHARED_MODES,
    set_features,
    shared_attribute_samples,
    traversal_values,
    traverse,
)
from ..plots.generation import (
    save_feature_toggle_figure,
    save_shared_attribute_figure,
    save_traversal_figure,
)
from ..plots.traversals import most_varying
from .common import (
    add_data_arguments,
    add_device_argument,
    check_output_file,
    load_run,
    reconstructions,
    run_dataset,
)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "generate",
        help="controlled generation: traversals, features on/off, shared-attribute samples",
        description="Controlled generation from a trained model, on test images of its data set.",
    )
    modes = p.add_subparsers(dest="mode", metavar="MODE", required=True)

    t = modes.add_parser("traverse", help="sweep chosen latent dimensions of one input's code")
    _common(t)
    t.add_argument("--index", type=int, default=0, help="test image to start from (default 0)")
    t.add_argument(
        "--dims",
        type=int,
        nargs="+",
        help="latent dimensions to sweep (default: the 8 most active)",
    )
    t.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="values each dimension sweeps (default: for each dimension, the range its code "
        "takes over the first 1000 test images)",
    )
    t.add_argument("--steps", type=int, default=9, help="values per dimension (default 9)")
    t.set_defaults(func=run_traverse)

    o = modes.add_parser("toggle", help="set latent elements to values (0 turns a feature off)")
    _common(o)
    o.add_argument("--index", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6, 7])
    o.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="DIM=VALUE",
        help="latent element and its new value (repeatable)",
    )
    o.set_defaults(func=run_toggle)

    s = modes.add_parser("shared", help="samples that share attributes with one input")
    _common(s)
    s.add_argument("--index", type=int, default=0)
    s.add_argument("-n", type=int, default=16, help="number of samples (default 16)")
    s.add_argument("--mode", dest="shared_mode", choices=SHARED_MODES, default="active-set")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=run_shared)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_data_arguments(p)  # default: the run's own data set; --dataset uses another's test images
    add_device_argument(p)


def _setup(args: argparse.Namespace, indices: list[int]):
    out = check_output_file(args.out, args.overwrite)
    model, config = load_run(args.run_dir, args.device)
    data = run_dataset(config, args.dataset, args.data_dir, args=args)
    n = len(data.test_x)
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ConfigError(f"--index must be in [0, {n}) for this test set, got {bad}")
    return out, model, data, data.test_x[indices]


def run_traverse(args: argparse.Namespace) -> int:
    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {args.steps}")
    out, model, data, x = _setup(args, [args.index])
    labels = data.test_y  # a conditional model's traversal keeps the image's label
    first = None if labels is None else labels[:1000]
    codes = encode_dataset(model, data.test_x[:1000], first)
    label = None if labels is None else labels[args.index]
    dims = args.dims
    if dims is None:  # the dimensions the model lets a traversal of this image set
        own = encode_dataset(model, x, None if label is None else label[None])[0]
        dims = most_varying(codes, 8, model.settable_elements(own))
    if args.range is None:
        values = traversal_values(codes, dims, args.steps)
    else:
        values = torch.linspace(args.range[0], args.range[1], args.steps)
    images = traverse(model, x[0], dims, values, label)
    save_traversal_figure(
        images,
        dims,
        values,
        out,
        original=(x[0], reconstructions(model, x, None if label is None else label[None])[0]),
        title=f"{model.kind}: traversals of test image {args.index}",
    )
    print(f"wrote traversals of dimensions {dims} to {out}")
    return 0


def parse_changes(texts: list[str]) -> dict[int, float]:
    changes: dict[int, float] = {}
    for text in texts:
        dim, sep, value = text.partition("=")
        try:
            if not sep:
                raise ValueError
            changes[int(dim)] = float(value)
        except ValueError:
            raise ConfigError(f"--set expects DIM=VALUE such as 3=0, got {text!r}") from None
    return changes


def run_toggle(args: argparse.Namespace) -> int:
    changes = parse_changes(args.set)
    out, model, _, x = _setup(args, list(args.index))
    edited = set_features(model, x, changes)
    recon = reconstructions(model, x)
    text = ", ".join(f"z[{d}]={v:g}" for d, v in changes.items())
    save_feature_toggle_figure(x, recon, edited, text, out)
    print(f"wrote {len(x)} inputs with {text} to {out}")
    return 0


def run_shared(args: argparse.Namespace) -> int:
    out, model, _, x = _setup(args, [args.index])
    torch.manual_seed(args.seed)
    samples = shared_attribute_samples(model, x[0], args.n, mode=args.shared_mode)
    recon = reconstructions(model, x)
    save_shared_attribute_figure(x[0], recon[0], samples, out, mode=args.shared_mode)
    print(f"wrote {args.n} samples sharing attributes with test image {args.index} to {out}")
    return 0
