"""Evaluation library: importance-weighted likelihood, sparsity distribution, the evaluate verb."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sparsevae import VAE, VSC, fit
from sparsevae.cli.main import main
from sparsevae.data import load_dataset
from sparsevae.errors import ConfigError
from sparsevae.evaluation import (
    active_element_counts,
    active_element_distribution,
    evaluate_model,
    iwae_log_likelihood,
    sparsity,
)
from sparsevae.models import build_model


def constant_decoder(model) -> None:
    """Make p(x|z) independent of z: the decoder's first layer ignores its input."""
    first = next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight.zero_()


def set_posterior(model, loc: float, log_var: float, v: float | None = None) -> None:
    """Posterior parameters independent of x: zero head weights, biases set per head."""
    j = model.latent_dim
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias[:j] = loc
        model.head.bias[j : 2 * j] = log_var
        if v is not None:
            model.head.bias[2 * j :] = v


@torch.no_grad()
def exact_log_px(model, x: torch.Tensor) -> torch.Tensor:
    z = torch.zeros(len(x), model.latent_dim)
    return model.likelihood.log_prob(model.decoder_output(z), x)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(6, 1, 4, 4)


@pytest.mark.parametrize(
    ("kind", "extra", "v"), [("vae", {}, None), ("vsc", {"alpha": 0.3}, math.log(0.3))]
)
def test_iwae_is_exact_when_the_posterior_is_the_prior(images, kind, extra, v):
    # q = p and p(x|z) constant: every importance weight is p(x), including draws at VSC's atom,
    # which checks that prior and posterior use the same (Lebesgue + atom) reference measure.
    model = build_model(kind, input_shape=(1, 4, 4), latent_dim=5, hidden=[8], **extra)
    constant_decoder(model)
    set_posterior(model, 0.0, 0.0, v)
    estimate = iwae_log_likelihood(model, images, samples=7, chunk_size=3)
    assert torch.allclose(estimate, exact_log_px(model, images), atol=1e-4)


@pytest.mark.parametrize(("kind", "extra", "v"), [("vae", {}, None), ("vsc", {"alpha": 0.3}, -0.4)])
def test_iwae_converges_to_log_px_from_below(images, kind, extra, v):
    model = build_model(kind, input_shape=(1, 4, 4), latent_dim=3, hidden=[8], **extra)
    constant_decoder(model)
    set_posterior(model, 0.4, math.log(0.7), v)  # q ≠ p: weights vary
    exact = exact_log_px(model, images)
    k1 = iwae_log_likelihood(model, images, samples=1, seed=1)
    k_many = iwae_log_likelihood(model, images, samples=4000, chunk_size=500, seed=1)
    assert (k1 < exact - 1e-3).float().mean() > 0.5  # one sample: the ELBO gap shows
    assert torch.allclose(k_many, exact, atol=0.05)  # many: the bound closes
    assert float(k_many.mean()) > float(k1.mean())


@pytest.fixture(scope="module")
def trained_vsc():
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = VSC(input_shape=(1, 8, 8), latent_dim=8, hidden=[64], alpha=0.2)
    fit(model, data.train_x, epochs=2, batch_size=64, progress=False)
    return model, data.test_x[:60]


def test_iwae_bounds_the_elbo_and_rises_with_k(trained_vsc):
    model, x = trained_vsc
    torch.manual_seed(3)
    model.eval()
    with torch.no_grad():
        elbos = torch.stack([model.elbo(x) for _ in range(50)]).mean(
            0
        )  # E_q of the single-sample ELBO
    estimates = {
        k: float(iwae_log_likelihood(model, x, samples=k, seed=2).mean()) for k in (1, 20, 400)
    }
    assert abs(estimates[1] - float(elbos.mean())) < 1.5
    assert float(elbos.mean()) < estimates[20] < estimates[400]


def test_iwae_batching_does_not_change_the_estimate(trained_vsc):
    model, x = trained_vsc
    a = iwae_log_likelihood(model, x[:4], samples=30, batch_size=4, chunk_size=30, seed=5)
    b = iwae_log_likelihood(model, x[:4], samples=30, batch_size=4, chunk_size=7, seed=5)
    assert a.shape == (4,)
    assert torch.isfinite(b).all()
    # different chunking changes the draws, not the quantity estimated
    assert torch.allclose(a, b, atol=2.0)


def test_iwae_refuses_models_without_a_prior_and_bad_k(images):
    ae = build_model("ae", input_shape=(1, 4, 4), latent_dim=3, hidden=[8])
    with pytest.raises(ConfigError, match="variational"):
        iwae_log_likelihood(ae, images, samples=3)
    vae = VAE(input_shape=(1, 4, 4), latent_dim=3, hidden=[8])
    with pytest.raises(ConfigError, match="k must be"):
        iwae_log_likelihood(vae, images, samples=0)


def test_active_element_distribution_counts_exact_zeros():
    codes = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 1.0, 0.0]])
    assert active_element_counts(codes).tolist() == [2, 0, 3]
    dist = active_element_distribution(codes)
    assert dist["active_elements_histogram"] == [1, 0, 1, 1, 0]
    assert dist["active_elements_median"] == 2.0
    summary = sparsity(codes)
    assert summary["sparsity"] == pytest.approx(7 / 12)
    assert summary["sparsity_per_example_max"] == 1.0


def test_evaluate_model_keeps_its_keys(trained_vsc):
    model, x = trained_vsc
    metrics = evaluate_model(model, x)
    for key in ("neg_elbo", "recon", "kl", "sparsity", "active_units", "active_elements_mean"):
        assert key in metrics
    assert metrics["neg_elbo"] == pytest.approx(metrics["recon"] + metrics["kl"], rel=1e-5)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    args = ["train", "--model", "vsc", "--latent-dim", "6", "--hidden", "32", "--alpha", "0.2"]
    args += ["--epochs", "1", "--batch-size", "128", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    return out


def test_evaluate_cli_reports_likelihood_probes_and_figures(run_dir, tmp_path, capsys):
    figures = tmp_path / "figs"
    figures.mkdir()
    argv = ["evaluate", str(run_dir), "--json", "--iwae-k", "20", "--iwae-examples", "30"]
    argv += ["--probe", "all", "--probe-labels", "300", "--figures", str(figures)]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["iwae_k"] == 20 and metrics["iwae_examples"] == 30
    # Seeded run, seeded evaluation: the values this run gives (one test example is 0.0034).
    assert metrics["iwae_neg_log_likelihood"] == pytest.approx(47.844, abs=0.05)
    assert metrics["probe_code"] == "sparse" and metrics["probe_labels"] == 300
    expected = {"paper": 0.1717, "linear": 0.6229, "knn": 0.6229}
    for probe, accuracy in expected.items():
        assert metrics[f"probe_{probe}_accuracy"] == pytest.approx(accuracy, abs=0.004)
    assert sum(metrics["active_elements_histogram"]) == metrics["n_examples"]
    written = sorted(p.name for p in figures.iterdir())
    assert written == [
        "active_elements.png",
        "code_usage.png",
        "reconstructions.png",
        "samples.png",
        "traversals.png",
    ]
    # a second run must not overwrite the figures silently
    assert main(["evaluate", str(run_dir), "--figures", str(figures)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--figures", str(figures), "--overwrite"]) == 0


def test_evaluate_cli_table_and_bad_flags(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--probe", "paper", "--code", "mu"]) == 0
    out = capsys.readouterr().out
    assert "accuracy, paper probe" in out and "%" in out and "mu" in out
    assert main(["evaluate", str(run_dir), "--iwae-k", "0"]) == 2
    assert "--iwae-k" in capsys.readouterr().err


def test_evaluate_figures_creates_its_directory(run_dir, tmp_path):
    figures = tmp_path / "new" / "figures"
    assert main(["evaluate", str(run_dir), "--figures", str(figures)]) == 0
    assert (figures / "reconstructions.png").is_file()
    (tmp_path / "file").write_text("")
    assert main(["evaluate", str(run_dir), "--figures", str(tmp_path / "file")]) == 2
