"""The 16 fixed (codes, factors) inputs on which the ``disentanglement_lib`` protocol is compared
with that library's own code (tests/fixtures/disentanglement_lib/).

Two factor sets of ``N_ROWS`` rows, both seeded:

* ``toy``: a factor with 4 values, one with 6 values, a binary one, a uniform one, a
  spike-and-slab one (half exact zeros, so continuous) and a constant one;
* ``smiley``: Smiley's 4 attributes and the first source of each part (bow tie, hat, eyes,
  mouth), drawn by :func:`sparsevae.data.synthetic.smiley_factors`.

Run as a script, it writes them to one ``.npz`` (``NAME/codes``, ``NAME/factors``) for the
recorder, which runs where disentanglement_lib is importable and torch need not be.
"""

from __future__ import annotations

import sys

import numpy as np

from sparsevae.data.synthetic import smiley_factors

N_ROWS = 2000
SMILEY_COLUMNS = [0, 1, 2, 3, 4, 8, 14, 17]  # the 4 attributes, then sources 0, 4, 10 and 13
# DCI classifies every factor with 100 stages of boosted trees, one tree per class and stage: too
# slow for the default test run on all 16 inputs, above all on continuous factors (20 classes).
# These three, cut to their factors with few values (all rows, so that the held-out accuracy is
# not too coarse), are the fast check.
SMALL_DCI = {
    "toy/noise_0.5": [0, 2, 5],
    "toy/rotated_45_dead": [0, 2, 5],
    "smiley/noise_0.5": [0, 1, 2, 3],
}


def toy_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    columns = [
        rng.integers(0, 4, n),
        rng.integers(0, 6, n),
        rng.integers(0, 2, n),
        rng.uniform(0.0, 1.0, n),
        rng.uniform(0.2, 1.0, n) * rng.integers(0, 2, n),
        np.ones(n),
    ]
    return np.stack(columns, axis=1).astype(float)


def _standardised(factors: np.ndarray) -> np.ndarray:
    """The non-constant factors, each with mean 0 and standard deviation 1."""
    live = factors[:, factors.std(0) > 0]
    return (live - live.mean(0)) / live.std(0)


def _rotation(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(size, size)))[0]


def _toy_codes(rng: np.random.Generator, factors: np.ndarray) -> dict[str, np.ndarray]:
    n = len(factors)
    z = _standardised(factors)
    rotated = z @ _rotation(rng, z.shape[1])
    integer = factors[:, :5].copy()
    integer[:, 1] = np.array([0, 1, 2, 3, 4, 100])[factors[:, 1].astype(int)]
    return {
        "toy/identity": factors,
        "toy/random": rng.normal(size=(n, 6)),
        "toy/constant": np.ones((n, 6)),
        "toy/rotated": rotated,
        "toy/rotated_45_dead": np.concatenate([rotated, np.zeros((n, 45))], axis=1),
        "toy/noise_0.5": z + 0.5 * rng.normal(size=z.shape),
        "toy/noise_1.0": z + 1.0 * rng.normal(size=z.shape),
        "toy/duplicated": np.concatenate([factors, factors], axis=1),
        "toy/reversed_3_dead": np.concatenate([factors[:, ::-1], np.zeros((n, 3))], axis=1),
        "toy/integer_0_to_4_and_100": integer,
    }


def _smiley_codes(rng: np.random.Generator, factors: np.ndarray) -> dict[str, np.ndarray]:
    n = len(factors)
    z = _standardised(factors)
    attributes = factors[:, :4]
    # Each part's source, present only when its part is: a sparse code, 10 latents dead.
    gated = np.concatenate([attributes, factors[:, 4:] * attributes, np.zeros((n, 10))], axis=1)
    return {
        "smiley/identity": factors,
        "smiley/monotone": np.tanh(2 * z) + 0.1 * z**3,
        "smiley/entangled": np.tanh(z @ rng.normal(size=(z.shape[1], z.shape[1]))),
        "smiley/pairs": z + 0.5 * np.roll(z, 1, axis=1),
        "smiley/gated_10_dead": gated,
        "smiley/noise_0.5": z + 0.5 * rng.normal(size=z.shape),
    }


def build_inputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``name -> (codes (N, C), factors (N, F))`` for the 16 inputs, the same on every call."""
    rng = np.random.default_rng(20240601)
    toy = toy_factors(rng, N_ROWS)
    attributes, sources = smiley_factors(rng, N_ROWS)
    smiley = np.concatenate([attributes, sources], axis=1)[:, SMILEY_COLUMNS].astype(float)
    inputs = {name: (codes, toy) for name, codes in _toy_codes(rng, toy).items()}
    inputs.update({name: (codes, smiley) for name, codes in _smiley_codes(rng, smiley).items()})
    return inputs


def small_name(name: str) -> str:
    return f"{name} (factors {', '.join(map(str, SMALL_DCI[name]))})"


def build_small_inputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The inputs of ``SMALL_DCI`` with only the listed factors."""
    inputs = build_inputs()
    return {
        small_name(name): (inputs[name][0], inputs[name][1][:, kept])
        for name, kept in SMALL_DCI.items()
    }


if __name__ == "__main__":
    arrays = {}
    for name, (codes, factors) in {**build_inputs(), **build_small_inputs()}.items():
        arrays[f"{name}/codes"], arrays[f"{name}/factors"] = codes, factors
    np.savez(sys.argv[1], **arrays)
