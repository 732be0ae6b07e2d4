"""Code usage: dimension selection, dead, dense and per-input (sparse) codes, built by hand."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError, DataError, SparseVAEWarning
from sparsevae.evaluation import code_usage, usage_warning
from sparsevae.evaluation.usage import class_pairs
from sparsevae.plots import plot_code_usage


def topk_code(n: int, latents: int, k: int, seed: int = 0) -> torch.Tensor:
    """Each example keeps k latents chosen at random, with random positive values."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.rand(n, latents, generator=generator).topk(k, dim=1).indices
    values = torch.rand(n, k, generator=generator) + 0.1
    return torch.zeros(n, latents).scatter(1, chosen, values)


def test_dimension_selection_has_no_input_dependent_latents_and_jaccard_one():
    codes = torch.zeros(500, 50)
    codes[:, 10:15] = torch.randn(500, 5).abs() + 0.1  # the same 5 latents, values vary
    usage = code_usage(codes)
    assert usage["dead_latents"] == 45 and usage["always_on_latents"] == 5
    assert usage["input_dependent_latents"] == 0 and usage["input_dependent_fraction_of_used"] == 0
    assert usage["latent_frequency"] == [0.0] * 10 + [1.0] * 5 + [0.0] * 35
    assert usage["jaccard_mean"] == 1.0
    assert usage["active_elements_mean"] == 5 and usage["active_elements_std"] == 0
    warning = usage_warning(usage)
    assert "selects dimensions" in warning and "5 of 50 latents" in warning
    assert "hold 100% of the non-zeros, 45 are never on" in warning
    assert "\n" not in warning
    assert usage_warning(usage, sparse=False) is None  # a dense model may use a fixed set


def test_near_dimension_selection_is_reported_too():
    codes = torch.zeros(1000, 40)
    codes[:, :15] = 1.0  # always on
    codes[:3, 15:20] = 1.0  # five latents for 0.3 % of inputs
    usage = code_usage(codes)
    assert usage["input_dependent_latents"] == 5
    assert usage["always_on_share_of_nonzeros"] == pytest.approx(15_000 / 15_015)
    assert "15 of 40 latents are on for almost every input" in usage_warning(usage)


def test_all_zero_code_is_dead():
    usage = code_usage(np.zeros((100, 8)))
    assert usage["dead_latents"] == 8 and usage["dead_fraction"] == 1.0
    assert usage["input_dependent_fraction_of_used"] is None
    assert usage["active_1_to_99_percent_of_used"] is None
    assert usage["jaccard_mean"] == 1.0  # J(∅, ∅) = 1: every input has the same (empty) set
    assert usage["active_elements_max"] == 0 and usage["active_elements_histogram"][0] == 100
    assert usage_warning(usage).startswith("the code is dead")
    assert usage_warning(usage, sparse=False).startswith("the code is dead")


def test_dense_code_warns_that_nothing_is_selected():
    usage = code_usage(torch.randn(200, 6))
    assert usage["always_on_latents"] == 6 and usage["input_dependent_latents"] == 0
    assert usage_warning(usage).startswith("the code is dense")


def test_topk_like_code_is_input_dependent_with_low_overlap():
    usage = code_usage(topk_code(2000, 100, 5))
    assert usage["dead_latents"] == 0 and usage["always_on_latents"] == 0
    assert usage["input_dependent_latents"] == 100
    assert usage["active_1_to_99_percent_of_used"] == 1.0
    # Two independent random 5-of-100 sets overlap by 0.026 in expectation.
    assert 0.015 < usage["jaccard_mean"] < 0.04
    assert usage["active_elements_min"] == usage["active_elements_max"] == 5
    assert usage["active_elements_histogram"][5] == 2000
    assert sum(usage["latent_frequency"]) == pytest.approx(5.0)
    assert usage_warning(usage) is None


def test_frequency_boundaries_split_latents_exactly():
    codes = torch.zeros(200, 6)
    for latent, count in enumerate([200, 198, 100, 2, 1, 0]):
        codes[:count, latent] = 1.0
    usage = code_usage(codes)
    assert usage["latent_frequency"] == [1.0, 0.99, 0.5, 0.01, 0.005, 0.0]
    assert (usage["dead_latents"], usage["always_on_latents"]) == (1, 2)  # 99 % is always on
    assert usage["input_dependent_latents"] == 3
    assert usage["input_dependent_fraction"] == 0.5
    assert usage["input_dependent_fraction_of_used"] == 3 / 5
    assert usage["active_1_to_99_percent_of_used"] == 2 / 5  # 0.5 % is below the 1 % line
    assert usage["active_elements_min"] == 1 and usage["active_elements_max"] == 5
    json.dumps(usage)  # every value is plain JSON


def test_class_specific_latents_give_within_one_and_across_zero():
    labels = torch.arange(400) % 4
    codes = torch.zeros(400, 12)
    for c in range(4):
        codes[labels == c, 3 * c : 3 * c + 3] = 1.0
    usage = code_usage(codes, labels)
    assert usage["jaccard_within_class"] == 1.0
    assert usage["jaccard_across_class"] == 0.0
    assert 0.0 < usage["jaccard_mean"] < 1.0
    assert usage["always_on_latents"] == 0 and usage["input_dependent_latents"] == 12


def test_class_pairs_are_distinct_and_respect_labels():
    generator = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 5, (300,), generator=generator)
    labels[:1] = 7  # a class of one example has no within-class partner
    for same in (True, False):
        i, j = class_pairs(labels, 5000, generator, same=same)
        assert len(i) == 5000 and bool((i != j).all())
        assert bool(((labels[i] == labels[j]) == same).all())
    i, _ = class_pairs(labels, 5000, generator, same=True)
    assert not bool((i == 0).any())
    one_class = torch.zeros(10, dtype=torch.long)
    assert len(class_pairs(one_class, 100, generator, same=False)[0]) == 0


def test_variance_explained():
    x = torch.rand(50, 1, 4, 4, dtype=torch.float64)
    assert code_usage(torch.ones(50, 3), x=x, reconstructions=x)["variance_explained"] == 1.0
    mean = x.mean(0, keepdim=True).expand_as(x)
    assert code_usage(torch.ones(50, 3), x=x, reconstructions=mean)["variance_explained"] == 0.0
    constant = torch.ones(50, 16)
    assert (
        code_usage(torch.ones(50, 3), x=constant, reconstructions=constant)["variance_explained"]
        is None
    )
    assert code_usage(torch.ones(50, 3))["variance_explained"] is None


def test_seeded_and_numpy_inputs_agree():
    codes = topk_code(300, 40, 4)
    first = code_usage(codes, torch.arange(300) % 3, seed=1)
    assert code_usage(codes.numpy(), np.arange(300) % 3, seed=1) == first
    assert code_usage(codes, seed=2)["jaccard_mean"] != first["jaccard_mean"]


def test_single_example_has_no_pairs():
    usage = code_usage(torch.ones(1, 4), torch.zeros(1))
    assert usage["jaccard_mean"] is None and usage["jaccard_within_class"] is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"codes": torch.ones(5)}, DataError, "matrix"),
        ({"codes": torch.tensor([[1.0, float("nan")]])}, DataError, "NaN"),
        (
            {"codes": torch.ones(5, 2), "labels": torch.zeros(4)},
            DataError,
            "5 examples but 4 labels",
        ),
        ({"codes": torch.ones(5, 2), "x": torch.ones(5, 3)}, ConfigError, "both"),
        (
            {"codes": torch.ones(5, 2), "x": torch.ones(5, 3), "reconstructions": torch.ones(5, 4)},
            DataError,
            "differ in shape",
        ),
        ({"codes": torch.ones(5, 2), "always_on": 0.005}, ConfigError, "rare < always_on"),
        ({"codes": torch.ones(5, 2), "pairs": 0}, ConfigError, "pairs"),
    ],
)
def test_bad_input_is_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        code_usage(**kwargs)


def test_fast_on_a_realistic_size():
    codes, labels = topk_code(10_000, 200, 10), torch.arange(10_000) % 10
    start = time.perf_counter()
    code_usage(codes, labels, x=codes, reconstructions=codes)
    assert time.perf_counter() - start < 5.0  # well under 1 s unloaded; generous on a busy machine


def test_usage_figure_is_a_png(tmp_path):
    codes, labels = topk_code(600, 40, 4), torch.arange(600) % 3
    codes[:, 0] = 1.0  # one always-on latent
    codes[:, 1] = 0.0  # one dead latent
    path = plot_code_usage(codes, tmp_path / "usage.png", labels, examples=50, title="t")
    assert path == tmp_path / "usage.png" and path.read_bytes()[:4] == b"\x89PNG"
    dead = plot_code_usage(np.zeros((5, 3)), tmp_path / "dead.png")  # nothing on the log axis
    assert dead.read_bytes()[:4] == b"\x89PNG"


def test_usage_figure_names_mismatched_labels(tmp_path):
    with pytest.raises(DataError, match="5 examples but 3 labels"):
        plot_code_usage(torch.ones(5, 2), tmp_path / "u.png", torch.zeros(3))
    assert not (tmp_path / "u.png").exists()


def test_training_warns_when_the_code_is_dead(tmp_path, capsys):
    from sparsevae.cli.main import main

    argv = ["train", "--model", "sparse-ae", "--l1", "50", "--latent-dim", "8", "--hidden", "32"]
    argv += ["--epochs", "2", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "sparsevae: warning: sparse-ae: the code is dead: every element is 0 for every input, so "
        "the reconstruction cannot depend on the input; weaken the sparsity pressure (e.g. a "
        "smaller l1 for sparse-ae, a larger alpha for vsc) or choose another code (--code)"
    ]
    assert main(["evaluate", str(tmp_path / "r"), "--json"]) == 0
    assert "the code is dead" in capsys.readouterr().err


def test_a_dense_model_gets_no_usage_warning(tmp_path, capsys):
    from sparsevae.cli.main import main

    argv = ["train", "--model", "vae", "--latent-dim", "4", "--hidden", "16", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "v"), "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_fit_warns_in_one_line_when_the_test_code_is_dead():
    data = sparsevae.load_dataset("digits")
    model = sparsevae.SparseAutoencoder(input_shape=data.shape, latent_dim=8, hidden=[32], l1=50.0)
    with pytest.warns(SparseVAEWarning, match=r"^sparse-ae: the code is dead") as caught:
        sparsevae.fit(model, data.train_x, data.test_x, epochs=2, progress=False)
    assert "\n" not in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SparseVAEWarning)  # no test data: nothing to judge
        sparsevae.fit(model, data.train_x, epochs=1, progress=False)
