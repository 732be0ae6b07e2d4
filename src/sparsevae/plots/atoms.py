"""The dictionary a decoder has learned: one image per code element.

For a linear decoder (x̂ = D·z + b) element j's atom is the column D_j; for any decoder it is
taken as ``decode(s·e_j) − decode(0)``, what switching element j on (at value ``s``) adds to the
image — exactly the column for a linear decoder with a Gaussian likelihood.  Each atom is shown
with its own symmetric grey scale (mid-grey = 0), as dictionaries usually are.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..batching import eval_mode
from ..models import SparseVAEModel
from .grids import save_image_grid


def atom_images(
    model: SparseVAEModel, scale: float = 1.0, elements: torch.Tensor | None = None
) -> torch.Tensor:
    """``(len(elements), C, H, W)`` effects of the chosen code elements (all by default)."""
    elements = torch.arange(model.latent_dim) if elements is None else elements
    with eval_mode(model):
        codes = torch.zeros(len(elements) + 1, model.latent_dim, device=model.device)
        codes[torch.arange(1, len(elements) + 1), elements.to(model.device)] = scale
        images = model.decode(codes).cpu()
    return images[1:] - images[:1]


def save_atoms(
    model: SparseVAEModel,
    path: str | Path,
    *,
    scale: float = 1.0,
    elements: torch.Tensor | None = None,
    title: str | None = None,
) -> Path:
    """A grid of the atoms, each scaled to [0, 1] around mid-grey by its largest magnitude."""
    atoms = atom_images(model, scale, elements)
    peak = atoms.flatten(1).abs().amax(1).clamp_min(1e-12)
    shown = 0.5 + 0.5 * atoms / peak[:, None, None, None]
    return save_image_grid(shown, path, title=title)
