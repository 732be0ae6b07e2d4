"""Synthetic data sets with known generating factors: ``smiley`` (VSC, UAI 2019) and ``templates``.

Both are generated on demand from a seed, so any number of examples can be drawn and the same
options always give the same tensors.  The train and test sets come from two independent random
streams spawned from the seed, so the test set does not change when ``n_train`` does.

Rendering is vectorised over the batch (coordinate grids broadcast against per-image parameters)
and done in chunks to bound memory: 80,000 smileys take a few seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset
from .registry import register_dataset

# ----------------------------------------------------------------------------------------------
# smiley

SMILEY_SIZE = 32
SMILEY_ATTRIBUTES = ("bow_tie", "hat", "eyes", "mouth")
# The 18 continuous sources in the order of the supplement (D.2): bow tie 4, hat 6, eyes 3, mouth 5.
SMILEY_SOURCES = (
    ("bow_tie", ("centre_x", "centre_y", "width", "height")),
    ("hat", ("centre_x", "centre_y", "brim_width", "brim_height", "crown_width", "crown_height")),
    ("eyes", ("spacing", "height", "radius")),
    ("mouth", ("half_width", "half_height", "centre_x", "centre_y", "corners")),
)
SMILEY_FACTOR_NAMES = [*SMILEY_ATTRIBUTES] + [
    f"{part}.{source}" for part, sources in SMILEY_SOURCES for source in sources
]
# The attribute (index into SMILEY_ATTRIBUTES) each of the 18 sources belongs to.
SMILEY_SOURCE_ATTRIBUTE = np.array(
    [SMILEY_ATTRIBUTES.index(part) for part, sources in SMILEY_SOURCES for _ in sources]
)
SMILEY_CHUNK = 8192  # images rendered at once: bounds the boolean masks to ~8 MB each

# Pixel coordinates are 1-based (1..32), as in the supplement: 16.5 is the exact middle.
_COLS = np.arange(1, SMILEY_SIZE + 1, dtype=np.float32)[None, None, :]  # x, left → right
_ROWS = np.arange(1, SMILEY_SIZE + 1, dtype=np.float32)[None, :, None]  # y, top → bottom
FACE_CENTRE = 16.5
FACE_RADIUS = 10.0


def _rect(cx: np.ndarray, cy: np.ndarray, half_w: np.ndarray, half_h: np.ndarray) -> np.ndarray:
    """Pixels whose centre lies in the axis-aligned rectangle (per image, broadcast)."""
    return (np.abs(_COLS - cx) <= half_w) & (np.abs(_ROWS - cy) <= half_h)


def _disc(cx: np.ndarray, cy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    return (_COLS - cx) ** 2 + (_ROWS - cy) ** 2 <= radius**2


def _col(a: np.ndarray) -> np.ndarray:
    """(N,) → (N, 1, 1) so that per-image values broadcast against the pixel grid."""
    return a.astype(np.float32)[:, None, None]


def render_smileys(attributes: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Images ``(N, 32, 32)`` in {0, 1} from attributes ``(N, 4)`` in {0, 1} and sources ``(N, 18)``.

    ``sources`` are the v's of the supplement (each 0.5·N(0, 1)); the scalings below are its
    formulas.  Where the supplement is silent we chose (and ``docs/datasets.md`` records):
    bow-tie size is its full width × height, a horizontal hourglass of two triangles meeting at
    its centre; the hat is a brim (the large rectangle, full width × height, centred on the hat's
    centre) with the crown (the small rectangle) standing on it; the mouth's lx, ly are
    half-extents; each mouth corner is two 2×2-pixel holes beside the mouth, the inner one raised
    by 2·v5 and the outer one by 2·1.4·v5 pixels (v5 > 0 smiles, v5 < 0 frowns).
    """
    n = len(attributes)
    present = attributes.astype(bool)
    v = [_col(sources[:, i]) for i in range(sources.shape[1])]
    face = _disc(np.float32(FACE_CENTRE), np.float32(FACE_CENTRE), np.float32(FACE_RADIUS))
    image = np.broadcast_to(face, (n, SMILEY_SIZE, SMILEY_SIZE)).copy()

    def where(mask: np.ndarray, which: int) -> np.ndarray:
        return mask & present[:, which, None, None]

    # Bow tie (v1..v4 = sources 0..3): centre (16.5 + 0.5·v1, 29 + v2), size (12 + 3·v3, 5 + 2·v4).
    cx, cy = FACE_CENTRE + 0.5 * v[0], 29.0 + v[1]
    half_w = np.maximum((12.0 + 3.0 * v[2]) / 2.0, 0.5)
    half_h = np.maximum((5.0 + 2.0 * v[3]) / 2.0, 0.5)
    dx, dy = np.abs(_COLS - cx), np.abs(_ROWS - cy)
    bow_tie = (dx <= half_w) & (dy <= half_h * dx / half_w + 0.5)  # +0.5: the knot is one pixel
    image |= where(bow_tie, 0)

    # Hat (sources 4..9): centre (16.5 + v1, 6 + v2), brim (15 + 3·v3, 2 + 2·v4),
    # crown (10 + 2·v5, 2 + v6) standing on the brim.
    cx, cy = FACE_CENTRE + v[4], 6.0 + v[5]
    brim_hw = np.maximum((15.0 + 3.0 * v[6]) / 2.0, 0.5)
    brim_hh = np.maximum((2.0 + 2.0 * v[7]) / 2.0, 0.5)
    crown_hw = np.maximum((10.0 + 2.0 * v[8]) / 2.0, 0.5)
    crown_hh = np.maximum((2.0 + v[9]) / 2.0, 0.5)
    hat = _rect(cx, cy, brim_hw, brim_hh) | _rect(cx, cy - brim_hh - crown_hh, crown_hw, crown_hh)
    image |= where(hat, 1)

    # Eyes (sources 10..12): holes at (16.5 ∓ (4 + v1), 14 + v2), radius 2 + v3.
    spacing, ey = 4.0 + v[10], 14.0 + v[11]
    radius = np.maximum(2.0 + v[12], 0.5)
    eyes = _disc(FACE_CENTRE - spacing, ey, radius) | _disc(FACE_CENTRE + spacing, ey, radius)
    image &= ~where(eyes, 2)

    # Mouth (sources 13..17): rectangle hole, half-extents lx = 4 + v1, ly = 2 + v2,
    # at (16 + 0.5·v3, 22 + 0.5·v4); corner holes raised by 2·v5 (inner) and 2·1.4·v5 (outer).
    lx, ly = np.maximum(4.0 + v[13], 0.5), np.maximum(2.0 + v[14], 0.5)
    mx, my = 16.0 + 0.5 * v[15], 22.0 + 0.5 * v[16]
    one = np.float32(1.0)
    mouth = _rect(mx, my, lx, ly)
    for offset, lift in ((1.0, 2.0 * v[17]), (3.0, 2.0 * 1.4 * v[17])):
        for side in (-1.0, 1.0):
            mouth |= _rect(mx + side * (lx + offset), my - lift, one, one)
    image &= ~where(mouth, 3)
    return image


def smiley_factors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Attributes ``(n, 4)`` (each present with probability 0.5) and sources ``(n, 18)``.

    One normal draw per factor, example by example: an attribute is present when its draw is
    positive.  So the first k examples of a set of n are the set of k (same seed), and a smaller
    set is a prefix of a larger one.
    """
    draws = rng.standard_normal((n, len(SMILEY_ATTRIBUTES) + 18)).astype(np.float32)
    attributes = (draws[:, : len(SMILEY_ATTRIBUTES)] > 0).astype(np.float32)
    sources = 0.5 * draws[:, len(SMILEY_ATTRIBUTES) :]
    return attributes, sources


def gate_smiley_sources(factors: np.ndarray) -> np.ndarray:
    """The identifiable view of Smiley's 22 factors ``(n, 22)``: the 4 attributes, then each
    source set to 0 where its attribute is absent (a source of an absent part leaves no trace in
    the image, so no code can predict it)."""
    factors = np.asarray(factors)
    attributes = factors[:, : len(SMILEY_ATTRIBUTES)]
    gated = factors[:, len(SMILEY_ATTRIBUTES) :] * attributes[:, SMILEY_SOURCE_ATTRIBUTE]
    return np.concatenate([attributes, gated], axis=1)


def generate_smileys(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` smiley images ``(n, 1, 32, 32)`` float32 in {0, 1} and their factors ``(n, 22)``."""
    attributes, sources = smiley_factors(rng, n)
    images = np.empty((n, 1, SMILEY_SIZE, SMILEY_SIZE), dtype=np.float32)
    for start in range(0, n, SMILEY_CHUNK):
        stop = min(start + SMILEY_CHUNK, n)
        images[start:stop, 0] = render_smileys(attributes[start:stop], sources[start:stop])
    return images, np.concatenate([attributes, sources], axis=1)


def _check_count(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_seed(seed: object) -> int:
    return _check_count(seed, "seed", minimum=0)


def _synthetic_dataset(
    name: str,
    generate: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
    n_train: int,
    n_test: int,
    seed: int,
    factor_names: list[str],
    info: dict,
) -> Dataset:
    # Two independent streams: the test set does not depend on n_train.
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train_x, train_f = generate(np.random.default_rng(train_seq), n_train)
    test_x, test_f = generate(np.random.default_rng(test_seq), n_test)
    return Dataset(
        name,
        torch.from_numpy(train_x),
        torch.from_numpy(test_x),
        train_factors=torch.from_numpy(train_f.astype(np.float32)),
        test_factors=torch.from_numpy(test_f.astype(np.float32)),
        factor_names=factor_names,
        info=info,
    )


@register_dataset(
    "smiley",
    shape=(1, 32, 32),
    sizes=(60000, 20000),
    description="VSC (UAI 2019) synthetic smileys: 4 binary attributes, 18 continuous sources "
    "(generated, seeded; options n_train, n_test, seed, l2_normalise)",
)
def load_smiley(
    n_train: int = 60000, n_test: int = 20000, seed: int = 0, l2_normalise: bool = False
) -> Dataset:
    """Smiley images in {0, 1}; with ``l2_normalise`` each image divided by its L2 norm, as the
    authors' notebook trains (the values are then small: about 1/20 for a pixel that is on)."""
    n_train, n_test = _check_count(n_train, "n_train"), _check_count(n_test, "n_test")
    seed = _check_seed(seed)
    if not isinstance(l2_normalise, bool):
        raise DataError(f"l2_normalise must be true or false, got {l2_normalise!r}")
    info = {"generator": "smiley", "n_train": n_train, "n_test": n_test, "seed": seed}
    if l2_normalise:
        info["l2_normalise"] = True
    data = _synthetic_dataset(
        "smiley", generate_smileys, n_train, n_test, seed, list(SMILEY_FACTOR_NAMES), info=info
    )
    if not l2_normalise:
        return data
    return dataclasses.replace(data, train_x=unit_l2(data.train_x), test_x=unit_l2(data.test_x))


def unit_l2(images: torch.Tensor) -> torch.Tensor:
    """Each image divided by its L2 norm (a smiley always has the face's pixels on: no norm is 0)."""
    return images / images.flatten(1).norm(dim=1).reshape(-1, *[1] * (images.dim() - 1))


# ----------------------------------------------------------------------------------------------
# templates

TEMPLATE_SEED = 20190501  # the templates are fixed: one pattern set per (size, count)
TEMPLATE_DENSITY = 0.3  # fraction of a template's pixels that are on


def make_templates(image_size: int, n_templates: int) -> np.ndarray:
    """``n_templates`` fixed binary patterns ``(K, size, size)``, the same on every call.

    Each is a random set of about 30% of the pixels, drawn from a fixed seed and redrawn until
    no two templates are identical, so every weight has a distinct effect on the image.
    """
    rng = np.random.default_rng([TEMPLATE_SEED, image_size, n_templates])
    while True:
        templates = (rng.random((n_templates, image_size, image_size)) < TEMPLATE_DENSITY).astype(
            np.float32
        )
        flat = templates.reshape(n_templates, -1)
        if flat.sum(1).min() > 0 and len(np.unique(flat, axis=0)) == n_templates:
            return templates


def generate_templates(
    rng: np.random.Generator,
    n: int,
    templates: np.ndarray,
    noise: float,
    active_prob: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``clip(Σ_k w_k T_k + noise·ε, 0, 1)`` and their weights ``w`` ``(n, K)``.

    Each weight is zero (template absent) with probability 1 − ``active_prob`` and otherwise
    uniform in [0.2, 1] — a spike-and-slab code, so only a few templates make up each image.
    """
    k = len(templates)
    active = rng.random((n, k)) < active_prob
    weights = np.where(active, rng.uniform(0.2, 1.0, (n, k)), 0.0).astype(np.float32)
    clean = np.einsum("nk,khw->nhw", weights, templates)
    noisy = clean + noise * rng.standard_normal(clean.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)[:, None], weights


@register_dataset(
    "templates",
    shape=(1, 10, 10),
    sizes=(10000, 2000),
    description="sparse-VAE slides' synthetic task: weighted sums of a few fixed templates plus "
    "Gaussian noise (options image_size 10|5|…, n_templates, noise, active_prob, n_train, "
    "n_test, seed)",
)
def load_templates(
    image_size: int = 10,
    n_templates: int = 8,
    noise: float = 0.05,
    active_prob: float = 0.3,
    n_train: int = 10000,
    n_test: int = 2000,
    seed: int = 0,
) -> Dataset:
    image_size = _check_count(image_size, "image_size", minimum=2)
    n_templates = _check_count(n_templates, "n_templates")
    if n_templates > 2 ** (image_size * image_size) // 2:
        raise DataError(f"n_templates={n_templates} is too many for {image_size}×{image_size}")
    if not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise DataError(f"noise must be a standard deviation in [0, 1], got {noise!r}")
    if not isinstance(active_prob, (int, float)) or not 0.0 < active_prob <= 1.0:
        raise DataError(f"active_prob must be in (0, 1], got {active_prob!r}")
    n_train, n_test = _check_count(n_train, "n_train"), _check_count(n_test, "n_test")
    seed = _check_seed(seed)
    templates = make_templates(image_size, n_templates)

    def generate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return generate_templates(rng, n, templates, float(noise), float(active_prob))

    return _synthetic_dataset(
        "templates",
        generate,
        n_train,
        n_test,
        seed,
        [f"weight_{k}" for k in range(n_templates)],
        info={
            "generator": "templates",
            "image_size": image_size,
            "n_templates": n_templates,
            "noise": float(noise),
            "active_prob": float(active_prob),
            "n_train": n_train,
            "n_test": n_test,
            "seed": seed,
        },
    )
