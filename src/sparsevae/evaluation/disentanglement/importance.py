"""DCI: Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018), from an
importance matrix R (codes × factors) of one predictor per factor."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from .arrays import (
    MAX_DISCRETE_VALUES,
    as_arrays,
    check_protocol,
    constant_columns,
    discretize,
    live_factors,
    split,
)

DCI_METHODS = ("forest", "gbt", "lasso")


def _regressor(method: str, seed: int):
    if method == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=30, max_depth=8, min_samples_leaf=5, random_state=seed, n_jobs=1
        )
    if method == "gbt":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=seed)
    from sklearn.linear_model import Lasso

    # Codes and target are standardised, so one small penalty suits every factor.
    return Lasso(alpha=0.01, random_state=seed)


def _check_method(method: str | None, protocol: str) -> str:
    if protocol == "disentanglement_lib":
        if method is not None:
            raise ConfigError(
                "method applies to protocol 'sparsevae' only: disentanglement_lib uses "
                "GradientBoostingClassifier"
            )
        return "gbt-classifier"
    method = "forest" if method is None else method
    if method not in DCI_METHODS:
        raise ConfigError(f"DCI method must be one of {', '.join(DCI_METHODS)}, got {method!r}")
    return method


def dci(
    codes: Any,
    factors: Any,
    *,
    method: str | None = None,
    test_fraction: float | None = None,
    seed: int = 0,
    protocol: str = "sparsevae",
) -> dict[str, Any]:
    """Disentanglement, completeness and informativeness from an importance matrix R (C, F).

    Disentanglement = Σ_i ρ_i (1 − H_F(R_i· / Σ R_i·)) with ρ_i code i's share of all importance;
    completeness = Σ_k ρ_k (1 − H_C(R_·k / Σ R_·k)).  ``protocol="sparsevae"``: one regressor per
    standardised factor (``method`` ``forest``, default, ``gbt`` or ``lasso``) on a seeded random
    split (``test_fraction`` 0.3); informativeness is the mean held-out R² (clipped to [0, 1]);
    completeness counts live latents only (H over them).  ``protocol="disentanglement_lib"``: the
    library's ``GradientBoostingClassifier`` on the factors' class labels (continuous factors in
    20 histogram bins), the first 80 % of rows for training; informativeness is the held-out
    accuracy (``informativeness_train`` on the training rows); completeness counts every latent,
    dead ones too, as the library does.  Constant factors are skipped.  Returns those scores,
    ``importance``, ``per_factor_informativeness`` (NaN when skipped), ``skipped_factors`` and
    ``dead_latents`` (the number of latents constant over the rows).
    """
    check_protocol(protocol)
    method = _check_method(method, protocol)
    codes, factors = as_arrays(codes, factors)
    live, skipped = live_factors(factors)
    train, test = split(len(codes), protocol, test_fraction, seed)
    dead = constant_columns(codes)
    if protocol == "disentanglement_lib":
        importance, per_factor, train_accuracy = _classifier_importance(
            codes, factors, live, train, test, seed
        )
        latents = np.arange(codes.shape[1])  # the library's completeness counts dead latents
        extra = {"informativeness_train": train_accuracy}
    else:
        importance, per_factor = _regressor_importance(
            codes, factors, live, method, train, test, seed
        )
        latents, extra = np.flatnonzero(~dead), {}
    return {
        **dci_scores(importance[np.ix_(latents, live)]),
        "informativeness": float(per_factor[live].mean()),
        **extra,
        "importance": importance,
        "per_factor_informativeness": per_factor,
        "skipped_factors": skipped,
        "dead_latents": int(dead.sum()),
    }


def _regressor_importance(
    codes: np.ndarray,
    factors: np.ndarray,
    live: np.ndarray,
    method: str,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """R (codes × factors) from one regressor per standardised factor, and each held-out R²."""
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    r2 = np.full(factors.shape[1], np.nan)
    r2[live] = 0.0
    code_std = codes[train].std(0)
    informative = code_std > 1e-12
    if not informative.any():
        return importance, r2
    x = (codes - codes[train].mean(0)) / np.where(informative, code_std, 1.0)
    x = x[:, informative]
    for k in live:
        target = factors[:, k]
        scale = target[train].std()
        if scale <= 1e-12:
            continue  # constant on the training rows only: nothing to learn, R² 0
        target = (target - target[train].mean()) / scale
        model = _regressor(method, seed).fit(x[train], target[train])
        weights = np.abs(model.coef_) if method == "lasso" else model.feature_importances_
        importance[informative, k] = weights
        residual = ((model.predict(x[test]) - target[test]) ** 2).mean()
        variance = target[test].var()
        r2[k] = 0.0 if variance <= 0 else float(np.clip(1 - residual / variance, 0, 1))
    return importance, r2


def _classifier_importance(
    codes: np.ndarray,
    factors: np.ndarray,
    live: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """disentanglement_lib's ``compute_importance_gbt``: a default GradientBoostingClassifier per
    factor on the raw codes; R from its importances, and the held-out and training accuracies."""
    from sklearn.ensemble import GradientBoostingClassifier

    importance = np.zeros((codes.shape[1], factors.shape[1]))
    accuracy = np.full(factors.shape[1], np.nan)
    train_accuracy = []
    for k in live:
        labels = discretize(factors[:, k], MAX_DISCRETE_VALUES)
        if len(np.unique(labels[train])) < 2:
            raise DataError(f"factor {k} takes one value on the training rows (the first 80 %)")
        # The library leaves random_state unset; it only breaks ties between equal splits.
        model = GradientBoostingClassifier(random_state=seed).fit(codes[train], labels[train])
        importance[:, k] = np.abs(model.feature_importances_)
        accuracy[k] = np.mean(model.predict(codes[test]) == labels[test])
        train_accuracy.append(np.mean(model.predict(codes[train]) == labels[train]))
    return importance, accuracy, float(np.mean(train_accuracy))


def _entropy_score(p: np.ndarray, base: int) -> np.ndarray:
    """1 − H_base(p) for each row of probabilities ``p``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(p), 0.0)
    return 1.0 - (-(p * logs).sum(1) / np.log(base))


def dci_scores(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness of an importance matrix (0 for an all-zero one)."""
    total = importance.sum()
    if total <= 0:
        return {"disentanglement": 0.0, "completeness": 0.0}
    n_codes, n_factors = importance.shape
    code_weight = importance.sum(1) / total
    factor_weight = importance.sum(0) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        per_code = np.nan_to_num(importance / importance.sum(1, keepdims=True))
        per_factor = np.nan_to_num(importance.T / importance.sum(0)[:, None])
    d = _entropy_score(per_code, n_factors) if n_factors > 1 else np.ones(n_codes)
    c = _entropy_score(per_factor, n_codes) if n_codes > 1 else np.ones(n_factors)
    return {
        "disentanglement": float((code_weight * d).sum()),
        "completeness": float((factor_weight * c).sum()),
    }
