"""The dictionary-learning + OMP baseline as a closed-form model kind."""

import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError
from sparsevae.training import load

SHAPE = (1, 6, 6)


def sparse_data(n=400, atoms=12, per_image=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(atoms, 36, generator=generator)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    weights = torch.zeros(n, atoms)
    picks = torch.rand(n, atoms, generator=generator).argsort(1)[:, :per_image]
    weights.scatter_(1, picks, 0.5 + torch.rand(n, per_image, generator=generator))
    return (weights @ dictionary).reshape(n, *SHAPE)


def test_omp_codes_have_nonzeros_atoms_and_reconstruct_sparse_data():
    x = sparse_data()
    model = sparsevae.build_model(
        "dict-learning", input_shape=SHAPE, latent_dim=12, nonzeros=2, alpha=0.05, epochs=30
    )
    model.fit_closed_form(x)
    assert torch.allclose(model.atoms.norm(dim=1), torch.ones(12), atol=1e-4)
    code = model.encode(x)
    assert ((code != 0).sum(1) <= 2).all() and (code != 0).sum(1).float().mean() > 1.9
    error = ((model.decode(code) - x) ** 2).flatten(1).sum(1).mean()
    assert error < 0.4 * (x**2).flatten(1).sum(1).mean()  # most of the signal is explained
    one = model.config.replace(nonzeros=1)
    fewer = sparsevae.build_model("dict-learning", **one)
    fewer.load_state_dict(model.state_dict())
    assert ((fewer.decode(fewer.encode(x)) - x) ** 2).flatten(1).sum(1).mean() > error


def test_trains_from_the_cli_and_loads(tmp_path):
    from sparsevae.cli.main import main

    argv = ["train", "--model", "dict-learning", "--latent-dim", "16", "--option", "nonzeros=3"]
    assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    model = load(tmp_path / "d")
    code = model.encode(sparsevae.load_dataset("digits").test_x[:20])
    assert code.shape == (20, 16) and ((code != 0).sum(1) <= 3).all()


def test_nonzeros_cannot_exceed_the_atoms():
    with pytest.raises(ConfigError, match="nonzeros"):
        sparsevae.build_model("dict-learning", latent_dim=4, nonzeros=5)
