"""VSC as in UAI 2019 (learned pseudo-input prior, selection, spike warm-up, LR drop) and β-TCVAE."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from sparsevae.distributions import SpikeSlab, bernoulli_kl
from sparsevae.errors import ConfigError
from sparsevae.models import build_model
from sparsevae.models.tcvae import total_correlation_terms
from sparsevae.training import fit, load

SHAPE = (1, 8, 8)


def small(kind: str = "vsc-uai", **config):
    config = {"input_shape": SHAPE, "latent_dim": 5, "hidden": [16], **config}
    if kind == "vsc-uai":
        config.setdefault("n_pseudo_inputs", 3)
    return build_model(kind, **config)


def images(n: int = 12) -> torch.Tensor:
    return (torch.rand(n, *SHAPE) > 0.6).float()


def test_registered_with_paper_defaults_and_config_round_trip():
    model = build_model("vsc-uai", input_shape=SHAPE)
    assert model.kind == "vsc-uai"
    assert (model.latent_dim, model.n_pseudo_inputs, model.alpha) == (60, 20, 0.003)
    assert model.likelihood.params_per_pixel == 2  # Gaussian with learned per-pixel variance
    assert model.pseudo_inputs.shape == (20, *SHAPE)
    rebuilt = build_model("vsc-uai", **model.config)
    assert rebuilt.config == model.config


def test_loss_terms_and_gradients_reach_the_prior():
    model = small()
    model.update_schedules(0.5)
    out = model.loss(images())
    assert set(out.terms) >= {"recon", "kl", "kl_selected", "kl_sparsity", "neg_elbo"}
    assert torch.isclose(out.terms["kl"], out.terms["kl_selected"] + out.terms["kl_sparsity"])
    out.loss.backward()
    assert model.pseudo_inputs.grad.abs().sum() > 0
    assert model.selector.weight.grad.abs().sum() > 0


def test_selection_rows_sum_to_one_and_the_steep_sigmoid_picks_one_component():
    model = small()
    x = images(4)
    weights = model.selection(x)
    assert weights.shape == (4, 3)
    assert torch.allclose(weights.sum(1), torch.ones(4))
    with torch.no_grad():  # make component 1 dominate: w = (0, 1, 0) after normalisation
        model.selector.weight.zero_()
        model.selector.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    picked = model.selection(x)
    assert torch.allclose(picked[:, 1], torch.ones(4), atol=1e-6)
    assert model.selected_component(x).tolist() == [1, 1, 1, 1]
    authors = small(variant="authors")
    assert torch.allclose(authors.selection(x).sum(1), torch.ones(4))


def test_kl_with_one_component_is_the_spike_and_slab_kl_plus_the_sparsity_term():
    model = small(n_pseudo_inputs=1, alpha=0.1)
    x = images(6)
    q = model.posterior(x)
    p = model.prior_components()
    expected_selected = kl_divergence(q, SpikeSlab(p.probs[0], p.loc[0], p.scale[0])).sum(1)
    expected_sparsity = model.latent_dim * bernoulli_kl(p.probs.mean(), 0.1)
    selected, sparsity = model.kl_parts(q, x)
    assert torch.allclose(selected, expected_selected, atol=1e-5)
    assert torch.allclose(sparsity, expected_sparsity.expand(6), atol=1e-5)
    assert torch.allclose(model.kl(q, x), selected + sparsity)


def test_spike_warm_up_and_learning_rate_drop_schedule():
    model = small(warmup_start=0.2, warmup_end=0.6, lr_drop_at=0.7, lr_drop_factor=0.1)
    assert model.update_schedules(0.1).values["slab_blend"] == 0.0
    assert model.update_schedules(0.4).values["slab_blend"] == pytest.approx(0.5)
    schedule = model.update_schedules(0.65)
    assert schedule.values["slab_blend"] == 1.0 and schedule.lr_scale == 1.0
    assert model.update_schedules(0.7).lr_scale == pytest.approx(0.1)
    assert model.update_schedules(0.7).record() == {
        "sharpness": 100.0,
        "slab_blend": 1.0,
        "lr_scale": pytest.approx(0.1),
    }
    # λ = 0: the training draw's slab is N(0, 1), whatever the encoder says.
    model.update_schedules(0.0)
    q = model.posterior(images(3))
    blended = model.training_posterior(q)
    assert torch.all(blended.loc == 0) and torch.allclose(blended.scale, torch.ones_like(q.scale))
    assert torch.equal(blended.probs, q.probs)
    model.update_schedules(0.4)  # λ = 0.5: mean λ·μ and log-variance λ·log σ²
    blended = model.training_posterior(q)
    assert torch.allclose(blended.loc, 0.5 * q.loc)
    assert torch.allclose(blended.scale, q.scale.sqrt(), atol=1e-5)


def test_trains_without_nan_follows_the_schedule_and_reloads(tmp_path):
    torch.manual_seed(0)
    model = small(likelihood="bernoulli", warmup_start=0.3, warmup_end=0.5, lr_drop_at=0.5)
    history = fit(
        model,
        images(64),
        images(16),
        epochs=4,
        batch_size=16,
        progress=False,
        run_dir=tmp_path / "r",
    )
    assert all(
        math.isfinite(r["train/loss"]) and math.isfinite(r["test/neg_elbo"]) for r in history
    )
    assert history[0]["slab_blend"] == 0.0 and history[0]["lr_scale"] == 1.0
    assert history[-1]["slab_blend"] == 1.0 and history[-1]["lr_scale"] == pytest.approx(0.1)
    loaded = load(tmp_path / "r")
    assert loaded.slab_blend == 1.0
    x = images(5)
    model.eval()
    assert torch.equal(loaded.encode(x), model.encode(x))


def test_samples_come_from_the_chosen_prior_component():
    model = small().eval()
    assert model.sample(7).shape == (7, *SHAPE)
    z = model.sample_latents(200, component=2)
    p = model.prior_components()
    active = (z != 0).float().mean(0)
    assert torch.allclose(active, p.probs[2].detach(), atol=0.15)
    with pytest.raises(ConfigError, match="component"):
        model.sample_latents(2, component=3)


def test_spike_links():
    model = small(spike_link="exp-relu")
    params = torch.tensor([[0.0] * 10 + [2.0, -1.0, 0.0, 3.0, -2.0]])
    assert torch.allclose(
        model.make_posterior(params).probs, torch.exp(-torch.relu(-params[:, 10:]))
    )
    smooth = small()
    assert torch.allclose(smooth.make_posterior(params).probs, torch.sigmoid(params[:, 10:]))


@pytest.mark.parametrize(
    "option",
    [
        {"variant": "paper"},
        {"warmup_start": 0.6, "warmup_end": 0.5},
        {"lr_drop_at": 1.5},
        {"lr_drop_factor": 0.0},
        {"n_pseudo_inputs": 0},
        {"selection_sharpness": -1.0},
        {"spike_link": "relu"},
        {"prior_spike_sharpness": 0.0},
    ],
)
def test_invalid_options_are_config_errors(option):
    with pytest.raises(ConfigError):
        small(**option)


# -- β-TCVAE ---------------------------------------------------------------------------------------
def test_tc_decomposition_adds_up_to_the_sampled_kl():
    torch.manual_seed(0)
    q = Normal(torch.randn(32, 4), torch.rand(32, 4) + 0.5)
    z = q.sample()
    parts = total_correlation_terms(z, q, dataset_size=1000)
    log_qz_x = q.log_prob(z).sum(1)
    log_pz = Normal(0.0, 1.0).log_prob(z).sum(1)
    assert torch.allclose(parts["mi"] + parts["tc"] + parts["dim_kl"], log_qz_x - log_pz, atol=1e-4)


def test_tc_estimates_for_identical_posteriors():
    """Every example with the same posterior: MI = log M and TC = (J − 1)·log M under MWS with
    N = M — the minibatch cannot tell the examples apart."""
    m, j = 16, 3
    q = Normal(torch.zeros(m, j), torch.ones(m, j))
    parts = total_correlation_terms(q.sample(), q)
    assert torch.allclose(parts["mi"], torch.full((m,), math.log(m)), atol=1e-4)
    assert torch.allclose(parts["tc"], torch.full((m,), (j - 1) * math.log(m)), atol=1e-4)


def test_beta_tcvae_trains_and_reports_its_terms():
    torch.manual_seed(0)
    model = small("beta-tcvae", beta=4.0, likelihood="bernoulli")
    assert model.beta == 4.0 and build_model("beta-tcvae", **model.config).config == model.config
    history = fit(model, images(48), images(16), epochs=2, batch_size=16, progress=False)
    last = history[-1]
    for key in ("train/tc", "train/mi", "train/dim_kl", "test/neg_elbo"):
        assert math.isfinite(last[key]), key
    assert last["test/neg_elbo"] == pytest.approx(last["test/recon"] + last["test/kl"], rel=1e-5)
    with pytest.raises(ConfigError):
        small("beta-tcvae", dataset_size=-1)


# -- the experiment ----------------------------------------------------------------------------------
def test_uai2019_experiment_writes_figures_and_table_and_reuses_runs(tmp_path, capsys):
    from sparsevae.cli.main import main

    out = tmp_path / "uai"
    argv = [
        "reproduce", "uai2019-smiley", "--out", str(out), "--latent-dims", "4",
        "--models", "vsc-uai", "beta-vae", "--betas", "2", "--hidden", "16",
        "--likelihood", "bernoulli", "--n-train", "64", "--n-val", "40", "--n-test", "40",
        "--epochs", "1", "--batch-size", "32", "--dci-method", "lasso", "--device", "cpu",
    ]  # fmt: skip
    assert main(argv) == 0
    for name in ("results.md", "results.json", "correlation_J4.png", "correlation_all.png"):
        assert (out / name).stat().st_size > 0, name
    table = (out / "results.md").read_text()
    assert "| vsc-uai | 4 |" in table and "| beta-vae | 4 | 2 |" in table
    assert "| raw pixels (ceiling) | 1024 |" in table
    ceiling = json.loads((out / "results.json").read_text())["pixel_ceiling"]
    assert 0.0 <= ceiling["dci_informativeness"] <= 1.0
    scores = out / "runs" / "vsc-uai_J4" / "scores.json"
    stamp = scores.stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # finished runs are reused, not retrained
    assert scores.stat().st_mtime_ns == stamp
    assert main([*argv[:-2], "--device", "cpu", "--betas", "0"]) == 2
    assert "--betas" in capsys.readouterr().err


def test_mixture_prior_elbo_matches_the_closed_form_with_one_component():
    """With P = 1 the mixture prior is the single component, so the Monte-Carlo bound must agree
    with −(recon + selected KL) in expectation."""
    torch.manual_seed(0)
    model = small(n_pseudo_inputs=1, likelihood="bernoulli").eval()
    x = images(8)
    estimate = model.mixture_prior_elbo(x, n_samples=1000).mean()
    with torch.no_grad():
        recon = torch.stack([model._terms(x)[0] for _ in range(300)]).mean(0)
        selected = model.kl_parts(model.posterior(x), x)[0]
    assert float(estimate) == pytest.approx(float(-(recon + selected).mean()), rel=0.02)
    metrics = model.extra_metrics(x)
    assert math.isfinite(metrics["neg_elbo_mixture_prior"])


def test_gated_sources_are_zero_where_their_attribute_is_absent():
    from sparsevae.data.synthetic import SMILEY_SOURCE_ATTRIBUTE, gate_smiley_sources
    from sparsevae.experiments.uai2019.protocol import SmileySettings
    from sparsevae.experiments.uai2019.sweep import load_splits

    assert list(SMILEY_SOURCE_ATTRIBUTE) == [0] * 4 + [1] * 6 + [2] * 3 + [3] * 5
    factors = np.array([[1, 0, 1, 0, *range(1, 19)]], dtype=float)
    gated = gate_smiley_sources(factors)[0]
    assert list(gated[:4]) == [1, 0, 1, 0]
    assert list(gated[4:8]) == [1, 2, 3, 4] and not gated[8:14].any()  # bow tie kept, hat gone
    assert list(gated[14:17]) == [11, 12, 13] and not gated[17:].any()  # eyes kept, mouth gone
    settings = SmileySettings(
        n_train=32, n_val=16, n_test=40, latent_dims=(4,), betas=(1.0,), hidden=8,
        likelihood="bernoulli", epochs=1, batch_size=16, lr=1e-3, factors="gated",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="--factors"):
        dataclasses.replace(settings, factors="gates")
    splits = load_splits(settings)
    assert splits.test_factors.shape == (40, 22) and splits.factor_names[4].endswith("(gated)")
    absent = splits.test_factors[:, 1] == 0  # no hat: its 6 sources are 0
    assert not splits.test_factors[absent][:, 8:14].any()


def test_the_smiley_cost_estimate_counts_the_pixels_of_a_smiley():
    from sparsevae.data import load_dataset
    from sparsevae.experiments.uai2019.protocol import PIXELS

    assert math.prod(load_dataset("smiley", n_train=1, n_test=1).shape) == PIXELS


def test_the_authors_protocol_presets_their_notebook_and_flags_still_win():
    from sparsevae.cli.main import build_parser
    from sparsevae.experiments.uai2019.cli import settings_from_args
    from sparsevae.experiments.uai2019.protocol import RunSpec

    parser = build_parser()
    argv = ["reproduce", "uai2019-smiley", "--out", "x", "--protocol", "authors", "--epochs", "3"]
    s = settings_from_args(parser.parse_args(argv))
    assert (s.n_train, s.epochs, s.n_pseudo_inputs, s.variant, s.lr_drop_at) == (
        60000, 3, 10, "authors", 0.3
    )  # fmt: skip
    assert (s.l2_normalise, s.prior_spike_sharpness, s.protocol) == (True, 10.0, "authors")
    assert s.lr_of(RunSpec("beta-vae", 18, 1.0)) == 5e-5 and s.lr_of(RunSpec("vsc-uai", 18)) == 5e-4
    config = s.model_config(RunSpec("vsc-uai", 60), [1, 32, 32])
    assert config["prior_spike_sharpness"] == 10.0 and config["variant"] == "authors"
    default = settings_from_args(parser.parse_args(["reproduce", "uai2019-smiley", "--out", "x"]))
    assert (default.n_train, default.variant, default.l2_normalise) == (80000, "supplement", False)
    assert "prior_spike_sharpness" not in default.model_config(RunSpec("vsc-uai", 60), [1, 32, 32])
    assert default.lr_of(RunSpec("beta-vae", 18, 1.0)) == 5e-4


def test_the_cpu_protocol_runs_every_contender_and_each_builds():
    from sparsevae.cli.main import build_parser
    from sparsevae.experiments.uai2019.cli import settings_from_args
    from sparsevae.experiments.uai2019.protocol import MODELS, PAPER_MODELS
    from sparsevae.models import build_model

    parser = build_parser()
    cpu = settings_from_args(
        parser.parse_args(["reproduce", "uai2019-smiley", "--out", "x", "--protocol", "cpu"])
    )
    assert cpu.models == MODELS and (cpu.hidden, cpu.epochs, cpu.n_train) == ([512], 30, 60000)
    runs = [r.id for r in cpu.runs() if r.latent_dim == 60]
    assert len(runs) == 5 + 2 * len(cpu.betas) and "vsc-uai-authors_J60" in runs
    for spec in cpu.runs()[: len(runs)]:
        config = {**cpu.model_config(spec, [1, 32, 32]), "hidden": [8]}
        model = build_model(spec.model_kind, **config)
        assert model.latent_dim == spec.latent_dim
    authors = cpu.model_config(cpu.runs()[1], [1, 32, 32])
    assert authors["variant"] == "authors" and cpu.model_config(cpu.runs()[0], [1])["variant"] == (
        "supplement"
    )
    paper = settings_from_args(parser.parse_args(["reproduce", "uai2019-smiley", "--out", "x"]))
    assert paper.models == PAPER_MODELS
    chosen = ["reproduce", "uai2019-smiley", "--out", "x", "--protocol", "cpu", "--models", "vsc"]
    assert settings_from_args(parser.parse_args(chosen)).models == ("vsc",)


def test_attribute_accuracy_and_switches_tell_a_switching_code_from_a_dense_one():
    from sparsevae.experiments.uai2019.diagnostics import (
        attribute_accuracy,
        attribute_switches,
        usage_summary,
    )

    rng = np.random.default_rng(0)
    attributes = rng.integers(0, 2, (400, 2))
    noise = rng.normal(size=(400, 3))
    # latent 0 is on exactly with attribute 0; latent 1 always on; latent 2 dead
    switching = np.column_stack([attributes[:, 0] * (1 + noise[:, 0] ** 2), 1 + noise[:, 1] ** 2,
                                 np.zeros(400)])  # fmt: skip
    assert attribute_switches(switching, attributes) == [1, 0]
    assert usage_summary(switching) == {
        "dead_latents": 1, "always_on_latents": 1, "input_dependent_latents": 1
    }  # fmt: skip
    dense = noise + attributes[:, :1]  # knows attribute 0, never exactly zero
    assert attribute_switches(dense, attributes) == [0, 0]
    accuracy = attribute_accuracy(dense[:200], attributes[:200], dense[200:], attributes[200:])
    assert accuracy[0] > 0.75 and abs(accuracy[1] - 0.5) < 0.1  # attribute 1 is not in the code
    constant = attribute_accuracy(dense[:200], np.zeros((200, 1)), dense[200:], attributes[200:])
    assert constant == [None]


def test_uai2019_shards_train_each_run_once_and_report_only_draws_the_whole_table(tmp_path, capsys):
    from sparsevae.cli.main import main

    out = tmp_path / "uai"
    argv = [
        "reproduce", "uai2019-smiley", "--out", str(out), "--latent-dims", "4",
        "--models", "vsc", "topk-ae", "beta-vae", "--betas", "2", "--hidden", "16", "--topk-k", "2",
        "--likelihood", "bernoulli", "--n-train", "64", "--n-val", "40", "--n-test", "40",
        "--epochs", "1", "--batch-size", "32", "--dci-method", "lasso", "--device", "cpu",
        "--no-progress",
    ]  # fmt: skip
    assert main([*argv, "--shard", "1/2"]) == 0
    assert "1 of the grid's 3 runs have not finished" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["beta-vae_J4_b2", "vsc_J4"]
    assert main([*argv, "--shard", "2/2"]) == 0
    assert (out / "runs" / "topk-ae_J4").is_dir()
    assert main([*argv, "--report-only"]) == 0
    table = (out / "results.md").read_text()
    assert all(f"| {kind} | 4 |" in table for kind in ("vsc", "topk-ae", "beta-vae"))
    row = json.loads((out / "runs" / "topk-ae_J4" / "scores.json").read_text())
    assert len(row["attribute_accuracy"]) == 4 and len(row["attribute_switches"]) == 4


def test_the_authors_protocol_runs_end_to_end_at_a_tiny_size(tmp_path):
    """Everything of the authors' preset (L2-scaled images, Gaussian pixels with learned variance,
    10 pseudo-inputs with ν = 10, their selection, the baselines' own rate) but the sizes."""
    from sparsevae.cli.main import main

    out = tmp_path / "authors"
    argv = [
        "reproduce", "uai2019-smiley", "--protocol", "authors", "--out", str(out),
        "--latent-dims", "4", "--betas", "1", "--hidden", "16", "--n-train", "64",
        "--n-val", "40", "--n-test", "40", "--epochs", "2", "--batch-size", "32",
        "--dci-method", "lasso", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    protocol = json.loads((out / "results.json").read_text())["protocol"]
    assert (protocol["l2_normalise"], protocol["variant"], protocol["baseline_lr"]) == (
        True, "authors", 5e-5
    )  # fmt: skip
    config = json.loads((out / "runs" / "vsc-uai_J4" / "config.json").read_text())["model"]
    assert config["config"]["prior_spike_sharpness"] == 10.0
    assert config["config"]["likelihood"] == "gaussian-learned"
