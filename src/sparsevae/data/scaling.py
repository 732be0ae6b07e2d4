"""Scalings: how values are mapped into [0, 1], fitted on training data and recorded.

One implementation for the user's own data sets (``Dataset.info["scaling"]``, kept in a run's
config so new data are mapped the same way) and the scikit-learn estimators (``scale=``).
Values outside the fitted range are clipped to [0, 1].  A scaling is a JSON-able dict:

* ``{"kind": "none"}`` — floats already in [0, 1] (booleans too);
* ``{"kind": "divide", "by": 255}`` — 8-bit data (``by`` 65535 for 16-bit);
* ``{"kind": "minmax", "min": lo, "max": hi}`` — one range for all values (images);
* ``{"kind": "minmax-per-feature", "min": [...], "max": [...]}`` — one range per feature (CSV).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

SCALING_KINDS = ("none", "divide", "minmax", "minmax-per-feature")


def infer_scaling(train: np.ndarray, kind: str = "auto", per_feature: bool = False) -> dict:
    """The scaling of ``kind`` that maps the training values into [0, 1]; ``"auto"`` picks one
    from the dtype and range (``per_feature``: one range per feature where a range is needed)."""
    if kind not in ("auto", *SCALING_KINDS):
        raise DataError(
            f"scaling must be 'auto' or one of {', '.join(SCALING_KINDS)}, got {kind!r}"
        )
    if kind == "auto":
        if train.dtype == np.bool_:
            kind = "none"
        elif train.dtype == np.uint8:
            return {"kind": "divide", "by": 255.0}
        elif train.dtype == np.uint16:
            return {"kind": "divide", "by": 65535.0}
        elif np.issubdtype(train.dtype, np.floating) and train.min() >= 0 and train.max() <= 1:
            kind = "none"
        else:
            kind = "minmax-per-feature" if per_feature else "minmax"
    if kind == "none":
        return {"kind": "none"}
    if kind == "divide":
        return {
            "kind": "divide",
            "by": float(np.iinfo(train.dtype).max)
            if np.issubdtype(train.dtype, np.integer)
            else float(train.max()),
        }
    values = train.astype(np.float64)
    if kind == "minmax":
        return {"kind": "minmax", "min": float(values.min()), "max": float(values.max())}
    flat = values.reshape(len(values), -1)
    return {
        "kind": "minmax-per-feature",
        "min": flat.min(axis=0).tolist(),
        "max": flat.max(axis=0).tolist(),
    }


def check_scaling(scaling: Any) -> dict | str:
    """A recorded scaling dict, or a kind name for :func:`infer_scaling`, checked."""
    if isinstance(scaling, str):
        return scaling
    if not isinstance(scaling, dict) or scaling.get("kind") not in SCALING_KINDS:
        raise DataError(
            f"scaling must be 'auto', one of {', '.join(SCALING_KINDS)}, or a recorded scaling "
            f"dict; got {scaling!r}"
        )
    return scaling


def unit_map(scaling: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, divisor)`` with ``(x - offset) / divisor`` the scaling's map (before clipping);
    1-D float64 arrays, one entry per feature for ``minmax-per-feature``.  A constant feature
    (no range) gets divisor 1, so that it maps to 0."""
    kind = scaling["kind"]
    if kind == "none":
        return np.zeros(1), np.ones(1)
    if kind == "divide":
        return np.zeros(1), np.array([float(scaling["by"])])
    low = np.atleast_1d(np.asarray(scaling["min"], np.float64))
    high = np.atleast_1d(np.asarray(scaling["max"], np.float64))
    return low, np.where(high > low, high - low, 1.0)


def apply_scaling(values: np.ndarray, scaling: dict, what: str) -> np.ndarray:
    """``values`` mapped into [0, 1] by ``scaling`` as float32 (outside the fitted range: clipped)."""
    x = values.astype(np.float64)
    kind = scaling["kind"]
    if kind == "divide" and float(scaling["by"]) <= 0:
        raise DataError(f"{what}: scaling divides by {float(scaling['by'])}")
    offset, divisor = unit_map(scaling)
    if kind == "divide":
        x = x / divisor[0]
    elif kind == "minmax":
        x = (x - offset[0]) / divisor[0]
    elif kind == "minmax-per-feature":
        x = (_per_feature(x, offset, what) - offset) / divisor
        x = x.reshape(values.shape)
    if not np.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def invert_scaling(unit: np.ndarray, scaling: dict) -> np.ndarray:
    """Values in [0, 1] mapped back to the units ``scaling`` was fitted on (float64)."""
    offset, divisor = unit_map(scaling)
    if scaling["kind"] == "minmax-per-feature":
        flat = _per_feature(unit, offset, "values to map back")
        return (flat * divisor + offset).reshape(unit.shape)
    return unit * divisor + offset


def _per_feature(x: np.ndarray, offset: np.ndarray, what: str) -> np.ndarray:
    """``x`` as rows of features, refused unless there is one per fitted range."""
    flat = x.reshape(len(x), -1)
    if offset.shape != flat.shape[1:]:
        raise DataError(
            f"{what}: {flat.shape[1]} features per example but the scaling was fitted on "
            f"{offset.size}"
        )
    return flat
