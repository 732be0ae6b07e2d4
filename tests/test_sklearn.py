"""The scikit-learn estimators: scikit-learn's own estimator checks, pipelines, search, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import sparsevae
from sparsevae.errors import SparseVAEError, TrainingError
from sparsevae.sklearn import SparseVAETransformer, VariationalSparseCoding

# Tiny networks and two passes keep each estimator check to a fraction of a second.
TINY = {"hidden_layer_sizes": (8,), "max_iter": 2, "random_state": 0}


# Every check runs; none is skipped.  (check_array_api_input reports "skipped" by itself when
# SCIPY_ARRAY_API is unset: the estimators compute in torch and accept NumPy input only.)
@parametrize_with_checks(
    [
        VariationalSparseCoding(n_components=3, **TINY),
        VariationalSparseCoding(n_components=3, ema=0.9, **TINY),
        SparseVAETransformer("vae", 3, **TINY),
        SparseVAETransformer("sparse-ae", 2, scale="feature", **TINY),
        SparseVAETransformer("topk-ae", 3, model_options={"k": 1}, **TINY),
        SparseVAETransformer("vsc-threshold", 3, **TINY),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


def test_pipeline_with_logistic_regression(digits):
    X, y = digits
    pipe = make_pipeline(
        VariationalSparseCoding(n_components=16, hidden_layer_sizes=(64,), max_iter=20,
                                batch_size=16, learning_rate=3e-3, random_state=0),
        LogisticRegression(max_iter=500),
    )  # fmt: skip
    pipe.fit(X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.4  # chance is 0.1; 0.62 when written
    names = pipe[:-1].get_feature_names_out()
    assert list(names[:2]) == ["variationalsparsecoding0", "variationalsparsecoding1"]


def test_grid_search_clones_and_refits(digits):
    X, _ = digits
    search = GridSearchCV(
        VariationalSparseCoding(n_components=4, **TINY), {"alpha": [0.1, 0.5]}, cv=2
    )
    search.fit(X[:120])  # scored by the mean ELBO
    assert search.best_params_["alpha"] in (0.1, 0.5)
    assert search.best_estimator_.model_.alpha == search.best_params_["alpha"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_sparse_code_has_exact_zeros_and_decodes(digits):
    X, _ = digits
    vsc = VariationalSparseCoding(n_components=16, alpha=0.05, code_threshold=0.5, **TINY).fit(X)
    codes = vsc.transform(X)
    assert codes.shape == (len(X), 16) and codes.dtype == np.float64
    assert (codes == 0).any()
    recon = vsc.inverse_transform(codes)
    assert recon.shape == X.shape
    assert recon.min() >= 0 and recon.max() <= 16  # back in the units fit saw (0–16)
    assert isinstance(vsc.score(X), float) and vsc.score(X) == vsc.score(X)  # seeded, repeatable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_input(digits, dtype):
    X = (digits[0][:100] / 16).astype(dtype)
    est = VariationalSparseCoding(n_components=4, scale="none", **TINY).fit(X)
    assert est.transform(X).dtype == dtype
    assert est.inverse_transform(est.transform(X)).dtype == dtype


def test_same_random_state_same_model_and_global_rng_untouched(digits):
    X = digits[0][:100]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = VariationalSparseCoding(n_components=4, **TINY).fit_transform(X)
    b = VariationalSparseCoding(n_components=4, **TINY).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.get_rng_state(), before)


def test_pickle_roundtrip_after_fit_and_partial_fit(digits):
    X = digits[0][:100]
    est = VariationalSparseCoding(n_components=4, **TINY).fit(X)
    est.partial_fit(X)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.transform(X), est.transform(X))
    copy.partial_fit(X)  # the optimiser travelled too
    assert copy.n_iter_ == est.n_iter_ + 1


def test_partial_fit_builds_then_continues(digits):
    X = digits[0][:200]
    est = VariationalSparseCoding(n_components=4, alpha=0.2, hidden_layer_sizes=(32,), max_iter=6,
                                  random_state=0)  # fmt: skip
    losses = []
    for _ in range(6):
        est.partial_fit(X)
        losses.append(est.history_[-1]["train/loss"])
    assert est.n_iter_ == 6 and est.n_steps_ == 6 * 7
    assert losses[-1] < losses[0]
    assert est.model_.sharpness == pytest.approx(200.0)  # the schedule ran over max_iter calls
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :10])


def test_max_iter_partial_fit_calls_train_exactly_as_fit(digits):
    """partial_fit is one more epoch of fit's trainer: same step, schedules, averaging, RNG."""
    X = digits[0][:200]
    params = {"n_components": 4, "hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0,
              "ema": 0.9, "kl_warmup": 1.5, "grad_clip": 5.0}  # fmt: skip
    fitted = VariationalSparseCoding(**params).fit(X)
    passes = VariationalSparseCoding(**params)
    for _ in range(3):
        passes.partial_fit(X)
    a, b = fitted.model_.state_dict(), passes.model_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    untimed = [{k: v for k, v in r.items() if k != "seconds"} for r in fitted.history_]
    assert untimed == [{k: v for k, v in r.items() if k != "seconds"} for r in passes.history_]
    assert untimed[0]["kl_weight"] < 1.0 and passes.n_steps_ == fitted.n_steps_ == 3 * 7


def test_partial_fit_stops_on_non_finite_values_with_the_estimators_words():
    est = VariationalSparseCoding(n_components=2, learning_rate=1e30, **TINY)
    with pytest.raises(TrainingError, match="non-finite") as caught:
        for _ in range(20):
            est.partial_fit(np.random.default_rng(0).random((64, 4)))
    message = str(caught.value)
    assert "learning_rate=1e+29" in message and 'nan_policy="skip"' in message
    assert "--" not in message  # no CLI flags


def test_partial_fit_refuses_closed_form_models():
    X = np.random.default_rng(0).random((20, 4))
    est = SparseVAETransformer("pca", 2, **TINY).fit(X)
    with pytest.raises(ValueError, match="closed form"):
        est.partial_fit(X)


def test_weight_averaging_is_the_model_and_partial_fit_continues_from_the_raw_weights(digits):
    X = digits[0][:200]
    common = {"n_components": 4, "hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0}
    averaged = VariationalSparseCoding(ema=0.9, **common)
    plain = VariationalSparseCoding(**common)
    for _ in range(2):
        averaged.partial_fit(X)
        plain.partial_fit(X)
    # Averaging does not change the training trajectory: the raw weights behind the average are
    # the plain run's weights ...
    for raw, weight in zip(averaged._trainer.averages.raw, plain.model_.parameters(), strict=True):
        assert torch.allclose(raw, weight)
    # ... while the fitted model is the average, which differs from them.
    assert not all(
        torch.allclose(a, b)
        for a, b in zip(averaged.model_.parameters(), plain.model_.parameters(), strict=True)
    )
    # fit() through the trainer: the model is the average as well.
    fitted = VariationalSparseCoding(ema=0.9, **common).fit(X)
    for weight, average in zip(
        fitted.model_.parameters(), fitted._trainer.averages.shadow, strict=True
    ):
        assert torch.equal(weight, average)


def test_out_of_range_input_with_scale_none():
    est = VariationalSparseCoding(n_components=2, scale="none", **TINY)
    with pytest.raises(ValueError, match=r"scale='none' needs \[0, 1\]") as caught:
        est.fit(np.full((10, 4), 3.0))
    assert isinstance(caught.value, SparseVAEError)
    est.fit(np.random.default_rng(0).random((10, 4)))
    with pytest.raises(ValueError, match="scale='none'"):
        est.transform(np.full((2, 4), -1.0))


def test_scaling_is_learned_and_clipped():
    X = np.array([[0.0, 10.0], [5.0, 20.0]])
    glob = VariationalSparseCoding(n_components=2, **TINY).fit(X)
    assert glob.data_min_.tolist() == [0.0] and glob.data_range_.tolist() == [20.0]
    feat = VariationalSparseCoding(n_components=2, scale="feature", **TINY).fit(X)
    assert feat.data_min_.tolist() == [0.0, 10.0] and feat.data_range_.tolist() == [5.0, 10.0]
    feat.transform(np.array([[100.0, -100.0]]))  # outside the fitted range: clipped, no error


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n_components": 0}, "n_components"),
        ({"alpha": 1.5}, "alpha"),
        ({"scale": "zscore"}, "scale"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"nan_policy": "ignore"}, "nan_policy"),
        ({"sharpness": (50.0,)}, "sharpness"),
        ({"ema": 1.0}, "ema"),
    ],
)
def test_parameters_are_validated_in_sklearn_style(params, match):
    with pytest.raises(ValueError, match=match):
        VariationalSparseCoding(**{**TINY, **params}).fit(np.random.default_rng(0).random((8, 4)))


def test_general_transformer_rejects_unknown_models_and_options():
    X = np.random.default_rng(0).random((8, 4))
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        SparseVAETransformer("gan", **TINY).fit(X)
    with pytest.raises(ValueError, match="takes no option"):
        SparseVAETransformer("vae", model_options={"l1": 1.0}, **TINY).fit(X)
    with pytest.raises(ValueError, match="conditional"):
        SparseVAETransformer("cvae", **TINY).fit(X)
    est = SparseVAETransformer("sparse-ae", 3, model_options={"l1": 0.5}, **TINY).fit(X)
    assert est.model_.config.l1 == 0.5 and est.score(X) < 0  # minus the mean loss


def test_nan_policy_stop_in_partial_fit():
    est = VariationalSparseCoding(n_components=2, learning_rate=1e30, **TINY)
    X = np.random.default_rng(0).random((64, 4))
    with pytest.raises(TrainingError, match="non-finite"):
        for _ in range(20):
            est.partial_fit(X)


def test_clone_has_no_fitted_state(digits):
    est = VariationalSparseCoding(n_components=4, **TINY).fit(digits[0][:50])
    fresh = clone(est)
    assert not hasattr(fresh, "model_") and fresh.get_params() == est.get_params()
    # The fitted model saves as an ordinary, pickle-free run directory.
    assert "model" not in fresh.get_params()


def test_fitted_model_saves_as_a_run_directory(digits, tmp_path):
    est = VariationalSparseCoding(n_components=4, **TINY).fit(digits[0][:50])
    sparsevae.save_model(tmp_path, est.model_)
    loaded = sparsevae.load(tmp_path)
    x = torch.from_numpy((digits[0][:5] / 16).astype(np.float32)).reshape(5, 1, 64)
    assert torch.equal(loaded.encode(x), est.model_.encode(x))
