"""Latent traversals: decode a code while one dimension sweeps the range its code takes in the
data, for the dimensions that vary most."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..batching import eval_mode
from ..evaluation.metrics import encode_dataset
from ..generation import traversal_values, traverse
from ..models import SparseVAEModel
from .generation import save_traversal_figure


def most_varying(codes: torch.Tensor, count: int, allowed: torch.Tensor | None = None) -> list[int]:
    """The ``count`` latent dimensions whose code varies most over ``codes`` (largest variance),
    among the ``allowed`` ones (a boolean mask) when given."""
    variance = codes.var(0) if len(codes) > 1 else codes.abs()[0]
    if allowed is not None:
        variance = variance.masked_fill(~allowed.cpu(), -math.inf)
        count = min(count, int(allowed.sum()))
    count = min(count, codes.shape[1])
    return [int(i) for i in torch.argsort(variance, descending=True)[:count]]


@torch.no_grad()
def most_active_dimensions(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None = None, count: int = 8
) -> list[int]:
    """The ``count`` latent dimensions whose code varies most over ``x`` (largest variance)."""
    return most_varying(encode_dataset(model, x, y), count)


def latent_traversals(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    dims: list[int] | None = None,
    n_dims: int = 8,
    steps: int = 9,
    example: int = 0,
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Images ``(len(dims), steps, C, H, W)``, the dimensions and their values ``(len(dims),
    steps)``: row r decodes the code of ``x[example]`` with dimension ``dims[r]`` set to values
    evenly spaced over the range that dimension's code takes on ``x``.

    ``dims`` defaults to the ``n_dims`` dimensions that vary most over ``x``.  For VSC the other
    elements keep their (sparse) values, so a row shows what switching one element on does.
    """
    codes = encode_dataset(model, x, y)
    if dims is None:  # the dimensions the model lets a traversal of this example set
        dims = most_varying(codes, n_dims, model.settable_elements(codes[example]))
    values = traversal_values(codes, dims, steps)
    label = None if y is None else y[example]
    return traverse(model, x[example], dims, values, y=label), dims, values


def save_latent_traversals(
    model: SparseVAEModel,
    x: torch.Tensor,
    path: str | Path,
    y: torch.Tensor | None = None,
    *,
    n_dims: int = 8,
    steps: int = 9,
    example: int = 0,
) -> Path:
    """Write the input, its reconstruction and the traversals of the ``n_dims`` dimensions that
    vary most (each over its range in ``x``) to a PNG."""
    images, dims, values = latent_traversals(
        model, x, y, n_dims=n_dims, steps=steps, example=example
    )
    original = x[example : example + 1]
    label = None if y is None else y[example : example + 1].to(model.device)
    with eval_mode(model):
        reconstruction = model.reconstruct(original.to(model.device), label).cpu()
    return save_traversal_figure(
        images,
        dims,
        values,
        path,
        original=(original[0], reconstruction[0]),
        title=f"{model.kind}: traversals of example {example}, each over its code's range in the data",
    )
