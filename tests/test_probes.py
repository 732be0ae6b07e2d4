"""Classification probes: the protocol's pieces, on codes whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsevae import VSC
from sparsevae.errors import ConfigError, DataError
from sparsevae.evaluation.probes import (
    choose_labelled,
    knn_probe,
    linear_probe,
    paper_probe,
    probe_codes,
    run_probes,
)


def clustered_codes(n: int, classes: int = 4, dim: int = 6, seed: int = 0):
    """Well separated Gaussian clusters: every probe should classify them almost perfectly."""
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0)) * 4
    g = torch.Generator().manual_seed(seed)  # the noise and labels; the centres stay fixed
    y = torch.randint(0, classes, (n,), generator=g)
    return centres[y] + 0.3 * torch.randn(n, dim, generator=g), y


def test_probes_separate_separable_codes():
    train, train_y = clustered_codes(400)
    test, test_y = clustered_codes(300, seed=1)
    assert paper_probe(train, train_y, test, test_y, 4) > 0.95
    assert linear_probe(train.numpy(), train_y.numpy(), test.numpy(), test_y.numpy()) > 0.95
    assert knn_probe(train.numpy(), train_y.numpy(), test.numpy(), test_y.numpy()) > 0.95


def test_probes_are_at_chance_on_random_labels():
    train, _ = clustered_codes(600)
    test, _ = clustered_codes(600, seed=1)
    rng = np.random.default_rng(0)
    train_y = torch.from_numpy(rng.integers(0, 4, 600))
    test_y = torch.from_numpy(rng.integers(0, 4, 600))
    for accuracy in (
        paper_probe(train, train_y, test, test_y, 4),
        linear_probe(train.numpy(), train_y.numpy(), test.numpy(), test_y.numpy()),
        knn_probe(train.numpy(), train_y.numpy(), test.numpy(), test_y.numpy()),
    ):
        assert 0.15 < accuracy < 0.38


def test_paper_probe_learns_a_threshold_on_negative_codes():
    # All-negative inputs: a classifier that clipped its logits at 0 (the reimplementation's ReLU)
    # starts with every logit tied at 0 for most weight signs; the raw-logit probe must still learn.
    x = torch.cat([torch.full((200, 1), -2.0), torch.full((200, 1), -1.0)])
    y = torch.cat([torch.zeros(200), torch.ones(200)]).long()
    assert paper_probe(x, y, x, y, 2, epochs=60, lr=1e-2) == 1.0


def test_paper_probe_is_reproducible_and_follows_its_seed():
    train, train_y = clustered_codes(300, classes=3)
    noisy = train + 3 * torch.randn_like(train)
    a = paper_probe(noisy, train_y, noisy, train_y, 3, seed=1, epochs=2)
    b = paper_probe(noisy, train_y, noisy, train_y, 3, seed=1, epochs=2)
    assert a == b


def test_choose_labelled_is_a_fixed_random_subset():
    a = choose_labelled(1000, 50, seed=3)
    assert len(set(a.tolist())) == 50 and a.max() < 1000
    assert np.array_equal(a, choose_labelled(1000, 50, seed=3))
    assert not np.array_equal(a, choose_labelled(1000, 50, seed=4))
    assert np.array_equal(choose_labelled(10, 0, seed=0), np.arange(10))  # 0 = all labels
    assert np.array_equal(choose_labelled(10, 99, seed=0), np.arange(10))


def test_probe_codes_sparse_and_mu_for_vsc():
    model = VSC(input_shape=(1, 4, 4), latent_dim=5, hidden=[8], alpha=0.2).eval()
    x = torch.rand(7, 1, 4, 4)
    q = model.posterior(x)
    sparse = probe_codes(model, x, code="sparse")
    mu = probe_codes(model, x, code="mu")
    assert torch.allclose(mu, q.loc.detach())
    expected = torch.where(q.probs >= 0.5, q.loc, torch.zeros_like(q.loc)).detach()
    assert torch.allclose(sparse, expected)  # VSC's code: μ where γ ≥ ½
    with pytest.raises(ConfigError, match="unknown code"):
        probe_codes(model, x, code="gamma")


def test_run_probes_reports_protocol_and_validates():
    model = VSC(input_shape=(1, 4, 4), latent_dim=5, hidden=[8], alpha=0.2)
    x, y = torch.rand(40, 1, 4, 4), torch.arange(40) % 3
    result = run_probes(
        model, x, y, x[:20], y[:20], probes=["knn", "paper"], n_labels=30, code="mu"
    )
    assert result["probe_code"] == "mu" and result["probe_labels"] == 30
    assert set(result) >= {"probe_knn_accuracy", "probe_paper_accuracy"}
    assert "probe_linear_accuracy" not in result
    with pytest.raises(ConfigError, match="unknown probe"):
        run_probes(model, x, y, x, y, probes=["svm"])
    with pytest.raises(DataError, match="labelled"):
        run_probes(model, x, None, x, y)
