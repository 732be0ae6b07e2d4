"""Data larger than memory: npy:/folder: sets read on demand, streamed batches, --max-memory."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.optim.optimizer import register_optimizer_step_pre_hook

import sparsevae
from sparsevae.cli.main import main
from sparsevae.data import streaming
from sparsevae.data.lazy import LazyImages
from sparsevae.data.scaling import infer_scaling
from sparsevae.errors import ConfigError, DataError
from sparsevae.evaluation import evaluate_model
from sparsevae.evaluation.metrics import encode_dataset
from sparsevae.training import TrainConfig, Trainer
from sparsevae.training.batches import InMemoryBatches, StreamedBatches

N, SIDE = 300, 8


def every_other(index: torch.Tensor) -> torch.Tensor:
    """A process's part of a global batch (module level: it travels to worker processes)."""
    return index[::2]


@pytest.fixture
def images_npy(tmp_path) -> Path:
    """300 8-bit 8×8 images (random, so every batch differs) and their labels."""
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npy"
    np.save(path, rng.integers(0, 256, size=(N, SIDE, SIDE), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", rng.integers(0, 3, size=N))
    return path


def both_ways(path: Path, **options) -> tuple[sparsevae.data.Dataset, sparsevae.data.Dataset]:
    """The set in memory and read on demand (``max_memory=0``)."""
    in_memory = sparsevae.load_dataset(f"npy:{path}", **options)
    streamed = sparsevae.load_dataset(f"npy:{path}", max_memory=0, **options)
    assert not isinstance(in_memory.train_x, LazyImages)
    assert isinstance(streamed.train_x, LazyImages) and streamed.info["streamed"] is True
    return in_memory, streamed


def test_a_set_read_on_demand_equals_the_set_in_memory(images_npy):
    a, b = both_ways(images_npy, labels=str(images_npy.parent / "labels.npy"))
    assert b.train_x.shape == a.train_x.shape and b.shape == a.shape == (1, SIDE, SIDE)
    assert torch.equal(b.train_x[:], a.train_x) and torch.equal(b.test_x[:], a.test_x)
    index = torch.tensor([5, 0, 17, 5])
    assert torch.equal(b.train_x[index], a.train_x[index])
    assert torch.equal(b.train_x[3], a.train_x[3]) and b.train_x[3:9].dtype == torch.float32
    assert torch.equal(b.train_y, a.train_y) and b.info["scaling"] == a.info["scaling"]
    head = b.first_train(10)
    assert isinstance(head.train_x, LazyImages) and torch.equal(head.train_x[:], a.train_x[:10])


@pytest.mark.parametrize("part", [None, every_other], ids=["whole", "part"])
@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_batches_are_the_in_memory_batches(images_npy, part, workers):
    a, b = both_ways(images_npy, labels=str(images_npy.parent / "labels.npy"))
    extra = {} if part is None else {"part": part}
    memory = InMemoryBatches(a.train_x, a.train_y, 32, seed=4, **extra)
    streamed = StreamedBatches(b.train_x, b.train_y, 32, seed=4, workers=workers, **extra)
    assert len(streamed) == len(memory) == 9
    for epoch, first in ((0, 0), (1, 0), (1, 5)):  # 5: the rest of an interrupted epoch
        expected = list(memory.epoch(epoch, first))
        got = list(streamed.epoch(epoch, first))
        assert len(got) == len(expected) == 9 - first
        for (xs, ys), (xm, ym) in zip(got, expected, strict=True):
            assert torch.equal(xs, xm) and torch.equal(ys, ym)


def train_ae(x, x_test) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = sparsevae.build_model("ae", input_shape=[1, SIDE, SIDE], latent_dim=4, hidden=16)
    config = TrainConfig(epochs=2, batch_size=32, seed=1, device="cpu")
    Trainer(model, config, progress=False).fit(x, x_test)
    return model.state_dict()


def test_training_on_either_path_gives_the_same_weights(images_npy, monkeypatch):
    monkeypatch.setenv("SPARSEVAE_DATA_WORKERS", "1")  # batches read in a worker process
    a, b = both_ways(images_npy)
    in_memory, streamed = train_ae(a.train_x, a.test_x), train_ae(b.train_x, b.test_x)
    # Same batches, same order, same arithmetic: equal to the bit (tolerance 0).
    assert all(torch.equal(in_memory[k], streamed[k]) for k in in_memory)


def test_evaluation_and_codes_of_a_streamed_set(images_npy):
    a, b = both_ways(images_npy)
    torch.manual_seed(0)
    model = sparsevae.build_model("vae", input_shape=[1, SIDE, SIDE], latent_dim=4, hidden=16)
    model.eval()
    expected = evaluate_model(model, a.test_x, batch_size=7)
    got = evaluate_model(model, b.test_x, batch_size=7)
    assert got == expected  # the same batches in the same order: the same numbers
    assert torch.equal(encode_dataset(model, b.train_x), encode_dataset(model, a.train_x))


def test_a_scaling_is_fitted_in_chunks(tmp_path, monkeypatch):
    values = np.random.default_rng(1).normal(3.0, 2.0, size=(200, 5, 5)).astype(np.float32)
    np.save(tmp_path / "floats.npy", values)
    monkeypatch.setattr(streaming, "SCAN_BYTES", 400)  # four examples a chunk
    a, b = both_ways(tmp_path / "floats.npy")
    assert b.info["scaling"] == a.info["scaling"]
    assert b.info["scaling"] == infer_scaling(values[a.source_rows[0]])
    assert torch.equal(b.train_x[:], a.train_x)
    values[7, 2, 2] = np.nan
    np.save(tmp_path / "floats.npy", values)
    with pytest.raises(DataError, match="NaN"):
        sparsevae.load_dataset(f"npy:{tmp_path / 'floats.npy'}", max_memory=0)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_reading_rows_leaves_no_mapping_of_the_file(images_npy):
    """A mapping's touched pages count in the process's memory until it is unmapped."""
    _, b = both_ways(images_npy)
    b.train_x[torch.arange(50)]
    assert str(images_npy) not in Path("/proc/self/maps").read_text()


def test_a_fortran_ordered_file_too_large_for_memory_is_refused(tmp_path):
    path = tmp_path / "fortran.npy"
    np.save(path, np.asfortranarray(np.ones((20, 4, 4), np.uint8)))
    assert sparsevae.load_dataset(f"npy:{path}").shape == (1, 4, 4)  # in memory: fine
    with pytest.raises(DataError, match="Fortran order"):
        sparsevae.load_dataset(f"npy:{path}", max_memory=0)


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GB", 2 * 10**9), ("500MB", 500 * 10**6), ("1.5GiB", 3 * 2**29), ("0", 0), (1024, 1024)],
)
def test_memory_sizes(text, size):
    assert streaming.parse_memory(text) == size


@pytest.mark.parametrize("text", ["2XB", "lots", "-1GB", ""])
def test_bad_max_memory_is_one_clear_line(text, images_npy, tmp_path, capsys):
    with pytest.raises(ConfigError, match="max_memory must be a size"):
        streaming.parse_memory(text)
    argv = ["train", "--model", "ae", "--dataset", f"npy:{images_npy}", "--out", str(tmp_path)]
    assert main([*argv, f"--max-memory={text}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--max-memory must be a size" in err, err


def test_max_memory_decides_which_path(images_npy, monkeypatch):
    float_bytes = N * SIDE * SIDE * 4
    fits = sparsevae.load_dataset(f"npy:{images_npy}", max_memory=float_bytes)
    streams = sparsevae.load_dataset(f"npy:{images_npy}", max_memory=float_bytes - 1)
    assert not isinstance(fits.train_x, LazyImages) and "streamed" not in fits.info
    assert isinstance(streams.train_x, LazyImages)
    monkeypatch.setattr(streaming, "machine_memory", lambda: 2 * float_bytes - 2)  # the default
    assert isinstance(sparsevae.load_dataset(f"npy:{images_npy}").train_x, LazyImages)


def test_a_folder_of_images_streams(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    for c in ("cats", "dogs"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / c / f"{i}.png")
    name = f"folder:{tmp_path / 'imgs'}"
    a = sparsevae.load_dataset(name)
    b = sparsevae.load_dataset(name, max_memory="100B")
    assert isinstance(b.train_x, LazyImages) and b.info["streamed"] is True
    assert torch.equal(b.train_x[:], a.train_x) and torch.equal(b.test_x[:], a.test_x)
    assert torch.equal(b.train_y, a.train_y) and b.info["classes"] == ["cats", "dogs"]
    memory = InMemoryBatches(a.train_x, a.train_y, 5, seed=0)
    streamed = StreamedBatches(b.train_x, b.train_y, 5, seed=0, workers=1)
    for (xs, ys), (xm, ym) in zip(streamed.epoch(2), memory.epoch(2), strict=True):
        assert torch.equal(xs, xm) and torch.equal(ys, ym)
    Image.fromarray(np.zeros((7, 7), np.uint8)).save(tmp_path / "imgs" / "dogs" / "9.png")
    with pytest.raises(DataError, match=r"9\.png: image is 7×7 but 0\.png is 5×6"):
        sparsevae.load_dataset(name, max_memory=0).train_x[:]


# -- a streamed run: Ctrl-C mid-epoch, then resume ----------------------------------------------
def cli_run(images_npy: Path, out: Path) -> list[str]:
    return [
        "train", "--model", "ae", "--dataset", f"npy:{images_npy}", "--max-memory", "0",
        "--hidden", "16", "--latent-dim", "4", "--epochs", "2", "--batch-size", "32",
        "--seed", "3", "--device", "cpu", "--no-progress", "--out", str(out),
    ]  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_a_streamed_run_resumes_mid_epoch_exactly(images_npy, tmp_path, capsys):
    assert main(cli_run(images_npy, tmp_path / "whole")) == 0
    assert "streaming the batches" in capsys.readouterr().err
    count = 0

    def ctrl_c_at_step_13(optimizer, args, kwargs):  # 9 batches an epoch: inside the second
        nonlocal count
        count += 1
        if count == 13:
            os.kill(os.getpid(), signal.SIGINT)

    handle = register_optimizer_step_pre_hook(ctrl_c_at_step_13)
    try:
        assert main(cli_run(images_npy, tmp_path / "cut")) == 130
    finally:
        handle.remove()
    assert "interrupted in epoch 2 after batch 4" in capsys.readouterr().err
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert config["data"]["info"]["streamed"] is True
    assert main(["train", "--resume", str(tmp_path / "cut"), "--no-progress"]) == 0
    assert "streaming the batches" in capsys.readouterr().err  # a streamed run streams again
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    cut = load_file(tmp_path / "cut" / "model.safetensors")
    assert whole.keys() == cut.keys() and all(torch.equal(whole[k], cut[k]) for k in whole)
    out = tmp_path / "codes.npy"
    assert main(["encode", str(tmp_path / "cut"), "--split", "all", "--out", str(out)]) == 0
    assert np.load(out).shape == (N, 4)
