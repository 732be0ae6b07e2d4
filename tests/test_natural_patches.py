"""natural-patches: grey, whitened patches of scikit-image's bundled photographs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sparsevae
from sparsevae.data import DATASETS
from sparsevae.data import patches as natural
from sparsevae.errors import DataError


@pytest.fixture(scope="module")
def white() -> sparsevae.data.Dataset:
    return sparsevae.load_dataset("natural-patches", n_train=2000, n_test=500, seed=1)


@pytest.fixture(scope="module")
def raw() -> sparsevae.data.Dataset:
    return sparsevae.load_dataset("natural-patches", n_train=2000, n_test=500, whiten=False)


def test_shapes_values_and_factors(white):
    assert white.train_x.shape == (2000, 1, 16, 16) and white.test_x.shape == (500, 1, 16, 16)
    assert white.train_x.dtype == torch.float32
    assert white.train_y is None and white.num_classes == 0
    assert white.factor_names == ["photograph", "row", "column"]
    assert white.train_factors.shape == (2000, 3) and white.test_factors.shape == (500, 3)
    # The fixed map 0.5 + 0.1·w of unit-variance whitened photographs: centred, spread near 0.1.
    assert abs(float(white.train_x.mean()) - 0.5) < 0.01
    assert 0.07 < float(white.train_x.std()) < 0.13
    clipped = white.info["clipped_fraction"]
    assert 0 < clipped["train"] < 0.01 and 0 < clipped["test"] < 0.01
    assert float(white.train_x.min()) == 0.0 and float(white.train_x.max()) == 1.0  # clipped tails


def test_the_registered_shape_is_the_default_patch_size():
    spec = DATASETS["natural-patches"]
    options = spec.options()
    assert options["patch_size"] == 16 and options["whiten"] is True
    assert spec.shape == (1, options["patch_size"], options["patch_size"])
    assert not spec.needs_files


def test_split_is_by_photograph(white):
    train = {natural.PHOTOGRAPHS[int(k)] for k in white.train_factors[:, 0].unique()}
    test = {natural.PHOTOGRAPHS[int(k)] for k in white.test_factors[:, 0].unique()}
    assert train == set(natural.TRAIN_PHOTOGRAPHS) and test == set(natural.TEST_PHOTOGRAPHS)
    assert not train & test
    assert white.info["test_photographs"] == list(natural.TEST_PHOTOGRAPHS)


def test_patches_are_cut_where_the_factors_say(white, raw):
    for data, whiten in ((white, True), (raw, False)):
        images = natural.source_images(whiten)
        for x, (k, row, col) in zip(
            data.test_x[:20], data.test_factors[:20].long().tolist(), strict=True
        ):
            patch = images[k][row : row + 16, col : col + 16]
            expected = np.clip(0.5 + 0.1 * patch, 0, 1) if whiten else patch
            np.testing.assert_allclose(x[0].numpy(), expected, atol=1e-6)


def test_raw_patches_are_the_grey_photographs(raw):
    assert raw.info["scale"] == "luma(R, G, B) / 255" and "whitening" not in raw.info
    assert float(raw.train_x.min()) >= 0.0 and float(raw.train_x.max()) <= 1.0
    # Natural photographs, not noise: neighbouring pixels are strongly correlated.
    x = raw.train_x[:, 0]
    left, right = x[:, :, :-1].flatten(), x[:, :, 1:].flatten()
    assert float(torch.corrcoef(torch.stack([left, right]))[0, 1]) > 0.9


def test_seeded_and_deterministic():
    a = sparsevae.load_dataset("natural-patches", n_train=300, n_test=50, seed=4)
    b = sparsevae.load_dataset("natural-patches", n_train=300, n_test=50, seed=4)
    c = sparsevae.load_dataset("natural-patches", n_train=300, n_test=50, seed=5)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_x, b.test_x)
    assert not torch.equal(a.train_x, c.train_x)
    # More training patches: the same first ones, and the same test set.
    more = sparsevae.load_dataset("natural-patches", n_train=600, n_test=50, seed=4)
    assert torch.equal(more.train_x[:300], a.train_x) and torch.equal(more.test_x, a.test_x)


def _band_drop(x: torch.Tensor) -> float:
    """Decades the mean power falls from 0.04–0.08 to 0.16–0.24 cycles/pixel (Hann window)."""
    patches = x[:, 0].double().numpy()
    n = patches.shape[-1]
    patches = (patches - patches.mean(axis=(1, 2), keepdims=True)) * np.outer(
        np.hanning(n), np.hanning(n)
    )
    power = (np.abs(np.fft.fft2(patches)) ** 2).mean(0)
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    low = power[(radius > 0.04) & (radius < 0.08)].mean()
    mid = power[(radius > 0.16) & (radius < 0.24)].mean()
    return float(np.log10(low / mid))


def test_whitening_flattens_the_spectrum():
    kwargs = {"patch_size": 32, "n_train": 1500, "n_test": 10}
    raw = sparsevae.load_dataset("natural-patches", whiten=False, **kwargs)
    white = sparsevae.load_dataset("natural-patches", **kwargs)
    raw_drop, white_drop = _band_drop(raw.train_x), _band_drop(white.train_x)
    # Raw photographs lose over an order of magnitude of power across the bands (≈ 1/f² or
    # steeper); whitened ones lose a small fraction of that.
    assert raw_drop > 1.2
    assert white_drop < 0.45 * raw_drop


def test_whitening_filter_gains_follow_olshausen_field():
    # Two gratings of equal amplitude: the filter scales each by R(f) = f·exp(−(f/f0)⁴).
    size, low, high = 256, 8 / 256, 64 / 256  # cycles/pixel
    x = np.arange(size)
    image = np.tile(np.cos(2 * np.pi * low * x) + np.cos(2 * np.pi * high * x), (size, 1))
    inner = slice(64, 192)  # away from the borders, where the reflection is not exact
    filtered = natural.whiten_image(image)[inner, inner].mean(0)
    basis = np.stack([np.cos(2 * np.pi * f * x[inner]) for f in (low, high)], axis=1)
    gain_low, gain_high = np.linalg.lstsq(basis, filtered, rcond=None)[0]

    def response(f: float) -> float:
        return f * np.exp(-((f / natural.WHITEN_F0) ** 4))

    assert gain_high / gain_low == pytest.approx(response(high) / response(low), rel=0.03)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"patch_size": 301}, "larger than the smallest photograph"),
        ({"patch_size": 1}, "patch_size must be an integer ≥ 2"),
        ({"patch_size": 8.5}, "patch_size must be an integer"),
        ({"n_train": 0}, "n_train must be an integer ≥ 1"),
        ({"n_test": -3}, "n_test must be an integer ≥ 1"),
        ({"whiten": "yes"}, "whiten must be true or false"),
        ({"seed": -1}, "seed must be an integer ≥ 0"),
        ({"size": 16}, "has no option 'size'"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(DataError, match=message) as caught:
        sparsevae.load_dataset("natural-patches", **options)
    assert "\n" not in str(caught.value)


def test_the_largest_patch_fits_the_smallest_photograph():
    data = sparsevae.load_dataset("natural-patches", patch_size=300, n_train=2, n_test=2)
    assert data.shape == (1, 300, 300)


def test_missing_scikit_image_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    natural.photographs.cache_clear()
    natural.source_images.cache_clear()
    try:
        with pytest.raises(DataError, match=r'pip install "sparsevae\[patches\]"'):
            sparsevae.load_dataset("natural-patches", n_train=10, n_test=10)
    finally:
        natural.photographs.cache_clear()
        natural.source_images.cache_clear()


def test_photographs_load_without_network(tmp_path: Path):
    """Every photograph ships in scikit-image's wheel: none is fetched (empty cache, no sockets)."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from sparsevae.data.patches import PHOTOGRAPHS, photographs\n"
        "assert len(photographs()) == len(PHOTOGRAPHS)\n"
    )
    env = {**os.environ, "SKIMAGE_DATADIR": str(tmp_path / "skimage-cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "skimage-cache").exists() or not any(
        (tmp_path / "skimage-cache").rglob("*.*")
    )
