"""Property-based fuzzing (Hypothesis): whatever is in a run directory or a data file, loading it
either works or raises a one-line SparseVAEError — never another exception, never an unpickle."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparsevae
from sparsevae.data.idx import load_idx_directory, read_idx
from sparsevae.errors import CheckpointError, DataError, SparseVAEError
from sparsevae.training import read_config, read_metrics
from sparsevae.training.trainer import as_images

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def valid_run():
    """A small VAE run directory, copied for each example."""
    directory = Path(tempfile.mkdtemp(prefix="sparsevae-fuzz-"))
    torch.manual_seed(0)
    sparsevae.save_model(directory, sparsevae.VAE(input_shape=(1, 4, 4), latent_dim=2, hidden=[4]))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def with_config(valid_run: Path, config: object, raw: bytes | None = None) -> Path:
    target = Path(tempfile.mkdtemp(prefix="sparsevae-fuzz-case-"))
    shutil.copy(valid_run / "model.safetensors", target / "model.safetensors")
    data = raw if raw is not None else json.dumps(config).encode()
    (target / "config.json").write_bytes(data)
    return target


def load_or_user_error(path: Path) -> None:
    try:
        sparsevae.load(path)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@FUZZ
@given(config=json_values)
def test_any_json_as_config(valid_run, config):
    load_or_user_error(with_config(valid_run, config))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_config(valid_run, raw):
    load_or_user_error(with_config(valid_run, None, raw))


@FUZZ
@given(
    section=st.sampled_from(["format_version", "model", "kind", "config", "weights_sha256"]),
    value=json_values,
    key=st.sampled_from(["latent_dim", "hidden", "input_shape", "likelihood", "beta", "extra"]),
)
def test_one_field_of_a_valid_config_replaced(valid_run, section, value, key):
    config = json.loads((valid_run / "config.json").read_text())
    if section in ("format_version", "model", "weights_sha256"):
        config[section] = value
    elif section == "kind":
        config["model"]["kind"] = value
    else:
        config["model"]["config"][key] = value
    load_or_user_error(with_config(valid_run, config))


@FUZZ
@given(raw=st.binary(max_size=300), keep=st.integers(0, 400))
def test_weights_file_fuzzed(valid_run, raw, keep):
    target = with_config(valid_run, json.loads((valid_run / "config.json").read_text()))
    original = (valid_run / "model.safetensors").read_bytes()
    keep = min(keep, len(original) - 1)  # always damaged: at least the last byte is gone
    (target / "model.safetensors").write_bytes(original[:keep] + raw)
    try:
        for verify in (True, False):
            with pytest.raises(CheckpointError):
                sparsevae.load(target, verify=verify)
    finally:
        shutil.rmtree(target, ignore_errors=True)


@FUZZ
@given(lines=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=30)), max_size=5))
def test_metrics_file_fuzzed(tmp_path, lines):
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    try:
        records = read_metrics(tmp_path)
    except CheckpointError:
        return
    assert all(isinstance(r, dict) and isinstance(r["epoch"], int) for r in records)


def test_read_config_names_the_problem(valid_run):
    target = with_config(valid_run, {"format_version": 1, "model": {"kind": 3}})
    with pytest.raises(CheckpointError, match=r"missing model\.kind"):
        read_config(target)
    shutil.rmtree(target)


# -- data loaders ------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@FUZZ
@given(raw=st.binary(max_size=200), gz=st.booleans())
def test_read_idx_on_any_bytes(tmp_path, raw, gz):
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    try:
        array = read_idx(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(array, np.ndarray)


@FUZZ
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255)), max_size=3),
    cut=st.integers(0, 10),
)
def test_read_idx_on_damaged_files(tmp_path, shape, flips, cut):
    data = bytearray(idx_bytes(np.zeros(shape, dtype=np.uint8)))
    for position, mask in flips:
        if position < len(data):
            data[position] ^= mask
    data = bytes(data[: len(data) - cut])
    path = tmp_path / "damaged-idx1-ubyte"
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except DataError:
        return
    # Whatever was accepted matches what its header declares.
    assert array.size * array.dtype.itemsize == len(data) - 4 - 4 * array.ndim


@FUZZ
@given(n_train=st.integers(0, 3), n_labels=st.integers(0, 3), side=st.integers(1, 3))
def test_idx_directory_with_mismatched_parts(tmp_path, n_train, n_labels, side):
    for name, array in (
        ("train-images-idx3-ubyte", np.zeros((n_train, side, side))),
        ("train-labels-idx1-ubyte", np.zeros(n_labels)),
        ("t10k-images-idx3-ubyte", np.zeros((1, side, side))),
        ("t10k-labels-idx1-ubyte", np.zeros(1)),
    ):
        (tmp_path / name).write_bytes(idx_bytes(array))
    try:
        arrays = load_idx_directory(tmp_path)
    except DataError:
        assert n_train != n_labels
        return
    assert n_train == n_labels and len(arrays) == 4


@FUZZ
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=32
    ),
    columns=st.integers(1, 4),
)
def test_training_data_validation(values, columns):
    rows = len(values) // columns
    x = np.asarray(values[: rows * columns], dtype=np.float32).reshape(rows, columns)
    try:
        out = as_images(x, (1, columns), "training data")
    except SparseVAEError:
        assert rows == 0 or not np.isfinite(x).all() or x.min() < 0 or x.max() > 1
        return
    assert out.shape == (rows, 1, columns) and torch.isfinite(out).all()
    assert float(out.min()) >= 0 and float(out.max()) <= 1


# -- training state (what resume reads) ----------------------------------------------------------
@pytest.fixture(scope="module")
def valid_state():
    """A finished one-epoch run with its training_state.safetensors."""
    directory = Path(tempfile.mkdtemp(prefix="sparsevae-fuzz-state-"))
    x = torch.rand(16, 1, 4, 4)
    sparsevae.fit(
        tiny_model(), x, epochs=1, batch_size=8, run_dir=directory / "run", progress=False
    )
    yield directory / "run"
    shutil.rmtree(directory, ignore_errors=True)


def tiny_model():
    torch.manual_seed(0)
    return sparsevae.VSC(input_shape=(1, 4, 4), latent_dim=2, hidden=[4])


@FUZZ
@given(
    field=st.sampled_from(["progress", "param_groups"]),
    value=json_values,
    drop=st.sampled_from([None, "rng.torch", "model.head.bias", "optimizer.0.exp_avg"]),
    reshape=st.booleans(),
)
def test_training_state_fuzzed(valid_state, field, value, drop, reshape):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from sparsevae.training.trainer import load_training_state, optimizer_for

    with safe_open(valid_state / "training_state.safetensors", framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    metadata[field] = json.dumps(value)
    if drop is not None:
        tensors.pop(drop)
    if reshape:
        tensors["optimizer.1.exp_avg"] = torch.zeros(3)
    target = Path(tempfile.mkdtemp(prefix="sparsevae-fuzz-state-case-"))
    try:
        save_file(tensors, target / "training_state.safetensors", metadata=metadata)
        model = tiny_model()
        optimizer = optimizer_for(model, "adam", 1e-3)
        try:
            load_training_state(target, model, optimizer, torch.device("cpu"))
        except SparseVAEError as exc:
            assert "\n" not in str(exc)
        else:  # only a well-formed progress record can pass, with everything else intact
            assert field == "progress" and drop is None and not reshape
            assert isinstance(value, dict) and {"epoch", "step"} <= set(value)
    finally:
        shutil.rmtree(target, ignore_errors=True)
