"""Every registered model honours the same contract; model-specific rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError
from sparsevae.models import MODELS, Schedule, build_model
from sparsevae.models.config import NetworkConfig
from sparsevae.models.registry import model_parameters, rebuild_model

SHAPE = (1, 8, 8)


def make(kind: str, **kwargs):
    kwargs.setdefault("latent_dim", 6)
    kwargs.setdefault("hidden", [16])
    return build_model(kind, input_shape=SHAPE, **kwargs)


def labels(n):
    return torch.arange(n) % 10


def small_options(kind: str) -> dict:
    """Small options for any registered kind, chosen from the options its config has."""
    defaults = model_parameters(MODELS[kind])
    options: dict = {"input_shape": SHAPE}
    if "hidden" in defaults:
        options.update(latent_dim=6, hidden=[16])
    elif "components" in defaults:
        options.update(components=2, component_dim=3)
    elif "component_dim" in defaults:
        options.update(component_dim=3)
    else:
        options.update(latent_dim=6)
    if "n_pseudo_inputs" in defaults:
        options.update(n_pseudo_inputs=3)
    if "k" in defaults:
        options.update(k=2)
    if "nonzeros" in defaults:
        options.update(nonzeros=2)
    return options


def small(kind: str):
    """A small model of ``kind``, fitted when it is fitted in closed form."""
    torch.manual_seed(0)
    model = build_model(kind, **small_options(kind))
    if model.fits_in_closed_form:
        model.fit_closed_form(torch.rand(40, *SHAPE))
    return model


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_contract(kind):
    model = small(kind)
    x = torch.rand(5, *SHAPE)
    y = labels(5) if model.num_classes else None
    out = model.loss(x, y)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert torch.equal(out.terms["loss"], out.loss)
    if not model.fits_in_closed_form:
        out.loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    x = torch.rand(5, *SHAPE)  # (LLGAE seeded its means with the first batch's images)
    code = model.encode(x, y)
    assert code.shape == (5, model.latent_dim)
    recon = model.decode(code, y)
    assert recon.shape == x.shape
    if isinstance(model.config, NetworkConfig) and model.config.likelihood == "bernoulli":
        assert recon.min() >= 0 and recon.max() <= 1  # the mean of Bernoulli pixels
    if model.is_variational:
        assert model.sample(3, labels(3) if model.num_classes else None).shape == (3, *SHAPE)
        assert {"kl", "neg_elbo"} <= set(out.terms)
        assert model.elbo(x, y).shape == (5,)
    else:
        with pytest.raises(ConfigError, match="has no prior"):
            model.sample(3)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_config_rebuilds_an_identical_model(kind):
    model = small(kind)
    clone = build_model(kind, **model.config)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    x = torch.rand(4, *SHAPE)
    y = labels(4) if model.num_classes else None
    assert torch.equal(model.encode(x, y), clone.encode(x, y))


def test_every_registered_kind_is_in_the_readme_table():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(f"`{kind}`" in readme for kind in MODELS)
    assert len(MODELS) >= 15


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.9])
def test_vsc_paper_code_is_gamma_mu_thresholded(threshold):
    model = make("vsc", alpha=0.5, code_threshold=threshold, code="sparse-mean").eval()
    with torch.no_grad():  # spread γ over (0, 1] so that the threshold matters
        model.head.bias[12:].copy_(torch.linspace(-3, 1, 6))
    x = torch.rand(64, *SHAPE)
    q = model.posterior(x)
    code = model.encode(x)
    keep = q.probs >= threshold
    assert 0 < keep.float().mean() <= 1
    assert torch.equal(code[~keep], torch.zeros_like(code[~keep]))
    assert torch.allclose(code[keep], (q.probs * q.loc)[keep])


def test_vsc_default_code_is_mu_where_active_and_old_runs_keep_gamma_mu():
    model = make("vsc", alpha=0.5).eval()
    with torch.no_grad():
        model.head.bias[12:].copy_(torch.linspace(-3, 1, 6))
    x = torch.rand(64, *SHAPE)
    q = model.posterior(x)
    keep = q.probs >= 0.5
    assert torch.equal(model.encode(x), torch.where(keep, q.loc, torch.zeros_like(q.loc)))
    old = {k: v for k, v in model.config.items() if k != "code"}  # a config.json of 0.1.0
    assert rebuild_model("vsc", old).config.code == "sparse-mean"
    assert build_model("vsc", **old).config.code == "mean-active"


def test_vsc_gamma_is_at_most_one():
    model = make("vsc")
    with torch.no_grad():
        model.head.bias.fill_(5.0)
    q = model.posterior(torch.rand(3, *SHAPE))
    assert torch.all(q.probs <= 1.0) and torch.all(q.probs == 1.0)


def test_vsc_sharpness_schedule():
    model = make("vsc")
    assert model.update_schedules(0.0) == Schedule({"sharpness": 50.0})
    assert model.update_schedules(0.5) == Schedule({"sharpness": 125.0})
    assert model.update_schedules(1.0).record() == {"sharpness": 200.0}
    const = make("vsc", sharpness_schedule="constant", sharpness_start=80.0)
    assert const.update_schedules(0.7) == Schedule({"sharpness": 80.0})


def test_vsc_kl_is_the_closed_form_sum():
    model = make("vsc", alpha=0.1).eval()
    x = torch.rand(7, *SHAPE)
    q = model.posterior(x)
    gamma = q.probs.clamp(1e-6, 1 - 1e-6)
    normal = 0.5 * (q.loc**2 + q.scale**2 - 1 - torch.log(q.scale**2))
    bern = gamma * torch.log(gamma / 0.1) + (1 - gamma) * torch.log((1 - gamma) / 0.9)
    assert torch.allclose(model.kl(q), (gamma * normal + bern).sum(1), atol=1e-5)


def test_beta_weights_the_kl():
    torch.manual_seed(0)
    model = make("beta-vae", beta=3.0).eval()
    out = model.loss(torch.rand(4, *SHAPE))
    assert torch.isclose(out.terms["loss"], out.terms["recon"] + 3.0 * out.terms["kl"])


def test_cvae_needs_labels_and_conditions_samples():
    model = make("cvae")
    with pytest.raises(ConfigError, match="labels"):
        model.loss(torch.rand(2, *SHAPE))
    with pytest.raises(ConfigError, match="integers"):
        model.loss(torch.rand(2, *SHAPE), torch.tensor([0, 10]))
    torch.manual_seed(0)
    a = model.sample(2, torch.tensor([1, 1]))
    torch.manual_seed(0)
    b = model.sample(2, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)  # the label changes the decoded image


def test_sparse_ae_penalises_and_zeroes_codes():
    torch.manual_seed(0)
    model = make("sparse-ae", l1=0.5)
    x = torch.rand(64, *SHAPE)
    with torch.no_grad():
        model.to_code.bias[:3] = -100.0  # these three pre-activations are negative for any x
    out = model.loss(x)
    code = model.encode(x)
    assert torch.isclose(out.terms["loss"], out.terms["recon"] + out.terms["l1"])
    assert torch.isclose(out.terms["l1"], 0.5 * code.abs().sum(1).mean())
    assert torch.equal(code[:, :3], torch.zeros(64, 3))  # the ReLU gives exact zeros
    assert (code[:, 3:] > 0).any() and (code >= 0).all()


def test_denoising_corrupts_only_while_training(monkeypatch):
    model = make("dae", noise="masking", noise_level=0.5)
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda x, y=None: seen.append(x) or encode(x, y))
    x = torch.ones(2, *SHAPE)
    model.train().loss(x)
    masked = (seen[-1] == 0).float().mean()
    assert 0.3 < masked < 0.7  # about half the pixels of the encoder's input are masked
    model.eval().loss(x)
    assert torch.equal(seen[-1], x)  # evaluation encodes the clean input


@pytest.mark.parametrize(
    "kind,kwargs,match",
    [
        ("vsc", {"alpha": 0.0}, "alpha"),
        ("vsc", {"alpha": 1.0}, "alpha"),
        ("vae", {"latent_dim": 0}, "latent_dim"),
        ("vae", {"beta": -1.0}, "beta"),
        ("vae", {"likelihood": "poisson"}, "likelihood"),
        ("vae", {"arch": "transformer"}, "arch must be one of mlp, conv"),
        ("laplace-vae", {"prior_scale": 0.0}, "prior_scale"),
        ("dae", {"noise": "salt"}, "noise"),
        ("nope", {}, "unknown model"),
        ("vae", {"bogus": 1}, "model 'vae' has no option 'bogus'"),
    ],
)
def test_bad_configs_are_refused(kind, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make(kind, **kwargs)


def test_conv_architecture_on_28x28_and_32x32():
    for shape in ((1, 28, 28), (3, 32, 32)):
        model = build_model("vsc", input_shape=shape, latent_dim=8, hidden=[32], arch="conv")
        x = torch.rand(2, *shape)
        assert torch.isfinite(model.loss(x).loss)
        assert model.decode(model.encode(x)).shape == x.shape
    with pytest.raises(ConfigError, match="conv"):
        build_model("vae", input_shape=(1, 8, 6), arch="conv")


def test_gaussian_learned_likelihood_doubles_decoder_outputs():
    model = make("vae", likelihood="gaussian-learned")
    x = torch.rand(3, *SHAPE)
    assert model.decoder_output(torch.zeros(3, 6)).shape == (3, 2, 8, 8)
    assert model.decode(torch.zeros(3, 6)).shape == x.shape


def test_public_api_names():
    model = sparsevae.VSC(input_shape=(1, 28, 28), latent_dim=200, alpha=0.01)
    assert model.kind == "vsc" and model.alpha == 0.01
    x = torch.rand(2, 1, 28, 28)
    assert model.elbo(x).shape == (2,)


def test_relaxed_draws_context_switches_eval_draws_and_restores():
    from sparsevae.models.vae import relaxed_draws

    model = make("vsc", alpha=0.2).eval()
    x = torch.rand(256, *SHAPE)
    q = model.posterior(x)
    exact = model.draw(q)
    assert (exact == 0).any()  # exact draws have true zeros
    with relaxed_draws(model, sharpness=5.0):
        assert model.sharpness == 5.0
        relaxed = model.draw(model.posterior(x))
        assert (relaxed != 0).all()  # a soft selection is never exactly zero
    assert model.sharpness == 50.0 and not model.relaxed_eval


def test_sparse_ae_l1_warm_up_schedule():
    model = make("sparse-ae", l1=0.4, l1_warmup=0.5)
    assert model.update_schedules(0.0).values == {"l1_weight": 0.0}
    assert model.update_schedules(0.25).values == {"l1_weight": pytest.approx(0.2)}
    assert model.update_schedules(0.9).values == {"l1_weight": pytest.approx(0.4)}
    code = torch.rand(3, 6)
    assert torch.isclose(model.penalty(code)["l1"], 0.4 * code.sum(1).mean())
    assert make("sparse-ae", l1_warmup=0.0).update_schedules(0.1) == Schedule()


def test_sparse_ae_defaults_keep_a_live_code_on_digits():
    data = sparsevae.load_dataset("digits")
    for seed in range(3):
        torch.manual_seed(seed)
        model = sparsevae.SparseAutoencoder(input_shape=data.shape)
        sparsevae.fit(model, data.train_x, epochs=10, seed=seed, progress=False)
        nonzeros = (sparsevae.encode_dataset(model, data.test_x) != 0).sum(1).float()
        assert 3 < nonzeros.mean() < 20  # sparse, and not dead (l1 = 1 without warm-up: 0)
