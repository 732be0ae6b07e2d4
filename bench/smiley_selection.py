"""How vsc-uai's selection function uses its components while it trains on Smiley.

Prints one JSON line per epoch (epoch 0: at initialisation), measured on the test images: the
share of the most picked component, how many are picked at all, the effective number of
components (exp of the entropy of the mean weights), the mean largest weight, and how many
selector rows have a pre-activation ≤ 0 for every image (dead under the supplement's ReLU).

    python bench/smiley_selection.py --variant supplement            # docs/uai2019.md
    python bench/smiley_selection.py --variant supplement --centred  # selector input centred
    python bench/smiley_selection.py --variant authors
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from sparsevae.data import load_dataset
from sparsevae.models import build_model
from sparsevae.training import TrainConfig, Trainer


class Centred(nn.Module):
    """A selector that sees the input minus the training mean (a diagnostic, not in the paper)."""

    def __init__(self, selector: nn.Module, mean: torch.Tensor) -> None:
        super().__init__()
        self.selector, self.mean = selector, mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.selector(x - self.mean)


def selection_usage(model, x: torch.Tensor) -> dict:
    with torch.no_grad():
        weights = model.selection(x)
        pre = model.selector(x.flatten(1))
    share = torch.bincount(weights.argmax(1), minlength=weights.shape[1]).float() / len(x)
    mean = weights.mean(0)
    return {
        "top_share": round(share.max().item(), 3),
        "components_used": int((share > 0).sum()),
        "effective_components": round(
            torch.exp(-(mean * mean.clamp_min(1e-12).log()).sum()).item(), 2
        ),
        "mean_largest_weight": round(weights.max(1).values.mean().item(), 3),
        "rows_below_zero_for_every_image": int(((pre > 0).float().mean(0) == 0).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=("supplement", "authors"), default="supplement")
    parser.add_argument("--centred", action="store_true", help="centre the selector's input")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("smiley", n_train=args.n_train, n_test=1000, seed=0)
    torch.manual_seed(0)
    model = build_model(
        "vsc-uai", input_shape=list(data.shape), latent_dim=60, hidden=[512],
        likelihood="bernoulli", variant=args.variant, warmup_start=0.1, warmup_end=0.15,
        lr_drop_at=0.8,
    )  # fmt: skip
    if args.centred:
        model.selector = Centred(model.selector, data.train_x.flatten(1).mean(0))

    def report(record: dict) -> None:
        line = {"epoch": record["epoch"], **selection_usage(model, data.test_x)}
        if "test/neg_elbo" in record:
            line["test_neg_elbo"] = round(record["test/neg_elbo"], 2)
        print(json.dumps(line), flush=True)

    report({"epoch": 0})
    config = TrainConfig(epochs=args.epochs, batch_size=100, lr=1e-3, seed=0)
    Trainer(model, config, progress=False, callbacks=[report]).fit(data.train_x, data.test_x)


if __name__ == "__main__":
    main()
