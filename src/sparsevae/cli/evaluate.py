"""``sparsevae evaluate RUN_DIR``: test metrics of a trained run, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import math

from ..evaluation import evaluate_model
from .common import add_data_arguments, add_device_argument, load_run, run_dataset

LABELS = {
    "neg_elbo": "test −ELBO (nats/example)",
    "recon": "reconstruction −log p(x|z) (nats)",
    "kl": "KL(q‖p) (nats)",
    "loss": "training objective (nats)",
    "recon_sq_error": "squared reconstruction error (sum over pixels)",
    "sparsity": "sparsity (fraction of exact zeros in codes)",
    "active_elements_mean": "non-zero code elements per example",
    "active_units": "active units (Var of mean > 0.01)",
}


def add_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="test metrics of a trained run",
        description="Evaluate a run on the test split of its data set.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_arguments(p)
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_device_argument(p)
    p.set_defaults(func=run)


def format_table(metrics: dict) -> str:
    width = max(len(LABELS.get(k, k)) for k in metrics)
    lines = []
    for key, value in metrics.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{LABELS.get(key, key):<{width}}  {text}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    model, config = load_run(args.run_dir, args.device)
    data = run_dataset(config, args.dataset, args.data_dir)
    x, y = data.split(args.split)
    metrics = {"model": model.kind, "dataset": data.name, "split": args.split}
    metrics.update(evaluate_model(model, x, y))
    if args.json:
        print(
            json.dumps(
                {
                    k: (v if not (isinstance(v, float) and not math.isfinite(v)) else str(v))
                    for k, v in metrics.items()
                }
            )
        )
    else:
        print(format_table(metrics))
    return 0
