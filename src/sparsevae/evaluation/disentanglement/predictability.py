"""SAP, Separated Attribute Predictability (Kumar et al. 2018)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ...errors import ConfigError
from .arrays import as_arrays, check_protocol, is_discrete, live_factors, split


def sap(
    codes: Any,
    factors: Any,
    *,
    test_fraction: float | None = None,
    seed: int = 0,
    protocol: str = "sparsevae",
) -> dict[str, Any]:
    """Separated Attribute Predictability: mean over factors of the gap between the best and the
    second-best single-code score.

    A continuous factor's score is the squared correlation with the code (on all rows under
    ``sparsevae``, on the training rows under ``disentanglement_lib``).  A discrete factor's is a
    held-out accuracy from one code: of a depth-2 decision tree, rescaled so the majority-class
    rate scores 0 and a perfect prediction 1 (``sparsevae``, seeded random split, 30 % held
    out), or of disentanglement_lib's ``LinearSVC(C=0.01, class_weight="balanced")`` (first 80 %
    of rows train).  Constant factors are skipped.  Returns ``sap``, ``per_factor`` (NaN when
    skipped), ``skipped_factors`` and ``scores`` (C, F).
    """
    check_protocol(protocol)
    codes, factors = as_arrays(codes, factors)
    if codes.shape[1] < 2:
        raise ConfigError("SAP needs a code with at least two dimensions")
    live, skipped = live_factors(factors)
    train, test = split(len(codes), protocol, test_fraction, seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for k in live:
        target = factors[:, k]
        if not is_discrete(target):
            rows = train if protocol == "disentanglement_lib" else slice(None)
            scores[:, k] = [_squared_correlation(code[rows], target[rows]) for code in codes.T]
            continue
        score = _svm_accuracy if protocol == "disentanglement_lib" else _stump_score
        scores[:, k] = [score(code, target, train, test, seed) for code in codes.T]
    top = np.sort(scores[:, live], axis=0)[::-1]
    per_factor = np.full(factors.shape[1], np.nan)
    per_factor[live] = top[0] - top[1]
    return {
        "sap": float(per_factor[live].mean()),
        "per_factor": per_factor,
        "skipped_factors": skipped,
        "scores": scores,
    }


def _squared_correlation(code: np.ndarray, target: np.ndarray) -> float:
    """cov² / (var_code · var_target), 0 for a constant code (disentanglement_lib's formula)."""
    cov = np.cov(code, target, ddof=1)
    return float(cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])) if cov[0, 0] > 1e-12 else 0.0


def _stump_score(code, labels, train, test, seed) -> float:
    """Held-out accuracy of a depth-2 tree on one code, 0 at the majority rate, 1 when perfect."""
    from sklearn.tree import DecisionTreeClassifier

    if code.std() <= 1e-12:
        return 0.0
    stump = DecisionTreeClassifier(max_depth=2, random_state=0)
    stump.fit(code[train, None], labels[train])
    accuracy = float((stump.predict(code[test, None]) == labels[test]).mean())
    majority = np.unique(labels[test], return_counts=True)[1].max() / len(test)
    return max(0.0, (accuracy - majority) / max(1.0 - majority, 1e-12))


def _svm_accuracy(code, labels, train, test, seed) -> float:
    """disentanglement_lib's score of a discrete factor: held-out accuracy of a linear SVM."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    # The library leaves random_state unset (it only orders the solver's coordinate updates) and
    # lets under-converged fits stand, so their warnings are expected here.
    svm = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(code[train, None], labels[train])
    return float(np.mean(svm.predict(code[test, None]) == labels[test]))
