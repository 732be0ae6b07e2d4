"""Image grids: layout of reconstructions, and PNGs written."""

from __future__ import annotations

import torch

from sparsevae.plots import image_grid, reconstruction_pairs, save_image_grid


def test_reconstruction_pairs_alternate_rows():
    originals = torch.zeros(16, 1, 4, 4)
    recons = torch.ones(16, 1, 4, 4)
    pairs = reconstruction_pairs(originals, recons, ncols=8)
    assert pairs.shape == (32, 1, 4, 4)
    assert pairs[:8].sum() == 0 and pairs[8:16].min() == 1 and pairs[16:24].sum() == 0


def test_reconstruction_pairs_with_fewer_examples_than_columns():
    pairs = reconstruction_pairs(torch.zeros(5, 1, 4, 4), torch.ones(5, 1, 4, 4), ncols=8)
    assert pairs.shape == (10, 1, 4, 4) and pairs[:5].sum() == 0 and pairs[5:].min() == 1


def test_image_grid_shape_and_png(tmp_path):
    grid = image_grid(torch.rand(6, 1, 5, 5), ncols=3, pad=1)
    assert grid.shape == (2 * 6 + 1, 3 * 6 + 1)
    path = save_image_grid(torch.rand(6, 3, 8, 8), tmp_path / "g.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
