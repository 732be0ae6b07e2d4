"""The shared helpers for running a model over data: eval mode, batches, a private seed; and the
evaluation, generation and CLI code that uses them leaving the caller's mode as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparsevae.batching import eval_mode, iter_batches, map_batches, private_rng
from sparsevae.errors import ConfigError, DataError
from sparsevae.evaluation import encode_dataset, evaluate_model, iwae_log_likelihood, probe_codes
from sparsevae.evaluation.metrics import posterior_means
from sparsevae.evaluation.pixel_error import model_pixel_error
from sparsevae.generation import active_set, set_features, shared_attribute_samples, traverse
from sparsevae.models import build_model

SHAPE = (1, 4, 4)


# -- eval_mode -------------------------------------------------------------------------------------
def test_eval_mode_switches_to_eval_without_gradients_and_restores_training():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()
    with eval_mode(model) as inside:
        assert inside is model
        assert not model.training and not model[1].training
        assert not model[0](torch.ones(1, 3)).requires_grad
    assert model.training and model[1].training
    assert torch.is_grad_enabled()


def test_eval_mode_restores_after_an_exception_and_keeps_eval_models_in_eval():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        raise RuntimeError("boom")
    assert model.training and model[1].training
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training


def test_eval_mode_restores_each_submodules_own_flag():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()
    model[1].eval()  # a frozen part stays frozen
    with eval_mode(model):
        pass
    assert model.training and model[0].training and not model[1].training


# -- map_batches / iter_batches --------------------------------------------------------------------
def test_map_batches_equals_the_unbatched_call():
    layer = nn.Linear(5, 2)
    x = torch.randn(23, 5)
    with torch.no_grad():
        expected = layer(x)
        for size in (1, 4, 23, 100):
            assert torch.allclose(map_batches(layer, x, batch_size=size), expected, atol=1e-6)


def test_map_batches_slices_y_alongside_x():
    x = torch.arange(10.0)[:, None]
    y = torch.arange(10) * 10
    seen = []

    def pair(xb, yb):
        seen.append(len(xb))
        assert torch.equal(yb, xb[:, 0].long() * 10)
        return torch.stack([xb[:, 0], yb.float()], 1)

    out = map_batches(pair, x, y, batch_size=3)
    assert seen == [3, 3, 3, 1]
    assert torch.equal(out[:, 1], y.float())


def test_map_batches_moves_batches_to_the_device_and_results_to_the_cpu():
    devices = []

    def record(xb):  # a meta tensor has no data to copy back: answer with a CPU one
        devices.append(xb.device)
        return torch.full((len(xb), 2), float(len(devices)))

    out = map_batches(record, torch.ones(5, 2), batch_size=2, device="meta")
    assert devices == [torch.device("meta")] * 3
    assert out.device == torch.device("cpu") and out[:, 0].tolist() == [1, 1, 2, 2, 3]


def test_map_batches_refuses_empty_data_mismatched_labels_and_bad_batch_sizes():
    with pytest.raises(DataError, match="empty"):
        map_batches(lambda xb: xb, torch.zeros(0, 3))
    with pytest.raises(DataError, match="5 examples but 4 labels"):
        map_batches(lambda xb, yb: xb, torch.zeros(5, 3), torch.zeros(4))
    with pytest.raises(ConfigError, match="batch_size"):
        list(iter_batches(torch.zeros(5, 3), batch_size=0))


# -- private_rng ------------------------------------------------------------------------------------
def test_private_rng_is_seeded_and_leaves_the_callers_stream_alone():
    torch.manual_seed(1)
    expected_next = torch.rand(3)
    torch.manual_seed(1)
    with private_rng(7):
        first = torch.rand(3)
    with private_rng(7):
        again = torch.rand(3)
    assert torch.equal(first, again)
    assert torch.equal(torch.rand(3), expected_next)


# -- the evaluation, generation and CLI code keeps the caller's mode --------------------------------
@pytest.fixture
def vsc():
    return build_model("vsc", input_shape=SHAPE, latent_dim=4, hidden=[8]).train()


def test_evaluation_functions_restore_the_training_mode(vsc):
    x = torch.rand(12, *SHAPE)
    y = torch.arange(12) % 2
    calls = [
        lambda: encode_dataset(vsc, x),
        lambda: posterior_means(vsc, x),
        lambda: probe_codes(vsc, x, code="mu"),
        lambda: evaluate_model(vsc, x),
        lambda: iwae_log_likelihood(vsc, x, samples=3),
        lambda: model_pixel_error(vsc, x),
        lambda: traverse(vsc, x[0], [0], [1.0]),
        lambda: set_features(vsc, x, {0: 0.0}),
        lambda: active_set(vsc, x),
        lambda: shared_attribute_samples(vsc, x[0], 2),
        lambda: probe_codes(vsc, x, y),
    ]
    for call in calls:
        call()
        assert vsc.training
    vsc.eval()
    encode_dataset(vsc, x)
    evaluate_model(vsc, x)
    assert not vsc.training


def test_encode_dataset_is_the_eval_mode_code_in_batches(vsc):
    x = torch.rand(25, *SHAPE)
    codes = encode_dataset(vsc, x, batch_size=4)
    with eval_mode(vsc):
        assert torch.allclose(codes, vsc.encode(x), atol=1e-6)


def test_evaluate_model_reports_the_pixel_error_for_every_model(vsc):
    x = torch.rand(30, *SHAPE)
    pca = build_model("pca", input_shape=SHAPE, latent_dim=2)
    pca.fit_closed_form(x)
    llgae = build_model("llgae", input_shape=SHAPE, components=2, component_dim=2)
    for model in (vsc, build_model("ae", input_shape=SHAPE, latent_dim=3, hidden=[8]), pca, llgae):
        expected = model_pixel_error(model, x)
        assert evaluate_model(model, x)["pixel_error"] == expected > 0
        batched = evaluate_model(model, x, batch_size=7)["pixel_error"]
        assert batched == pytest.approx(expected, rel=1e-6)  # float32 rounding differs by batch
    assert "components_used" in evaluate_model(llgae, x)  # the model's own metrics still join


def test_evaluate_model_is_seeded_and_keeps_the_callers_random_stream(vsc):
    x = torch.rand(20, *SHAPE)
    torch.manual_seed(3)
    expected_next = torch.rand(2)
    torch.manual_seed(3)
    first = evaluate_model(vsc, x, seed=5)
    assert torch.equal(torch.rand(2), expected_next)
    assert evaluate_model(vsc, x, seed=5)["neg_elbo"] == first["neg_elbo"]
    with pytest.raises(DataError, match="empty"):
        evaluate_model(vsc, x[:0])


def test_traverse_takes_the_label_of_a_conditional_model():
    cvae = build_model("cvae", input_shape=SHAPE, latent_dim=3, hidden=[8], num_classes=3).eval()
    x = torch.rand(*SHAPE)
    images = traverse(cvae, x, [0, 2], [-1.0, 1.0], y=2)
    code = cvae.encode(x[None], torch.tensor([2])).detach().clone()
    code[0, 2] = 1.0
    assert torch.allclose(images[1, 1], cvae.decode(code, torch.tensor([2]))[0], atol=1e-6)
    with pytest.raises(ConfigError, match="label"):
        traverse(cvae, x, [0], [0.0])


def test_set_features_checks_the_input_shape(vsc):
    with pytest.raises(DataError, match="expects"):
        set_features(vsc, torch.rand(2, 1, 3, 3), {0: 0.0})
