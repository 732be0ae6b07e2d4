"""Figures (matplotlib, headless).  One module per kind of figure; the common ones re-exported."""

from .atoms import atom_images, save_atoms
from .grids import image_grid, reconstruction_pairs, save_image_grid
from .usage import plot_code_usage

__all__ = [
    "atom_images",
    "image_grid",
    "plot_code_usage",
    "reconstruction_pairs",
    "save_atoms",
    "save_image_grid",
]
