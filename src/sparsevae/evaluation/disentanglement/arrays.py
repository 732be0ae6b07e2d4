"""What every disentanglement metric shares: input checks, the two protocols, discretisation,
train/test splits, and which factors and latents are constant."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConfigError, DataError

PROTOCOLS = ("sparsevae", "disentanglement_lib")
# Factors (and, under the sparsevae protocol, codes) with at most this many distinct integer
# values are class labels; other columns are discretised into histogram bins where needed.
MAX_DISCRETE_VALUES = 20
# Held-out share of the rows: a seeded random split (sparsevae), the last rows (disentanglement_lib).
TEST_FRACTION = {"sparsevae": 0.3, "disentanglement_lib": 0.2}


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return protocol


def as_arrays(codes: Any, factors: Any) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (N, C) and ``factors`` (N, F) as float arrays (tensors and 1-D input accepted)."""
    codes = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes, dtype=float)
    factors = np.asarray(
        factors.detach().cpu() if hasattr(factors, "detach") else factors, dtype=float
    )
    if codes.ndim == 1:
        codes = codes[:, None]
    if factors.ndim == 1:
        factors = factors[:, None]
    if codes.ndim != 2 or factors.ndim != 2:
        raise DataError(
            f"codes and factors must be 2-D (N, C) and (N, F), got {codes.shape} and {factors.shape}"
        )
    if len(codes) != len(factors):
        raise DataError(f"{len(codes)} codes but {len(factors)} factor rows")
    if len(codes) < 10:
        raise DataError(f"disentanglement metrics need at least 10 examples, got {len(codes)}")
    if not (np.isfinite(codes).all() and np.isfinite(factors).all()):
        raise DataError("codes and factors must be finite")
    return codes, factors


def constant_columns(array: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns that take one value on every row."""
    return np.ptp(array, axis=0) <= 0


def live_factors(factors: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Indices of the factors that vary, and of the constant ones.  The rule for every metric and protocol: a constant
    factor has nothing to predict or to be informative about, so it is skipped (NaN in the
    per-factor results, left out of the averages, listed in ``skipped_factors``)."""
    constant = constant_columns(factors)
    if constant.all():
        raise DataError("every factor is constant: there is nothing to score")
    return np.flatnonzero(~constant), np.flatnonzero(constant).tolist()


def is_discrete(column: np.ndarray, max_values: int = MAX_DISCRETE_VALUES) -> bool:
    values = np.unique(column)
    return len(values) <= max_values and bool(np.all(values == np.round(values)))


def histogram_bins(column: np.ndarray, n_bins: int) -> np.ndarray:
    """Labels 1..n_bins of equal-width bins over the column's range (disentanglement_lib's
    ``_histogram_discretize``; the maximum falls in the last bin)."""
    return np.digitize(column, np.histogram(column, bins=n_bins)[1][:-1])


def discretize(column: np.ndarray, n_bins: int) -> np.ndarray:
    """Labels: the values themselves for a discrete column, histogram bins otherwise."""
    if is_discrete(column, n_bins):
        return column
    return histogram_bins(column, n_bins)


def split(
    n: int, protocol: str, test_fraction: float | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices: a seeded permutation (sparsevae) or the first rows for
    training (disentanglement_lib, whose ``split_train_test`` rounds the training share up)."""
    fraction = TEST_FRACTION[protocol] if test_fraction is None else test_fraction
    if not 0 < fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {fraction}")
    if protocol == "disentanglement_lib":
        n_train = int(np.ceil(n * (1 - fraction)))
        if n_train >= n:
            raise ConfigError(f"test_fraction {fraction} leaves no test rows out of {n}")
        return np.arange(n_train), np.arange(n_train, n)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * fraction))
    return order[n_test:], order[:n_test]
