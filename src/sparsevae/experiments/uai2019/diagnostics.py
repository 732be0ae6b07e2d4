"""What a Smiley code knows and how it uses its latents, beyond the disentanglement scores:
whether each attribute can be read off the code, and whether some latent switches with it."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ...evaluation.usage import ALWAYS_ON, RARE, active_matrix, latent_classes, latent_frequency

SWITCH_RANGE = (0.05, 0.95)  # a switch is on for between 5 % and 95 % of the images
SWITCH_CORRELATION = 0.5  # and its on/off follows the attribute: |φ| at least this


def attribute_accuracy(
    fit_codes: np.ndarray,
    fit_attributes: np.ndarray,
    test_codes: np.ndarray,
    test_attributes: np.ndarray,
) -> list[float | None]:
    """Per binary attribute: held-out accuracy of a logistic regression on the standardised code,
    fitted on ``fit_*`` and scored on ``test_*`` (None where the fit rows show one value only)."""
    accuracies: list[float | None] = []
    for column in range(fit_attributes.shape[1]):
        target = fit_attributes[:, column]
        if len(np.unique(target)) < 2:
            accuracies.append(None)
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(fit_codes, target)
        accuracies.append(float(probe.score(test_codes, test_attributes[:, column])))
    return accuracies


def attribute_switches(codes: np.ndarray, attributes: np.ndarray) -> list[int]:
    """Per binary attribute: how many latents are non-zero for between 5 % and 95 % of the
    images and switch with the attribute (|φ| of on/off and the attribute ≥ 0.5).  A code that
    chooses its latents per input has at least one for each attribute; a dense code (never
    exactly zero) has none."""
    active = active_matrix(codes).numpy().astype(float)
    frequency = active.mean(0)
    low, high = SWITCH_RANGE
    candidates = np.flatnonzero((frequency >= low) & (frequency <= high))
    counts = []
    for column in range(attributes.shape[1]):
        attribute = attributes[:, column].astype(float)
        if not candidates.size or attribute.std() == 0:
            counts.append(0)
            continue
        phi = np.corrcoef(attribute, active[:, candidates].T)[0, 1:]
        counts.append(int((np.abs(np.nan_to_num(phi)) >= SWITCH_CORRELATION).sum()))
    return counts


def usage_summary(codes: np.ndarray) -> dict[str, Any]:
    """Dead, always-on and input-dependent latents of a code (counts)."""
    classes = latent_classes(latent_frequency(active_matrix(codes)), ALWAYS_ON, RARE)
    return {
        key: classes[key]
        for key in ("dead_latents", "always_on_latents", "input_dependent_latents")
    }
