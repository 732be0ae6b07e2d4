"""Closed-form KLs against Monte Carlo estimates, and the SpikeSlab draws."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Cauchy, Laplace, Normal, kl_divergence

from sparsevae.distributions import SpikeSlab


def monte_carlo_kl(q, p, n=400_000):
    z = q.sample((n,))
    return (q.log_prob(z) - p.log_prob(z)).mean(0)


def test_spikeslab_kl_matches_monte_carlo():
    torch.manual_seed(1)
    q = SpikeSlab(
        torch.tensor([0.9, 0.3, 0.05]),
        torch.tensor([0.5, -1.0, 2.0]),
        torch.tensor([0.7, 1.3, 0.2]),
    )
    p = SpikeSlab(torch.tensor(0.2), torch.tensor(0.0), torch.tensor(1.0)).expand(torch.Size([3]))
    exact = kl_divergence(q, p)
    estimate = monte_carlo_kl(q, p)
    assert torch.allclose(exact, estimate, atol=0.02), (exact, estimate)


def test_spikeslab_kl_is_the_vsc_formula():
    gamma, mu, sigma, alpha = torch.tensor(0.6), torch.tensor(0.4), torch.tensor(0.8), 0.01
    q = SpikeSlab(gamma, mu, sigma)
    p = SpikeSlab(torch.tensor(alpha), torch.tensor(0.0), torch.tensor(1.0))
    normal_kl = 0.5 * (mu**2 + sigma**2 - 1 - torch.log(sigma**2))
    bern = gamma * torch.log(gamma / alpha) + (1 - gamma) * torch.log((1 - gamma) / (1 - alpha))
    assert torch.allclose(kl_divergence(q, p), gamma * normal_kl + bern)


def test_spikeslab_kl_is_finite_at_gamma_zero_and_one():
    q = SpikeSlab(torch.tensor([0.0, 1.0]), torch.zeros(2), torch.ones(2))
    p = SpikeSlab(torch.tensor(0.5), torch.tensor(0.0), torch.tensor(1.0))
    assert torch.isfinite(kl_divergence(q, p)).all()


@pytest.mark.parametrize(
    "q,p",
    [
        (
            Normal(torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])),
            Laplace(torch.tensor(0.0), torch.tensor(1.0)),
        ),
        (
            Normal(torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])),
            Normal(torch.tensor(0.0), torch.tensor(1.0)),
        ),
        (
            Cauchy(torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])),
            Cauchy(torch.tensor(0.0), torch.tensor(1.0)),
        ),
    ],
    ids=["normal-laplace", "normal-normal", "cauchy-cauchy"],
)
def test_registered_kls_match_monte_carlo(q, p):
    torch.manual_seed(2)
    exact = kl_divergence(q, p)
    estimate = monte_carlo_kl(q, p)
    assert torch.allclose(exact, estimate, atol=0.03), (exact, estimate)


def test_exact_sample_has_spikes_at_rate_one_minus_gamma():
    q = SpikeSlab(torch.full((50_000,), 0.3), torch.ones(50_000), torch.ones(50_000))
    z = q.sample()
    assert abs(float((z == 0).float().mean()) - 0.7) < 0.01


def test_relaxed_sample_is_reparameterised_and_sharpens_with_c():
    probs = torch.full((20_000,), 0.3, requires_grad=True)
    loc = torch.full((20_000,), 5.0, requires_grad=True)
    q = SpikeSlab(probs, loc, torch.full((20_000,), 0.01), sharpness=200.0)
    z = q.rsample()
    z.sum().backward()
    assert probs.grad is not None and loc.grad is not None
    # With c = 200 almost every draw is (nearly) 0 or (nearly) the slab value, active 30 % of the time.
    active = (z.detach() > 2.5).float().mean()
    assert abs(float(active) - 0.3) < 0.02
    soft = SpikeSlab(
        probs.detach(), loc.detach(), torch.full((20_000,), 0.01), sharpness=1.0
    ).rsample()
    middling = ((soft > 0.5) & (soft < 4.5)).float().mean()
    assert middling > 0.5  # with c = 1 the selection is far from binary


def test_spikeslab_log_prob_puts_mass_one_minus_gamma_at_zero():
    q = SpikeSlab(torch.tensor(0.25), torch.tensor(0.0), torch.tensor(1.0))
    assert torch.isclose(q.log_prob(torch.tensor(0.0)), torch.log(torch.tensor(0.75)))
    assert torch.isclose(
        q.log_prob(torch.tensor(1.0)),
        torch.log(torch.tensor(0.25)) + Normal(0.0, 1.0).log_prob(torch.tensor(1.0)),
    )


def test_spikeslab_mean_variance_and_expand():
    q = SpikeSlab(torch.tensor(0.4), torch.tensor(2.0), torch.tensor(0.5))
    z = q.sample((200_000,))
    assert abs(float(z.mean()) - float(q.mean)) < 0.02
    assert abs(float(z.var()) - float(q.variance)) < 0.03
    expanded = q.expand(torch.Size([3, 2]))
    assert expanded.batch_shape == (3, 2) and expanded.rsample().shape == (3, 2)
