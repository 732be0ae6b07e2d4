"""Controlled generation: traversals, features on/off, shared-attribute samples, and their CLI."""

from __future__ import annotations

import pytest
import torch

from sparsevae.cli.main import main
from sparsevae.errors import ConfigError, DataError
from sparsevae.generation import active_set, set_features, shared_attribute_samples, traverse
from sparsevae.models import MODELS, build_model
from sparsevae.plots.traversals import latent_traversals, save_latent_traversals

from .test_models import small

SHAPE = (1, 8, 8)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(
        "vsc-uai", input_shape=SHAPE, latent_dim=6, hidden=[16], n_pseudo_inputs=3
    ).eval()


def recording_decoder(model):
    """Wrap ``model.decode`` so the codes it is given can be inspected."""
    seen: list[torch.Tensor] = []
    original = model.decode

    def decode(z, y=None):
        seen.append(z.clone())
        return original(z, y)

    model.decode = decode
    return seen


def test_traverse_sets_one_dimension_per_row(model):
    x = torch.rand(*SHAPE)
    values = torch.tensor([-2.0, 0.0, 2.0])
    images = traverse(model, x, dims=[1, 4], values=values)
    assert images.shape == (2, 3, *SHAPE)
    code = model.encode(x[None])[0]
    for row, dim in enumerate([1, 4]):
        for col, value in enumerate(values):
            z = code.clone()
            z[dim] = value
            assert torch.allclose(images[row, col], model.decode(z[None])[0], atol=1e-5)


def test_set_features_changes_only_the_named_elements(model):
    x = torch.rand(4, *SHAPE)
    seen = recording_decoder(model)
    out = set_features(model, x, {2: 0.0, 5: 1.5})
    assert out.shape == (4, *SHAPE)
    z = seen[-1]
    code = model.encode(x)
    assert torch.all(z[:, 2] == 0) and torch.all(z[:, 5] == 1.5)
    assert torch.equal(z[:, [0, 1, 3, 4]], code[:, [0, 1, 3, 4]])


def test_active_set_samples_keep_the_inputs_non_zero_elements(model):
    x = torch.rand(*SHAPE)
    with torch.no_grad():  # make latents 0 and 3 active, the rest inactive
        model.head.bias[12:] = -20.0
        model.head.bias[12 + 0] = 20.0
        model.head.bias[12 + 3] = 20.0
    assert active_set(model, x[None])[0].tolist() == [True, False, False, True, False, False]
    seen = recording_decoder(model)
    samples = shared_attribute_samples(model, x, 10, mode="active-set")
    assert samples.shape == (10, *SHAPE)
    z = seen[-1]
    assert torch.all(z[:, [1, 2, 4, 5]] == 0)
    assert torch.all(z[:, [0, 3]] != 0)
    assert z[:, 0].std() > 0  # the slab values are resampled


def test_prior_component_samples_use_the_selected_component(model):
    x = torch.rand(*SHAPE)
    with torch.no_grad():
        model.selector.weight.zero_()
        model.selector.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    torch.manual_seed(1)
    samples = shared_attribute_samples(model, x, 5, mode="prior-component")
    torch.manual_seed(1)
    expected = model.decode(model.sample_latents(5, 2))
    assert torch.allclose(samples, expected)


def test_generation_errors(model):
    x = torch.rand(*SHAPE)
    with pytest.raises(ConfigError, match="latent dimensions"):
        traverse(model, x, dims=[6], values=[0.0])
    with pytest.raises(ConfigError, match="mode"):
        shared_attribute_samples(model, x, 3, mode="nearby")
    with pytest.raises(DataError, match="shape"):
        traverse(model, torch.rand(1, 9, 9), dims=[0], values=[0.0])
    vsc = build_model("vsc", input_shape=SHAPE, latent_dim=4, hidden=[8]).eval()
    with pytest.raises(ConfigError, match="learned prior"):
        shared_attribute_samples(vsc, x, 3, mode="prior-component")
    assert shared_attribute_samples(vsc, x, 3).shape == (3, *SHAPE)  # N(0, 1) slab for vsc
    vae = build_model("beta-vae", input_shape=SHAPE, latent_dim=4, hidden=[8]).eval()
    with pytest.raises(ConfigError, match="spike-and-slab"):
        shared_attribute_samples(vae, x, 3)
    assert traverse(vae, x, dims=[0], values=[0.0, 1.0]).shape == (1, 2, *SHAPE)


def test_generate_cli(tmp_path, capsys):
    from sparsevae.data import load_dataset
    from sparsevae.training import TrainConfig, Trainer

    options = {"n_train": 64, "n_test": 16}
    data = load_dataset("smiley", **options)
    run = tmp_path / "run"
    model = build_model(
        "vsc-uai", input_shape=data.shape, latent_dim=5, hidden=[16], n_pseudo_inputs=3
    )
    info = {"name": "smiley", "data_dir": None, "options": options, "info": data.info}
    Trainer(model, TrainConfig(epochs=1, batch_size=32), run_dir=run, data_info=info,
            progress=False).fit(data.train_x)  # fmt: skip
    common = [str(run), "--device", "cpu"]
    assert main(["generate", "traverse", *common, "--dims", "0", "2", "--steps", "5",
                 "--out", str(tmp_path / "t.png")]) == 0  # fmt: skip
    assert main(["generate", "toggle", *common, "--index", "0", "1", "--set", "1=0",
                 "--out", str(tmp_path / "o.png")]) == 0  # fmt: skip
    for mode in ("active-set", "prior-component"):
        out = tmp_path / f"s-{mode}.png"
        assert main(["generate", "shared", *common, "-n", "8", "--mode", mode,
                     "--out", str(out)]) == 0  # fmt: skip
        assert out.stat().st_size > 0
    assert (tmp_path / "t.png").stat().st_size > 0 and (tmp_path / "o.png").stat().st_size > 0
    capsys.readouterr()
    # An existing output is not replaced without --overwrite; bad values are one-line errors.
    assert (
        main(["generate", "toggle", *common, "--set", "1=0", "--out", str(tmp_path / "o.png")]) == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["generate", "toggle", *common, "--set", "one", "--out", str(tmp_path / "x.png")]) == 2
    )
    assert "DIM=VALUE" in capsys.readouterr().err
    assert (
        main(["generate", "traverse", *common, "--index", "16", "--out", str(tmp_path / "y.png")])
        == 2
    )
    assert "--index" in capsys.readouterr().err


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_traversals_sweep_the_range_each_code_takes_in_the_data(kind):
    model = small(kind).eval()
    x = torch.rand(40, *SHAPE)
    y = torch.arange(40) % 10 if model.num_classes else None
    images, dims, values = latent_traversals(model, x, y, n_dims=3, steps=5)
    codes = model.encode(x, y)
    assert images.shape == (len(dims), 5, *SHAPE) and values.shape == (len(dims), 5)
    for row, d in enumerate(dims):
        assert values[row, 0] == pytest.approx(float(codes[:, d].min()), abs=1e-6)
        assert values[row, -1] == pytest.approx(float(codes[:, d].max()), abs=1e-6)
    if kind in ("sparse-ae", "topk-ae"):  # ReLU codes: never a negative value
        assert values.min() >= 0


def test_the_traversal_figure_starts_with_the_input_and_its_reconstruction(model, tmp_path,
                                                                           monkeypatch):  # fmt: skip
    import sparsevae.plots.generation as figures

    drawn = {}

    def record(rows, labels, path, **kwargs):
        drawn.update(rows=rows, labels=labels)
        return path

    monkeypatch.setattr(figures, "save_labelled_rows", record)
    x = torch.rand(20, *SHAPE)
    save_latent_traversals(model, x, tmp_path / "t.png", n_dims=2, steps=4, example=3)
    assert drawn["labels"][0] == "input, recon." and len(drawn["labels"]) == 3
    assert torch.equal(drawn["rows"][0][0], x[3])
    assert torch.allclose(drawn["rows"][0][1], model.reconstruct(x[3:4])[0])
    assert drawn["labels"][1].startswith("z[")
