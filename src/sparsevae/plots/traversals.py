"""Latent traversals: decode a code while one dimension sweeps a range, for the most active ones."""

from __future__ import annotations

from pathlib import Path

import torch

from ..evaluation.metrics import encode_dataset
from ..generation import traverse
from ..models import SparseVAEModel
from .grids import save_image_grid


@torch.no_grad()
def most_active_dimensions(
    model: SparseVAEModel, x: torch.Tensor, y: torch.Tensor | None = None, count: int = 8
) -> list[int]:
    """The ``count`` latent dimensions whose code varies most over ``x`` (largest variance)."""
    codes = encode_dataset(model, x, y)
    variance = codes.var(0) if len(codes) > 1 else codes.abs()[0]
    count = min(count, codes.shape[1])
    return [int(i) for i in torch.argsort(variance, descending=True)[:count]]


def latent_traversals(
    model: SparseVAEModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    dims: list[int] | None = None,
    n_dims: int = 8,
    steps: int = 9,
    span: float = 3.0,
    example: int = 0,
) -> tuple[torch.Tensor, list[int]]:
    """Images ``(len(dims) · steps, C, H, W)``: row r decodes the code of ``x[example]`` with
    dimension ``dims[r]`` set to each of ``steps`` values evenly spaced in [−span, span].

    ``dims`` defaults to the ``n_dims`` most active dimensions over ``x``.  For VSC the other
    elements keep their (sparse) values, so a row shows what switching one element on does.
    """
    dims = dims if dims is not None else most_active_dimensions(model, x, y, n_dims)
    label = None if y is None else y[example]
    values = torch.linspace(-span, span, steps)
    images = traverse(model, x[example], dims, values, y=label)
    return images.reshape(-1, *model.input_shape), dims


def save_latent_traversals(
    model: SparseVAEModel,
    x: torch.Tensor,
    path: str | Path,
    y: torch.Tensor | None = None,
    *,
    n_dims: int = 8,
    steps: int = 9,
    span: float = 3.0,
    example: int = 0,
) -> Path:
    """Write the traversal grid of the ``n_dims`` most active dimensions to a PNG."""
    images, dims = latent_traversals(
        model, x, y, n_dims=n_dims, steps=steps, span=span, example=example
    )
    title = f"traversals in [−{span:g}, {span:g}] of dims {', '.join(map(str, dims))} (rows)"
    return save_image_grid(images, path, ncols=steps, title=title)
