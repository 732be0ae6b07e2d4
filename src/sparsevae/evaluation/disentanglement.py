"""Disentanglement metrics on arrays: ``metric(codes (N, C), factors (N, F)) -> dict``.

* :func:`correlation_matrix` — the VSC paper's figure: |Pearson| between |source| and |code|, with
  the latents grouped by the source they correlate with most (block structure when disentangled).
* :func:`mig` — Mutual Information Gap (Chen et al. 2018): per factor, the gap between the two
  codes with the highest mutual information, over the factor's entropy; codes and continuous
  factors are discretised into ``n_bins`` equal-width histogram bins (disentanglement_lib's way).
* :func:`dci` — Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018) from an
  importance matrix R (codes × factors) of one regressor per factor: random forests (impurity
  importances, default), gradient-boosted trees, or lasso (|coefficients|).  Informativeness is
  the held-out R² (clipped to [0, 1]) averaged over factors.
* :func:`sap` — Separated Attribute Predictability (Kumar et al. 2018): per factor, the gap between
  the two codes that predict it best on their own — R² of a 1-D linear fit (continuous factors) or
  held-out accuracy of a 1-D decision stump (discrete factors).

Scores are in [0, 1]: near 1 for a code that is the factors themselves, near 0 for a constant or
random code.  A constant code carries no information: every score is 0 by definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

# Factors with at most this many distinct integer values are treated as discrete.
MAX_DISCRETE_VALUES = 20
DCI_METHODS = ("forest", "gbt", "lasso")


def _as_arrays(codes: Any, factors: Any) -> tuple[np.ndarray, np.ndarray]:
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


def is_discrete(column: np.ndarray, max_values: int = MAX_DISCRETE_VALUES) -> bool:
    values = np.unique(column)
    return len(values) <= max_values and bool(np.all(values == np.round(values)))


def discretize(column: np.ndarray, n_bins: int) -> np.ndarray:
    """Integer labels: the values themselves for discrete columns, histogram bins otherwise."""
    if is_discrete(column, n_bins):
        return np.unique(column, return_inverse=True)[1]
    edges = np.histogram(column, bins=n_bins)[1]
    return np.digitize(column, edges[1:-1])


def _entropy(labels: np.ndarray) -> float:
    counts = np.bincount(labels)
    p = counts[counts > 0] / len(labels)
    return float(-(p * np.log(p)).sum())


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.metrics import mutual_info_score

    return float(mutual_info_score(a, b))


# -- the VSC paper's correlation matrix ------------------------------------------------------------
def correlation_matrix(codes: Any, factors: Any, *, threshold: float = 0.07) -> dict[str, Any]:
    """|Pearson| between |factor| and |code| for every pair, with the latents grouped.

    Returns ``matrix`` (F, C), ``group`` (C,) — the factor each latent correlates with most, or
    −1 when its strongest correlation is below ``threshold`` (the authors' 0.07) —, ``order`` (the
    latent permutation that puts each factor's latents together, factor by factor, unassigned
    latents last), ``ordered`` (the matrix with columns in that order), and two summaries:
    ``block_purity`` (for assigned latents, the share of their correlation with their own factor,
    weighted by that correlation: 1 when each latent tracks a single factor) and
    ``factors_covered`` (fraction of factors with at least one assigned latent).
    """
    codes, factors = _as_arrays(codes, factors)
    a, b = np.abs(factors), np.abs(codes)
    a, b = a - a.mean(0), b - b.mean(0)
    norms = np.sqrt((a**2).sum(0))[:, None] * np.sqrt((b**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.abs(a.T @ b) / norms
    matrix = np.nan_to_num(matrix, nan=0.0)  # a constant column correlates with nothing
    best = matrix.max(0) if matrix.size else np.zeros(codes.shape[1])
    group = np.where(best >= threshold, matrix.argmax(0), -1)
    order = np.concatenate(
        [np.flatnonzero(group == f) for f in range(factors.shape[1])] + [np.flatnonzero(group < 0)]
    ).astype(int)
    assigned = group >= 0
    if assigned.any():
        own = best[assigned]
        total = matrix[:, assigned].sum(0)
        purity = float((own * (own / total)).sum() / own.sum())
    else:
        purity = 0.0
    covered = len(set(group[assigned].tolist())) / factors.shape[1]
    return {
        "matrix": matrix,
        "group": group,
        "order": order,
        "ordered": matrix[:, order],
        "block_purity": purity,
        "factors_covered": float(covered),
        "threshold": threshold,
    }


# -- MIG -------------------------------------------------------------------------------------------
def mig(codes: Any, factors: Any, *, n_bins: int = 20) -> dict[str, Any]:
    """Mutual Information Gap: mean over factors of (MI₁ − MI₂) / H(factor), with MI₁ ≥ MI₂ the
    two largest mutual informations between the factor and single (discretised) codes.

    Returns ``mig``, ``per_factor`` (NaN for a constant factor, which is skipped) and ``mutual_info``
    (C, F).  Needs at least two code dimensions.
    """
    codes, factors = _as_arrays(codes, factors)
    if n_bins < 2:
        raise ConfigError(f"n_bins must be at least 2, got {n_bins}")
    if codes.shape[1] < 2:
        raise ConfigError("MIG needs a code with at least two dimensions")
    code_bins = [discretize(codes[:, i], n_bins) for i in range(codes.shape[1])]
    info = np.zeros((codes.shape[1], factors.shape[1]))
    per_factor = np.full(factors.shape[1], np.nan)
    for k in range(factors.shape[1]):
        labels = discretize(factors[:, k], n_bins)
        entropy = _entropy(labels)
        if entropy <= 0:
            continue
        for i, bins in enumerate(code_bins):
            info[i, k] = _mutual_information(bins, labels)
        top = np.sort(info[:, k])[::-1]
        per_factor[k] = (top[0] - top[1]) / entropy
    valid = per_factor[np.isfinite(per_factor)]
    return {
        "mig": float(valid.mean()) if len(valid) else 0.0,
        "per_factor": per_factor,
        "mutual_info": info,
    }


# -- DCI -------------------------------------------------------------------------------------------
def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


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


def _importance_entropy_score(p: np.ndarray, base: int) -> np.ndarray:
    """1 − H_base(p) for each row of probabilities ``p``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(p), 0.0)
    return 1.0 - (-(p * logs).sum(1) / np.log(base))


def dci(
    codes: Any,
    factors: Any,
    *,
    method: str = "forest",
    test_fraction: float = 0.3,
    seed: int = 0,
) -> dict[str, Any]:
    """Disentanglement, completeness and informativeness from an importance matrix R (C, F).

    One regressor per (standardised) factor predicts it from all codes; R[:, k] are its feature
    importances.  Disentanglement = Σ_i ρ_i (1 − H_F(R_i· / Σ R_i·)) with ρ_i code i's share of all
    importance; completeness = Σ_k ρ_k (1 − H_C(R_·k / Σ R_·k)); informativeness = mean held-out
    R² (clipped to [0, 1]).  Returns those three, ``importance`` and ``per_factor_r2``.
    """
    codes, factors = _as_arrays(codes, factors)
    if method not in DCI_METHODS:
        raise ConfigError(f"DCI method must be one of {', '.join(DCI_METHODS)}, got {method!r}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    importance, r2 = _importance_matrix(codes, factors, method, test_fraction, seed)
    return {
        **_dci_scores(importance),
        "informativeness": float(r2.mean()),
        "importance": importance,
        "per_factor_r2": r2,
    }


def _importance_matrix(
    codes: np.ndarray, factors: np.ndarray, method: str, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """R (codes × factors) from one regressor per standardised factor, and each held-out R²."""
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    r2 = np.zeros(factors.shape[1])
    train, test = _split(len(codes), test_fraction, seed)
    code_std = codes[train].std(0)
    informative = code_std > 1e-12
    if not informative.any():
        return importance, r2
    x = (codes - codes[train].mean(0)) / np.where(informative, code_std, 1.0)
    x = x[:, informative]
    for k in range(factors.shape[1]):
        target = factors[:, k]
        scale = target[train].std()
        if scale <= 1e-12:
            continue  # a constant factor: nothing to predict
        target = (target - target[train].mean()) / scale
        model = _regressor(method, seed).fit(x[train], target[train])
        weights = np.abs(model.coef_) if method == "lasso" else model.feature_importances_
        importance[informative, k] = weights
        residual = ((model.predict(x[test]) - target[test]) ** 2).mean()
        variance = target[test].var()
        r2[k] = 0.0 if variance <= 0 else float(np.clip(1 - residual / variance, 0, 1))
    return importance, r2


def _dci_scores(importance: np.ndarray) -> dict[str, float]:
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
    d = _importance_entropy_score(per_code, n_factors) if n_factors > 1 else np.ones(n_codes)
    c = _importance_entropy_score(per_factor, n_codes) if n_codes > 1 else np.ones(n_factors)
    return {
        "disentanglement": float((code_weight * d).sum()),
        "completeness": float((factor_weight * c).sum()),
    }


# -- SAP -------------------------------------------------------------------------------------------
def _stump_accuracy(x_train, y_train, x_test, y_test) -> float:
    from sklearn.tree import DecisionTreeClassifier

    stump = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x_train[:, None], y_train)
    return float((stump.predict(x_test[:, None]) == y_test).mean())


def sap(codes: Any, factors: Any, *, test_fraction: float = 0.3, seed: int = 0) -> dict[str, Any]:
    """Separated Attribute Predictability: mean over factors of the gap between the best and the
    second-best single-code score.  Continuous factors: R² of a 1-D linear fit (squared
    correlation, on all data); discrete factors: held-out accuracy of a depth-2 decision tree on
    one code, rescaled so the majority-class rate scores 0 and perfect prediction 1.

    Returns ``sap``, ``per_factor`` and ``scores`` (C, F).
    """
    codes, factors = _as_arrays(codes, factors)
    if codes.shape[1] < 2:
        raise ConfigError("SAP needs a code with at least two dimensions")
    train, test = _split(len(codes), test_fraction, seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        target = factors[:, k]
        if target.std() <= 1e-12:
            continue
        discrete = is_discrete(target)
        if discrete:
            labels = np.unique(target, return_inverse=True)[1]
            majority = np.bincount(labels[test]).max() / len(test)
        for i in range(codes.shape[1]):
            code = codes[:, i]
            if code.std() <= 1e-12:
                continue
            if discrete:
                accuracy = _stump_accuracy(code[train], labels[train], code[test], labels[test])
                # Chance-corrected: 0 for the majority rate, 1 for a perfect prediction.
                scores[i, k] = max(0.0, (accuracy - majority) / max(1.0 - majority, 1e-12))
            else:
                scores[i, k] = np.corrcoef(code, target)[0, 1] ** 2
    top = np.sort(scores, axis=0)[::-1]
    per_factor = top[0] - top[1]
    return {"sap": float(per_factor.mean()), "per_factor": per_factor, "scores": scores}


def disentanglement_scores(
    codes: Any, factors: Any, *, n_bins: int = 20, dci_method: str = "forest", seed: int = 0
) -> dict[str, float]:
    """The scalar scores together: MIG, DCI (three), SAP and the correlation block purity."""
    d = dci(codes, factors, method=dci_method, seed=seed)
    return {
        "mig": mig(codes, factors, n_bins=n_bins)["mig"],
        "dci_disentanglement": d["disentanglement"],
        "dci_completeness": d["completeness"],
        "dci_informativeness": d["informativeness"],
        "sap": sap(codes, factors, seed=seed)["sap"],
        "block_purity": correlation_matrix(codes, factors)["block_purity"],
    }
