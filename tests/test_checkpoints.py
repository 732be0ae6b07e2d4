"""Loading run directories: safe, and refusing anything broken with a clear error."""

from __future__ import annotations

import json

import pytest
import torch

import sparsevae
from sparsevae.errors import CheckpointError


@pytest.fixture
def run(tmp_path):
    torch.manual_seed(0)
    model = sparsevae.VAE(input_shape=(1, 8, 8), latent_dim=4, hidden=[16])
    sparsevae.save_model(tmp_path, model, {"name": "digits"})
    return tmp_path, model


def test_roundtrip(run):
    path, model = run
    loaded = sparsevae.load(path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    assert not loaded.training


def test_truncated_weights(run):
    path, _ = run
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="SHA-256"):
        sparsevae.load(path)
    with pytest.raises(CheckpointError, match="safetensors"):
        sparsevae.load(path, verify=False)


def test_tampered_weights(run):
    path, _ = run
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="modified"):
        sparsevae.load(path)


def edit_config(path, change):
    config = json.loads((path / "config.json").read_text())
    change(config)
    (path / "config.json").write_text(json.dumps(config))


def test_newer_format_is_refused(run):
    path, _ = run
    edit_config(path, lambda c: c.update(format_version=99))
    with pytest.raises(CheckpointError, match="newer sparsevae"):
        sparsevae.load(path)


def test_unknown_model_kind(run):
    path, _ = run
    edit_config(path, lambda c: c["model"].update(kind="gan"))
    with pytest.raises(CheckpointError, match="unknown model kind 'gan'"):
        sparsevae.load(path)


def test_incompatible_config(run):
    path, _ = run
    edit_config(path, lambda c: c["model"]["config"].update(latent_dim=5))
    with pytest.raises(CheckpointError, match="shape"):
        sparsevae.load(path)


def test_corrupt_json_and_missing_files(run, tmp_path):
    path, _ = run
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        sparsevae.load(path)
    with pytest.raises(CheckpointError, match="not found"):
        sparsevae.load(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"config\.json"):
        sparsevae.load(empty)


def test_pickle_payload_is_never_loaded(run):
    """A weights file that is a pickle (e.g. a torch.save) is refused, not unpickled."""
    path, model = run
    torch.save(model.state_dict(), path / "model.safetensors")
    with pytest.raises(CheckpointError):
        sparsevae.load(path, verify=False)
