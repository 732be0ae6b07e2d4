"""The public model calls take NumPy arrays, check shapes and kinds in one line, and return plain
tensors when the model is used for inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError, DataError
from sparsevae.models import MODELS

from .test_models import SHAPE, labels, small


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_inference_calls_take_arrays_and_return_plain_tensors(kind):
    model = small(kind).eval()
    x = np.random.default_rng(0).random((5, *SHAPE)).astype(np.float32)
    y = labels(5).numpy() if model.num_classes else None
    codes = model.encode(x, y)
    assert isinstance(codes, torch.Tensor) and not codes.requires_grad
    assert codes.numpy().shape == (5, model.latent_dim)
    images = model.decode(codes.numpy(), y)
    assert not images.requires_grad and images.shape == (5, *SHAPE)
    flat = model.encode(x.reshape(5, -1), y)  # flat rows, as fit takes them
    assert torch.allclose(flat, codes)
    if model.is_variational:
        assert model.elbo(x.astype(np.float64), y).numpy().shape == (5,)


@pytest.mark.parametrize("kind", ["vsc", "ae", "pca"])
def test_wrong_kinds_and_shapes_are_one_line_errors(kind):
    model = small(kind).eval()
    with pytest.raises(DataError, match=r"\.encode: expected floating-point.*uint8.*255"):
        model.encode(torch.zeros(5, *SHAPE, dtype=torch.uint8))
    with pytest.raises(DataError, match=r"examples have shape \(3, 8, 8\).*expects \(1, 8, 8\)"):
        model.encode(torch.rand(5, 3, 8, 8))
    with pytest.raises(DataError, match=r"examples have shape \(\)"):
        model.encode(torch.rand(64))  # one flat example without its batch axis
    with pytest.raises(ConfigError, match=rf"codes must have shape \(N, {model.latent_dim}\)"):
        model.decode(np.zeros((2, model.latent_dim + 1), np.float32))
    with pytest.raises(DataError, match="not an array of numbers"):
        model.encode([["a"]])


def test_training_keeps_the_graph_and_gradients_through_the_input_stay_possible():
    model = small("ae")
    x = torch.rand(5, *SHAPE)
    assert model.training and model.encode(x).requires_grad  # what the losses need
    model.eval()
    wanted = x.clone().requires_grad_()
    model.encode(wanted).sum().backward()  # an input that asks for gradients gets them
    assert wanted.grad is not None and wanted.grad.abs().sum() > 0


def test_codes_of_a_fitted_model_convert_to_numpy():
    x = torch.rand(64, *SHAPE)
    model = sparsevae.VSC(input_shape=SHAPE, latent_dim=4, hidden=[8])
    sparsevae.fit(model, x, epochs=1, progress=False)
    assert model.encode(x).numpy().shape == (64, 4)  # the README's line, without .detach()
