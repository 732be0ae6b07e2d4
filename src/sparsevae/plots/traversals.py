"""Latent traversals: decode a code while one dimension sweeps a range, for the most active ones."""

from __future__ import annotations

from pathlib import Path

import torch

from ..evaluation.metrics import encode_dataset
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


@torch.no_grad()
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
    model.eval()
    dims = dims if dims is not None else most_active_dimensions(model, x, y, n_dims)
    device = model.device
    label = None if y is None or not model.num_classes else y[example : example + 1].to(device)
    base = model.encode(x[example : example + 1].to(device), label)  # (1, J)
    values = torch.linspace(-span, span, steps, device=device)
    codes = base.repeat(len(dims) * steps, 1)
    for row, dim in enumerate(dims):
        codes[row * steps : (row + 1) * steps, dim] = values
    labels = None if label is None else label.repeat(len(codes))
    return model.decode(codes, labels).cpu(), dims


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
