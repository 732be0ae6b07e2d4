"""VSC with learned thresholding: the thresholded distribution, its KLs (closed form against Monte
Carlo), the straight-through gradients and the model."""

import math

import pytest
import torch
from torch.distributions import Gamma, kl_divergence

import sparsevae
from sparsevae.distributions import ShiftedSoftThreshold
from sparsevae.errors import ConfigError
from sparsevae.models.vsc_threshold import thresholded_laplace_kl

SHAPE = (1, 8, 8)
N = 400_000


def dist(base, loc=0.3, scale=0.8, threshold=0.5):
    return ShiftedSoftThreshold(torch.tensor([loc]), torch.tensor([scale]), threshold, base)


@pytest.mark.parametrize("base", ["normal", "laplace"])
def test_zero_fraction_is_one_minus_probs(base):
    torch.manual_seed(0)
    q = dist(base)
    z = q.sample((N,))
    assert (z != 0).float().mean() == pytest.approx(float(q.probs), abs=3e-3)
    assert z.mean() == pytest.approx(float(q.mean), abs=5e-3)
    relaxed = q.rsample((N,))  # the straight-through draw has the same values
    assert (relaxed != 0).float().mean() == pytest.approx(float(q.probs), abs=3e-3)


@pytest.mark.parametrize("base", ["normal", "laplace"])
def test_log_prob_is_an_atom_plus_a_density_of_total_mass_one(base):
    q = dist(base)
    grid = torch.linspace(-12, 12, 480_001)
    grid = grid[grid != 0]
    density = q.log_prob(grid[:, None]).exp().squeeze(1)
    continuous = torch.trapezoid(density, grid)
    atom = q.log_prob(torch.zeros(1)).exp()
    assert float(continuous) == pytest.approx(float(q.probs), abs=1e-4)
    assert float(atom + continuous) == pytest.approx(1.0, abs=1e-4)


def test_laplace_slab_is_laplace_around_loc():
    torch.manual_seed(0)
    q = dist("laplace", loc=0.3, scale=0.8, threshold=0.5)
    z = q.sample((N,))
    slab = z[z != 0]
    assert slab.median() == pytest.approx(0.3, abs=0.01)
    assert (slab - 0.3).abs().mean() == pytest.approx(0.8, abs=0.01)  # Laplace(μ, b): E|z − μ| = b


def test_straight_through_gradients():
    torch.manual_seed(0)
    loc = torch.zeros(1000, requires_grad=True)
    threshold = torch.full((1000,), 0.7, requires_grad=True)
    q = ShiftedSoftThreshold(loc, torch.ones(1000), threshold)
    z = q.rsample()
    z.sum().backward()
    active = z != 0
    assert torch.equal(loc.grad, torch.ones(1000))  # ∂z/∂μ = 1, active or not (clean estimator)
    assert torch.equal(threshold.grad[active], -torch.sign(z[active]))
    assert torch.equal(threshold.grad[~active], torch.zeros(int((~active).sum())))


@pytest.mark.parametrize("base", ["normal", "laplace"])
def test_base_kl_closed_form_matches_monte_carlo(base):
    torch.manual_seed(0)
    q, p = dist(base), dist(base, loc=0.0, scale=1.3)
    u = q.base.sample((N,))
    monte_carlo = (q.base.log_prob(u) - p.base.log_prob(u)).mean()
    assert float(kl_divergence(q.base, p.base)) == pytest.approx(float(monte_carlo), abs=5e-3)


def test_exact_laplace_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    q, p = dist("laplace"), dist("laplace", loc=0.0, scale=1.3)
    z = q.sample((N,))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).mean()
    assert float(thresholded_laplace_kl(q, p)) == pytest.approx(float(monte_carlo), abs=5e-3)


def test_learned_threshold_gamma_kl_matches_monte_carlo():
    torch.manual_seed(0)
    q, p = Gamma(torch.tensor(4.0), torch.tensor(6.0)), Gamma(torch.tensor(3.0), torch.tensor(2.5))
    lam = q.sample((N,))
    monte_carlo = (q.log_prob(lam) - p.log_prob(lam)).mean()
    assert float(kl_divergence(q, p)) == pytest.approx(float(monte_carlo), abs=5e-3)


def model(**options):
    torch.manual_seed(0)
    return sparsevae.VSCThreshold(input_shape=SHAPE, latent_dim=10, hidden=[16], **options)


@pytest.mark.parametrize("base,p", [("normal", 0.05), ("laplace", 0.2)])
def test_active_fraction_sets_the_prior_sparsity(base, p):
    m = model(base=base, active_fraction=p, prior_scale=0.5)
    expected = {"normal": 0.5 * 1.959964, "laplace": -0.5 * math.log(0.2)}[base]
    assert m.config.fixed_threshold == pytest.approx(expected, rel=1e-5)
    torch.manual_seed(0)
    draws = m.prior().sample((20_000,))
    assert (draws != 0).float().mean() == pytest.approx(p, abs=0.01)


@pytest.mark.parametrize("code", ["mean-active", "sparse-mean", "mean", "most-probable"])
def test_codes(code):
    m = model(code=code).eval()
    x = torch.rand(30, *SHAPE)
    q = m.posterior(x)
    keep = q.probs >= 0.5
    count = q.probs.sum(1, keepdim=True).round().clamp(min=1)
    likeliest = q.probs >= q.probs.sort(1, descending=True).values.gather(1, count.long() - 1)
    expected = {
        "mean-active": torch.where(keep, q.loc, torch.zeros_like(q.loc)),
        "sparse-mean": torch.where(keep, q.probs * q.loc, torch.zeros_like(q.loc)),
        "mean": q.loc,
        "most-probable": torch.where(likeliest, q.loc, torch.zeros_like(q.loc)),
    }[code]
    assert torch.equal(m.encode(x), expected)
    if code == "most-probable":
        assert torch.equal((expected != 0).sum(1), count.long().squeeze(1))


@pytest.mark.parametrize("options", [{}, {"threshold": "learned"}, {"kl": "exact"}])
def test_losses_are_finite_and_kl_terms_match_the_options(options):
    for base in ("normal", "laplace"):
        m = model(base=base, **options).train()
        out = m.loss(torch.rand(8, *SHAPE))
        assert torch.isfinite(out.loss) and out.terms["kl"] > 0
        out.loss.backward()
        assert m.head.weight.grad.abs().sum() > 0


def test_best_of_samples_keeps_each_inputs_lowest_reconstruction_loss():
    m = model(samples=5).train()
    x = torch.rand(6, *SHAPE)
    torch.manual_seed(3)
    recon, _ = m.elbo_terms(x)
    torch.manual_seed(3)
    q = m.posterior(x)
    z = q.rsample((5,))
    each = torch.stack([-m.likelihood.log_prob(m.decoder_output(z[s]), x) for s in range(5)])
    assert torch.allclose(recon, each.min(0).values, atol=1e-5)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"active_fraction": 1.0}, "active_fraction"),
        ({"threshold": "learned", "kl": "exact"}, "fixed threshold"),
        ({"samples": 0}, "samples"),
        ({"base": "cauchy"}, "base must be one of normal, laplace"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ConfigError, match=match):
        model(**options)


def test_training_gives_exact_zeros_chosen_per_input():
    torch.manual_seed(1)
    atoms = torch.rand(12, 64)
    weights = torch.zeros(500, 12).scatter_(1, torch.randint(0, 12, (500, 2)), 1.0)
    x = (weights @ atoms / 2).clamp(0, 1).reshape(-1, *SHAPE)
    m = model(likelihood="gaussian", likelihood_sigma=0.1, active_fraction=0.2, code="best-draw")
    history = sparsevae.fit(m, x[:400], x[400:], epochs=8, batch_size=20, progress=False)
    assert history[-1]["test/neg_elbo"] < history[0]["test/neg_elbo"]
    code = m.eval().encode(x)
    assert 0 < (code != 0).float().mean() < 1
    patterns = {tuple(row.nonzero().flatten().tolist()) for row in code}
    assert len(patterns) > 1


def test_best_draw_code_is_the_draw_that_reconstructs_best_and_is_repeatable():
    m = model(code="best-draw", code_draws=6).eval()
    x = torch.rand(5, *SHAPE)
    code = m.encode(x)
    assert torch.equal(code, m.encode(x))
    q = m.posterior(x)
    from sparsevae.batching import private_rng

    with private_rng(0):
        draws = q.sample((6,))
    errors = torch.stack([-m.likelihood.log_prob(m.decoder_output(d), x) for d in draws])
    assert torch.equal(code, draws[errors.argmin(0), torch.arange(5)])
