"""Disentanglement metrics, checked the disentanglement_lib way: a code that is the factors scores
near 1, a random or constant code near 0."""

from __future__ import annotations

import numpy as np
import pytest

from sparsevae.errors import ConfigError, DataError
from sparsevae.evaluation.disentanglement import (
    correlation_matrix,
    dci,
    disentanglement_scores,
    mig,
    sap,
)


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    """Two binary attributes and three spike-and-slab sources, like a small Smiley."""
    rng = np.random.default_rng(0)
    n = 1000
    binary = rng.integers(0, 2, (n, 2)).astype(float)
    sources = rng.uniform(0.2, 1.0, (n, 3)) * rng.integers(0, 2, (n, 3))
    return np.concatenate([binary, sources], axis=1)


def test_identity_code_scores_near_one(factors):
    scores = disentanglement_scores(factors, factors)
    assert scores["mig"] > 0.85
    assert scores["dci_disentanglement"] > 0.95
    assert scores["dci_completeness"] > 0.95
    assert scores["dci_informativeness"] > 0.95
    assert scores["sap"] > 0.9


def test_random_code_scores_near_zero(factors):
    codes = np.random.default_rng(1).normal(size=(len(factors), 5))
    scores = disentanglement_scores(codes, factors)
    for name in ("mig", "dci_disentanglement", "dci_informativeness", "sap"):
        assert scores[name] < 0.1, name


def test_constant_code_scores_zero(factors):
    scores = disentanglement_scores(np.ones((len(factors), 5)), factors)
    assert all(value == 0.0 for value in scores.values()), scores


def test_rotated_code_is_informative_but_entangled(factors):
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(5, 5)))[0]
    codes = factors @ rotation
    d = dci(codes, factors, method="lasso")
    assert d["informativeness"] > 0.5
    assert d["disentanglement"] < 0.7
    assert mig(codes, factors)["mig"] < 0.5


def test_scores_ignore_the_order_of_latents_and_extra_dead_ones(factors):
    codes = np.concatenate([factors[:, ::-1], np.zeros((len(factors), 3))], axis=1)
    assert mig(codes, factors)["mig"] > 0.85
    assert sap(codes, factors)["sap"] > 0.9
    result = dci(codes, factors)
    assert result["disentanglement"] > 0.95
    assert result["dead_latents"] == 3
    # Completeness counts live latents only: the dead ones change nothing.
    assert result["completeness"] == dci(factors[:, ::-1], factors)["completeness"]


def test_correlation_matrix_leaves_dead_latents_out(factors):
    dead = np.zeros((len(factors), 2))
    codes = np.concatenate([factors[:, [4]], dead, factors[:, [2]]], axis=1)
    result = correlation_matrix(codes, factors)
    assert result["dead_latents"] == 2
    assert result["matrix"].shape == (5, 4)  # columns stay the latents' indices
    assert list(result["order"]) == [3, 0]
    assert result["ordered"].shape == (5, 2)
    assert list(result["group"]) == [4, -1, -1, 2]


def test_correlation_matrix_groups_latents_by_source(factors):
    rng = np.random.default_rng(3)
    # Latents 0 and 3 track factor 4, latent 1 tracks factor 2, latent 2 is noise.
    codes = np.stack(
        [factors[:, 4], factors[:, 2], rng.normal(size=len(factors)), 2 * factors[:, 4]], axis=1
    )
    result = correlation_matrix(codes, factors)
    assert result["matrix"].shape == (5, 4)
    assert np.allclose(result["matrix"][4, [0, 3]], 1.0)
    assert list(result["group"][[0, 1, 3]]) == [4, 2, 4]
    assert result["group"][2] == -1  # below the 0.07 threshold
    assert list(result["order"]) == [1, 0, 3, 2]
    assert np.array_equal(result["ordered"], result["matrix"][:, [1, 0, 3, 2]])
    assert result["factors_covered"] == pytest.approx(2 / 5)


def test_correlation_uses_magnitudes(factors):
    """|code| versus |source|: a sign flip of a latent does not change the matrix."""
    codes = np.stack([factors[:, 3], -factors[:, 3]], axis=1)
    matrix = correlation_matrix(codes, factors)["matrix"]
    assert np.allclose(matrix[:, 0], matrix[:, 1])


def test_bad_input_is_refused(factors):
    with pytest.raises(DataError, match="factor rows"):
        mig(factors[:10], factors[:20])
    with pytest.raises(DataError, match="finite"):
        sap(np.full((20, 2), np.nan), factors[:20])
    with pytest.raises(ConfigError, match="method"):
        dci(factors, factors, method="svm")
    with pytest.raises(ConfigError, match="two dimensions"):
        mig(factors[:, :1], factors)
    with pytest.raises(ConfigError, match="test_fraction"):
        sap(factors, factors, test_fraction=1.5)
    for metric in (mig, dci, sap, disentanglement_scores):
        with pytest.raises(ConfigError, match="protocol"):
            metric(factors, factors, protocol="locatello")
