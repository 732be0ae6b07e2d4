"""LLGAE / LGAE, the PCA and mixture-of-PCAs baselines, the note's pixel metric, and the
``reproduce llgae`` experiment."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
import torch

from sparsevae.cli.main import main
from sparsevae.errors import ConfigError, DataError
from sparsevae.evaluation import evaluate_model
from sparsevae.evaluation.pixel_error import centred_pixel_error, model_pixel_error, pixel_error
from sparsevae.models import build_model
from sparsevae.training import fit, load

# -- data made in the tests --------------------------------------------------------------------------


def union_of_subspaces(n: int, dim: int = 16, k: int = 3, e: int = 2, seed: int = 0):
    """n points in [0, 1]^dim on k random affine e-dimensional subspaces, and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = 0.3 + 0.4 * torch.rand(k, dim, generator=g)
    bases = torch.linalg.qr(torch.randn(k, dim, e, generator=g)).Q * 0.15
    labels = torch.arange(n) % k
    coords = torch.rand(n, e, generator=g) * 2 - 1
    x = centres[labels] + torch.einsum("nde,ne->nd", bases[labels], coords)
    return x.clamp(0, 1).reshape(n, 1, 4, dim // 4), labels


# -- the note's metric -------------------------------------------------------------------------------


def test_pixel_error_ignores_a_brightness_offset_and_scales_to_255():
    x = torch.rand(5, 1, 4, 4)
    assert torch.allclose(centred_pixel_error(x, x + 0.1), torch.zeros(5, dtype=torch.float64))
    # One pixel off by 1/255 in a 16-pixel image: d = (1, 0, …, 0), d − d̄ has squared mean
    # (15/16)²/16 + 15·(1/16)²/16 = 15/256.
    y = x.clone()
    y[0, 0, 0, 0] += 1 / 255
    error = centred_pixel_error(x, y)
    assert error[0].item() == pytest.approx(15 / 256, rel=1e-4)
    assert torch.all(error[1:] == 0)


def test_pixel_error_is_plain_mse_minus_squared_mean_difference():
    x, r = torch.rand(7, 1, 5, 5), torch.rand(7, 1, 5, 5)
    d = (x - r).flatten(1).double() * 255
    expected = (d.pow(2).mean(1) - d.mean(1).pow(2)).mean().item()
    assert pixel_error(lambda xb: r, x) == pytest.approx(expected)
    # Batching does not change the average.
    assert pixel_error(lambda xb: xb * 0.5, x, batch_size=3) == pytest.approx(
        pixel_error(lambda xb: xb * 0.5, x, batch_size=100)
    )


def test_pixel_error_rejects_mismatched_shapes_and_empty_data():
    with pytest.raises(DataError, match="differs"):
        centred_pixel_error(torch.zeros(2, 1, 4, 4), torch.zeros(2, 16))
    with pytest.raises(DataError, match="empty"):
        pixel_error(lambda xb: xb, torch.zeros(0, 1, 4, 4))


# -- LLGAE --------------------------------------------------------------------------------------------


def reference_codes(model, flat: torch.Tensor) -> torch.Tensor:
    """The note's update written out per component (a loop over k; the model has none)."""
    codes = []
    for k in range(model.components):
        mu, w = model.means[k], model.bases[k]
        b = torch.zeros(len(flat), model.component_dim)
        for _ in range(model.steps):
            residual = flat - mu - b @ w.T
            b = b + model.step_size * (residual @ w - model.code_l2 * b)
        codes.append(b)
    return torch.stack(codes, 1)


def test_llgae_codes_follow_the_update_rule_and_the_winner_has_the_smallest_residual():
    torch.manual_seed(1)
    model = build_model("llgae", input_shape=[1, 4, 4], components=4, component_dim=3, steps=7)
    with torch.no_grad():
        model.means.copy_(torch.rand(4, 16))
    flat = torch.rand(10, 16)
    codes, residual = model.solve_codes(flat)
    expected = reference_codes(model, flat)
    assert torch.allclose(codes, expected, atol=1e-5)
    exact = (
        (flat[:, None] - model.means - torch.einsum("kde,nke->nkd", model.bases, expected))
        .pow(2)
        .sum(-1)
    )
    assert torch.allclose(residual, exact, rtol=1e-4, atol=1e-4)
    z = model.encode(flat.reshape(10, 1, 4, 4)).reshape(10, 4, 3)
    winners = (z != 0).any(-1).float().argmax(1)
    assert torch.equal(winners, exact.argmin(1))


def test_lstsq_codes_are_the_ridge_solution_and_the_limit_of_many_steps():
    torch.manual_seed(2)
    config = dict(input_shape=[1, 4, 4], components=3, component_dim=2, code_l2=0.5)
    iterative = build_model("llgae", steps=4000, step_size=0.05, **config)
    closed = build_model("llgae", code_solver="lstsq", **config)
    closed.load_state_dict(iterative.state_dict())
    flat = torch.rand(6, 16)
    codes, _ = closed.solve_codes(flat)
    w, mu = closed.bases, closed.means
    # Normal equations: (WᵀW + λI) b = Wᵀ(x − μ) for every component.
    lhs = torch.einsum("kde,kdf,nkf->nke", w, w, codes) + 0.5 * codes
    rhs = torch.einsum("kde,nkd->nke", w, flat[:, None] - mu)
    assert torch.allclose(lhs, rhs, atol=1e-4)
    assert torch.allclose(iterative.solve_codes(flat)[0], codes, atol=1e-3)


def test_llgae_sparse_code_round_trip_and_decode_errors():
    model = build_model("llgae", input_shape=[1, 4, 4], components=3, component_dim=5)
    x = torch.rand(8, 1, 4, 4)
    z = model.encode(x)
    assert z.shape == (8, 15)
    assert torch.all((z != 0).sum(1) == 5)
    assert torch.allclose(model.decode(z), model.reconstruct(x))
    two_blocks = z.clone()
    two_blocks[:, :] = 1.0
    with pytest.raises(ConfigError, match="exactly one block"):
        model.decode(two_blocks)
    with pytest.raises(ConfigError, match=r"shape \(N, 15\)"):
        model.decode(torch.zeros(2, 7))


def reference_loss(
    w: torch.Tensor,
    mu: torch.Tensor,
    flat: torch.Tensor,
    steps: int,
    beta: float,
    detach_code: bool = False,
) -> torch.Tensor:
    """One component: T steps of the update, then the mean squared residual."""
    b = torch.zeros(len(flat), w.shape[1], dtype=flat.dtype)
    for _ in range(steps):
        b = b + beta * ((flat - mu - b @ w.T) @ w - b)
    if detach_code:
        b = b.detach()
    return (flat - mu - b @ w.T).pow(2).sum(1).mean()


def test_gradients_flow_through_the_unrolled_steps():
    model = build_model("lgae", input_shape=[1, 4, 4], component_dim=3, step_size=0.05).train()
    model.seeded.fill_(True)  # keep the initial means
    x = torch.rand(32, 1, 4, 4)
    model.loss(x).loss.backward()
    w = model.bases[0].detach().clone().requires_grad_()
    mu = model.means[0].detach().clone().requires_grad_()
    reference_loss(w, mu, x.reshape(32, 16), 5, 0.05).backward()
    assert torch.allclose(model.bases.grad[0], w.grad, rtol=1e-4, atol=1e-5)
    assert torch.allclose(model.means.grad[0], mu.grad, rtol=1e-4, atol=1e-5)
    # The path through the code matters: without it the gradient would be different.
    w2 = w.detach().clone().requires_grad_()
    reference_loss(w2, mu.detach(), x.reshape(32, 16), 5, 0.05, detach_code=True).backward()
    assert not torch.allclose(w2.grad, w.grad, rtol=1e-2)


def test_llgae_learns_a_union_of_subspaces_better_than_lgae():
    x, _ = union_of_subspaces(600)
    common = dict(epochs=20, batch_size=60, lr=3e-3, optimizer="rmsprop", progress=False)
    llgae = build_model(
        "llgae", input_shape=[1, 4, 4], components=3, component_dim=2, step_size=0.5
    )
    lgae = build_model("lgae", input_shape=[1, 4, 4], component_dim=2, step_size=0.5)
    history = fit(llgae, x, x, **common)
    fit(lgae, x, x, **common)
    assert history[-1]["test/sq_error"] < 0.5 * history[0]["test/sq_error"]
    assert model_pixel_error(llgae, x) < 0.5 * model_pixel_error(lgae, x)
    metrics = evaluate_model(llgae, x)
    assert metrics["components_used"] >= 2
    assert metrics["active_elements_mean"] == pytest.approx(2.0)


def test_mixture_pca_init_starts_llgae_at_the_closed_form_fit():
    x, _ = union_of_subspaces(600, e=2, k=3, seed=3)
    mixture = build_model("mixture-pca", input_shape=[1, 4, 4], components=3, component_dim=2)
    mixture.fit_closed_form(x)
    model = build_model(
        "llgae", input_shape=[1, 4, 4], components=3, component_dim=2, init="mixture-pca"
    )
    random_start = build_model("llgae", input_shape=[1, 4, 4], components=3, component_dim=2)
    torch.manual_seed(0)
    model.initialise_from_data(x.reshape(600, 16))
    random_start.initialise_from_data(x.reshape(600, 16))  # "random": leaves the model alone
    assert bool(model.seeded) and not bool(random_start.seeded)
    # Scaled so that one step of β = 0.01 lands on the ridge code: the five steps reconstruct
    # within the ridge's 1 % shrinkage of the mixture's projections.
    assert model_pixel_error(model, x) < 1.5 * model_pixel_error(mixture, x) + 1.0
    assert model_pixel_error(model, x) < 0.2 * model_pixel_error(random_start, x)
    # Through the trainer: a fresh run calls the hook, so the first epoch already starts low.
    trained = build_model(
        "llgae", input_shape=[1, 4, 4], components=3, component_dim=2, init="mixture-pca"
    )
    history = fit(trained, x, x, epochs=1, batch_size=60, optimizer="rmsprop", progress=False)
    assert history[0]["test/sq_error"] < 0.05
    with pytest.raises(ConfigError, match="init"):
        build_model("llgae", init="kmeans")


def test_mixture_pca_refit_uses_the_svd_when_a_component_has_fewer_examples_than_pixels():
    # 3 components × 10 examples in 16 dimensions: every refit takes the thin-SVD branch.
    x, _ = union_of_subspaces(30, e=2, k=3, seed=5)
    model = build_model("mixture-pca", input_shape=[1, 4, 4], components=3, component_dim=2)
    model.fit_closed_form(x)
    gram = torch.einsum("kde,kdf->kef", model.bases, model.bases)
    assert torch.allclose(gram, torch.eye(2).expand(3, 2, 2), atol=1e-5)  # orthonormal bases
    assert model.fit_history[-1] < 1e-3


def test_lgae_is_one_component_and_configs_are_checked():
    model = build_model("lgae", input_shape=[1, 4, 4], component_dim=3)
    assert model.components == 1 and model.latent_dim == 3
    assert "components" not in model.config
    with pytest.raises(ConfigError):
        build_model("lgae", components=3)
    with pytest.raises(ConfigError, match="code_solver"):
        build_model("llgae", code_solver="newton")
    with pytest.raises(ConfigError, match="step_size"):
        build_model("llgae", step_size=0.0)
    with pytest.raises(ConfigError, match="code_l2"):
        build_model("llgae", code_l2=-1.0)


def test_llgae_run_directory_round_trip(tmp_path):
    x, _ = union_of_subspaces(120)
    model = build_model("llgae", input_shape=[1, 4, 4], components=3, component_dim=2)
    fit(model, x, x, epochs=2, batch_size=40, run_dir=tmp_path / "run", progress=False)
    loaded = load(tmp_path / "run")
    assert bool(loaded.seeded)
    assert torch.allclose(loaded.reconstruct(x), model.eval().reconstruct(x), atol=1e-6)


# -- baselines ----------------------------------------------------------------------------------------


def test_pca_matches_scikit_learn_and_needs_fitting():
    from sklearn.decomposition import PCA

    x = torch.rand(200, 1, 4, 4)
    model = build_model("pca", input_shape=[1, 4, 4], latent_dim=3)
    with pytest.raises(ConfigError, match="not fitted"):
        model.encode(x)
    model.fit_closed_form(x)
    flat = x.reshape(200, 16).numpy()
    sk = PCA(3).fit(flat)
    expected = sk.inverse_transform(sk.transform(flat))
    np.testing.assert_allclose(model.reconstruct(x).reshape(200, 16).numpy(), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="exceeds"):
        build_model("pca", input_shape=[1, 2, 2], latent_dim=5)


def test_mixture_pca_recovers_subspaces_and_its_objective_never_increases():
    x, _ = union_of_subspaces(600, e=2, k=3, seed=3)
    model = build_model("mixture-pca", input_shape=[1, 4, 4], components=3, component_dim=2)
    model.fit_closed_form(x)
    history = model.fit_history
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(history))
    assert history[-1] < 1e-3  # points lie exactly on the subspaces (up to clamping)
    pca = build_model("pca", input_shape=[1, 4, 4], latent_dim=2)
    pca.fit_closed_form(x)
    assert model_pixel_error(model, x) < 0.1 * model_pixel_error(pca, x)
    z = model.encode(x)
    assert torch.all((z != 0).sum(1) == 2)
    assert torch.allclose(model.decode(z), model.reconstruct(x), atol=1e-6)
    with pytest.raises(DataError, match="at least"):
        build_model(
            "mixture-pca", input_shape=[1, 4, 4], components=3, component_dim=2
        ).fit_closed_form(x[:8])


# -- command line and experiment ---------------------------------------------------------------------


def test_cli_train_evaluate_encode_and_sample_for_llgae(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", "llgae", "--dataset", "mnist", "--data-dir", str(tiny_mnist)]
    args += ["--optimizer", "rmsprop", "--batch-size", "32", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--no-progress", "--option", "components=3"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == "llgae" and metrics["pixel_error"] > 0
    assert metrics["active_elements_mean"] == pytest.approx(20.0)
    assert main(["encode", str(out), "--out", str(tmp_path / "codes.npy")]) == 0
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (32, 60) and np.all((codes != 0).sum(1) == 20)
    capsys.readouterr()
    assert main(["sample", str(out), "--out", str(tmp_path / "s.png")]) == 2
    assert "no prior" in capsys.readouterr().err
    lgae = ["train", "--model", "lgae", "--dataset", "mnist", "--data-dir", str(tiny_mnist)]
    assert main([*lgae, "--epochs", "1", "--out", str(tmp_path / "lgae"), "--no-progress"]) == 0


def test_cli_fits_closed_form_baselines(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "pca"
    args = ["train", "--model", "pca", "--dataset", "mnist", "--data-dir", str(tiny_mnist)]
    assert main([*args, "--latent-dim", "5", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pixel_error"] > 0


def test_reproduce_llgae_writes_the_table_and_reuses_rows(tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["reproduce", "llgae", "--dataset", "digits", "--out", str(out), "--device", "cpu"]
    args += ["--components", "3", "--component-dim", "4", "--llgae-epochs", "2"]
    args += ["--batch-size", "128", "--mixture-iterations", "3"]
    rows = ["--rows", "llgae", "llgae-lstsq-codes", "pca", "mixture-pca"]
    assert main([*args, *rows]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["row"] for r in results] == ["llgae", "llgae-lstsq-codes", "pca", "mixture-pca"]
    assert all(r["pixel_error"] > 0 and r["code_nonzeros"] == 4 for r in results)
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    table = (out / "results.md").read_text()
    assert "PCA 4" in table and "mixture of PCAs K=3 E=4" in table
    # A second call reuses every row, and --reuse takes a run directory for a row.
    capsys.readouterr()
    reuse = ["--reuse", f"llgae={out / 'runs' / 'llgae'}", "--rows", "llgae", "pca"]
    assert main([*args, *reuse, "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again[0]["pixel_error"] == pytest.approx(results[0]["pixel_error"])
    assert main([*args, "--reuse", "llgae"]) == 2
    assert "ROW=RUN_DIR" in capsys.readouterr().err


def test_reproduce_llgae_can_start_llgae_from_the_mixture(tmp_path):
    out = tmp_path / "exp"
    args = ["reproduce", "llgae", "--dataset", "digits", "--out", str(out), "--device", "cpu"]
    args += ["--components", "3", "--component-dim", "4", "--llgae-epochs", "1"]
    args += ["--batch-size", "128", "--mixture-iterations", "3", "--llgae-init", "mixture-pca"]
    assert main([*args, "--rows", "llgae", "mixture-pca"]) == 0
    results = {r["row"]: r for r in json.loads((out / "results.json").read_text())}
    assert "started from the mixture of PCAs" in results["llgae"]["model"]
    assert load(out / "runs" / "llgae").config.init == "mixture-pca"
    # One epoch from the mixture's optimum stays near it (a random start is far worse after one).
    assert results["llgae"]["pixel_error"] < 1.3 * results["mixture-pca"]["pixel_error"]


def test_the_notes_numbers_are_a_reference_unless_the_data_set_is_fashion_mnist():
    from sparsevae.experiments.llgae.report import note_heading

    assert "same data set" in note_heading("fashion-mnist")
    assert "another data set" in note_heading("mnist")
