"""``natural-patches``: grey patches of photographs, the data of sparse coding (Olshausen & Field).

The photographs are the ones scikit-image bundles in its wheel (no download): natural scenes,
objects and textures; its synthetic, text, diagram, microscopy and medical images are left out.
The split is by photograph: test patches come from photographs no training patch comes from.

Whitening follows Olshausen & Field (1996, 1997): each photograph is filtered in the Fourier
domain with R(f) = f·exp(−(f/f0)⁴) — f flattens the 1/f amplitude spectrum of natural images,
the exponential rolls off the corner frequencies where aliasing and noise live — and scaled to
unit variance.  Both steps use one photograph at a time, so nothing is fitted across the split.
Whitened values are signed and heavy-tailed; the fixed map ``x = 0.5 + 0.1·w`` (clipped) puts
±5 standard deviations into [0, 1], and a Gaussian likelihood is the right model for them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from types import ModuleType

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .public import LUMA
from .registry import register_dataset
from .synthetic import _check_count, _check_seed

# scikit-image's bundled photographs (skimage.data.NAME(); "motorcycle" is the left view of
# stereo_motorcycle).  Left out: text, page (text); horse, logo, colorwheel, checkerboard,
# binary_blobs, shepp_logan_phantom (synthetic or diagrams); cell, immunohistochemistry,
# microaneurysms, retina (microscopy, medical); hubble_deep_field (black sky with point
# stars); clock (smeared by camera motion in one direction); the right motorcycle view (the same
# scene as the left); lfw_subset (25×25 faces, too small to cut patches from).
PHOTOGRAPHS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "moon",
    "motorcycle",
    "rocket",
)
# A fixed split by photograph: an object, a texture and an outdoor night scene are held out.
TEST_PHOTOGRAPHS = ("coffee", "gravel", "rocket")
TRAIN_PHOTOGRAPHS = tuple(p for p in PHOTOGRAPHS if p not in TEST_PHOTOGRAPHS)

WHITEN_F0 = 200 / 512  # cycles/pixel: Olshausen & Field's 200 cycles/picture on 512×512 images
WHITEN_PAD = 32  # reflected border, so the FFT's wrap-around puts no false edges at the borders
WHITE_SCALE = 0.1  # x = 0.5 + 0.1·w: ±5 standard deviations of a whitened photograph fill [0, 1]
MISSING_SKIMAGE = 'natural-patches needs scikit-image: pip install "sparsevae[patches]"'


def _skimage_data() -> ModuleType:
    """``skimage.data``, imported only when the set is loaded (scikit-image is optional)."""
    try:
        import skimage.data
    except ImportError:
        raise DataError(MISSING_SKIMAGE) from None
    return skimage.data


def _skimage_version() -> str:
    from skimage import __version__

    return __version__


@lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """The photographs of ``PHOTOGRAPHS`` as shipped (uint8, grey or RGB), read-only."""
    data = _skimage_data()
    images = []
    for name in PHOTOGRAPHS:
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        image.setflags(write=False)
        images.append(image)
    return tuple(images)


def to_grey(image: np.ndarray) -> np.ndarray:
    """An 8-bit photograph as grey float64 in [0, 1] (ITU-R BT.601 luma of RGB)."""
    grey = image.astype(np.float64) / 255.0
    return grey[..., :3] @ LUMA.astype(np.float64) if grey.ndim == 3 else grey


def whiten_image(image: np.ndarray, f0: float = WHITEN_F0) -> np.ndarray:
    """``image`` filtered with R(f) = f·exp(−(f/f0)⁴) (f in cycles/pixel), at unit variance."""
    padded = np.pad(image - image.mean(), WHITEN_PAD, mode="reflect")
    fy = np.fft.fftfreq(padded.shape[0])[:, None]
    fx = np.fft.rfftfreq(padded.shape[1])[None, :]
    radius = np.hypot(fy, fx)
    response = radius * np.exp(-((radius / f0) ** 4))
    filtered = np.fft.irfft2(np.fft.rfft2(padded) * response, s=padded.shape)
    white = filtered[WHITEN_PAD:-WHITEN_PAD, WHITEN_PAD:-WHITEN_PAD]
    return white / white.std()


@lru_cache(maxsize=2)
def source_images(whiten: bool) -> tuple[np.ndarray, ...]:
    """The photographs grey (float32), whitened or not, read-only, kept in memory."""
    images = []
    for photograph in photographs():
        grey = to_grey(photograph)
        image = (whiten_image(grey) if whiten else grey).astype(np.float32)
        image.setflags(write=False)
        images.append(image)
    return tuple(images)


def cut_patches(
    images: list[np.ndarray], n: int, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random ``size``×``size`` patches ``(n, size, size)`` and where they came from.

    Every patch position of every image is equally likely (larger photographs give more
    patches).  One draw per patch, so with the same generator the first k of n are the set of k.
    Returns the patches and ``(n, 3)`` integers: the image's index in ``images``, row, column.
    """
    columns = np.array([im.shape[1] - size + 1 for im in images])
    counts = np.array([(im.shape[0] - size + 1) for im in images]) * columns
    starts = np.concatenate([[0], np.cumsum(counts)])
    position = rng.integers(0, starts[-1], n)
    which = np.searchsorted(starts, position, side="right") - 1
    rows, cols = np.divmod(position - starts[which], columns[which])
    patches = np.empty((n, size, size), dtype=np.float32)
    for k, image in enumerate(images):
        mine = which == k
        windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))
        patches[mine] = windows[rows[mine], cols[mine]]
    return patches, np.stack([which, rows, cols], axis=1)


def to_unit_interval(white: np.ndarray) -> tuple[np.ndarray, float]:
    """The fixed map ``clip(0.5 + WHITE_SCALE·w, 0, 1)`` and the fraction of values it clipped."""
    x = white * np.float32(WHITE_SCALE)
    x += np.float32(0.5)
    clipped = float(np.count_nonzero((x < 0.0) | (x > 1.0))) / x.size
    return np.clip(x, 0.0, 1.0, out=x), clipped


def _check_patch_options(patch_size: object, whiten: object) -> tuple[int, bool]:
    size = _check_count(patch_size, "patch_size", minimum=2)
    if not isinstance(whiten, bool):
        raise DataError(f"whiten must be true or false, got {whiten!r}")
    return size, whiten


def _check_fits(size: int, images: tuple[np.ndarray, ...]) -> None:
    smallest = min(range(len(images)), key=lambda k: min(images[k].shape))
    height, width = images[smallest].shape
    if size > min(height, width):
        raise DataError(
            f"patch_size={size} is larger than the smallest photograph "
            f"({PHOTOGRAPHS[smallest]}, {height}×{width}); use at most {min(height, width)}"
        )


def _digest() -> str:
    """A short SHA-256 of the photographs' pixels: runs with the same digest saw the same data."""
    digest = hashlib.sha256()
    for image in photographs():
        digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:16]


def _info(size: int, n_train: int, n_test: int, whiten: bool, seed: int) -> dict:
    """What a run records: the options, the photographs of each split and the map to [0, 1]."""
    info = {
        "generator": "natural-patches",
        "patch_size": size,
        "n_train": n_train,
        "n_test": n_test,
        "whiten": whiten,
        "seed": seed,
        "train_photographs": list(TRAIN_PHOTOGRAPHS),
        "test_photographs": list(TEST_PHOTOGRAPHS),
        "source": f"scikit-image {_skimage_version()} bundled photographs, sha256 {_digest()}",
        "scale": "luma(R, G, B) / 255",
    }
    if whiten:
        info["whitening"] = (
            f"each photograph filtered with R(f) = f·exp(-(f/f0)^4), f0 = {WHITEN_F0} "
            "cycles/pixel, then scaled to unit variance (w)"
        )
        info["scale"] = f"x = clip(0.5 + {WHITE_SCALE}·w, 0, 1)"
    return info


def _split(
    images: tuple[np.ndarray, ...],
    names: tuple[str, ...],
    n: int,
    size: int,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, np.ndarray]:
    """Patches ``(n, 1, size, size)`` of the photographs ``names``, and their factors ``(n, 3)``
    with the photograph as its index in ``PHOTOGRAPHS``."""
    indices = np.array([PHOTOGRAPHS.index(name) for name in names])
    patches, where = cut_patches([images[k] for k in indices], n, size, np.random.default_rng(seed))
    where[:, 0] = indices[where[:, 0]]
    return patches[:, None], where.astype(np.float32)


@register_dataset(
    "natural-patches",
    shape=(1, 16, 16),
    sizes=(50000, 10000),
    description="grey patches of scikit-image's bundled photographs, whitened as in Olshausen & "
    "Field (built in, no download; needs sparsevae[patches]; options patch_size, n_train, "
    "n_test, whiten, seed)",
)
def load_natural_patches(
    patch_size: int = 16,
    n_train: int = 50000,
    n_test: int = 10000,
    whiten: bool = True,
    seed: int = 0,
) -> Dataset:
    size, whiten = _check_patch_options(patch_size, whiten)
    n_train, n_test = _check_count(n_train, "n_train"), _check_count(n_test, "n_test")
    seed = _check_seed(seed)
    images = source_images(whiten)
    _check_fits(size, images)
    # Two independent streams: the test patches do not depend on n_train.
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    train_x, train_f = _split(images, TRAIN_PHOTOGRAPHS, n_train, size, train_seed)
    test_x, test_f = _split(images, TEST_PHOTOGRAPHS, n_test, size, test_seed)
    info = _info(size, n_train, n_test, whiten, seed)
    if whiten:
        train_x, clipped_train = to_unit_interval(train_x)
        test_x, clipped_test = to_unit_interval(test_x)
        info["clipped_fraction"] = {"train": clipped_train, "test": clipped_test}
    return Dataset(
        "natural-patches",
        torch.from_numpy(train_x),
        torch.from_numpy(test_x),
        train_factors=torch.from_numpy(train_f),
        test_factors=torch.from_numpy(test_f),
        factor_names=["photograph", "row", "column"],
        info=info,
    )
