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


def test_saved_files_get_the_usual_permissions_not_owner_only(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        model = sparsevae.VAE(input_shape=(1, 8, 8), latent_dim=4, hidden=[16])
        sparsevae.save_model(tmp_path, model, {"name": "digits"})
    finally:
        os.umask(previous)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_save_model_refuses_a_run_directory_unless_told_to_overwrite(run):
    from sparsevae.errors import RunDirectoryError

    path, _ = run
    (path / "training_state.safetensors").write_bytes(b"stale")
    other = sparsevae.VSC(input_shape=(1, 8, 8), latent_dim=4, hidden=[16])
    with pytest.raises(RunDirectoryError, match="overwrite=True"):
        sparsevae.save_model(path, other)
    assert sparsevae.load(path).kind == "vae"  # untouched
    sparsevae.save_model(path, other, overwrite=True)
    assert sparsevae.load(path).kind == "vsc"
    assert not (path / "training_state.safetensors").exists()  # no stale state of the old run


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


def test_metrics_file_torn_last_line_is_dropped_other_damage_refused(tmp_path):
    from sparsevae.training import read_metrics

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"epoch": 1, "step": 5}\n{"epoch": 2, "st')  # killed while appending
    assert read_metrics(tmp_path) == [{"epoch": 1, "step": 5}]
    metrics.write_text('{"epoch": 1, "st\n{"epoch": 2, "step": 9}\n')
    with pytest.raises(CheckpointError, match="line 1"):
        read_metrics(tmp_path)
    metrics.write_text("[1, 2]\n")
    with pytest.raises(CheckpointError, match="not an epoch record"):
        read_metrics(tmp_path)


def test_training_state_holds_weights_optimizer_rng_and_position(tmp_path):
    from safetensors import safe_open

    torch.manual_seed(0)
    model = sparsevae.VAE(input_shape=(1, 4, 4), latent_dim=2, hidden=[4])
    sparsevae.fit(model, torch.rand(20, 1, 4, 4), epochs=2, batch_size=8, run_dir=tmp_path,
                  progress=False)  # fmt: skip
    with safe_open(tmp_path / "training_state.safetensors", framework="pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
        head = f.get_tensor("model.head.weight")
    assert {"rng.torch", "optimizer.0.exp_avg", "optimizer.0.exp_avg_sq"} <= keys
    assert torch.equal(head, model.head.weight.detach())
    assert json.loads(metadata["progress"]) == {"epoch": 2, "step": 6}
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries
