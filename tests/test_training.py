"""The trainer: learning, reproducibility, run directories, resume."""

from __future__ import annotations

import json

import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError, DataError, RunDirectoryError
from sparsevae.training import TrainConfig, Trainer, read_metrics
from sparsevae.training.averaging import WeightAverage


@pytest.fixture(scope="module")
def digits():
    return sparsevae.load_dataset("digits")


def small_vsc(seed=0):
    torch.manual_seed(seed)
    return sparsevae.VSC(input_shape=(1, 8, 8), latent_dim=8, hidden=[32], alpha=0.2)


def test_training_lowers_the_test_loss(digits):
    model = small_vsc()
    history = sparsevae.fit(
        model, digits.train_x, digits.test_x, epochs=4, batch_size=64, progress=False
    )
    assert history[-1]["test/neg_elbo"] < history[0]["test/neg_elbo"] - 3
    assert {"train/recon", "train/kl", "test/recon", "test/kl", "sharpness", "kl_weight"} <= set(
        history[0]
    )


def test_seeded_runs_are_identical_on_cpu(digits):
    def run():
        model = small_vsc(seed=3)
        sparsevae.fit(model, digits.train_x[:300], epochs=2, batch_size=32, seed=5, progress=False)
        return model.state_dict()

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sharpness_rises_from_50_to_200(digits):
    model = small_vsc()
    history = sparsevae.fit(model, digits.train_x[:256], epochs=3, batch_size=64, progress=False)
    assert (
        history[0]["sharpness"]
        < history[1]["sharpness"]
        < history[2]["sharpness"]
        == pytest.approx(200.0)
    )


def test_kl_warmup_weight(digits):
    model = small_vsc()
    history = sparsevae.fit(
        model, digits.train_x[:256], epochs=3, batch_size=64, kl_warmup_epochs=2, progress=False
    )
    assert [round(r["kl_weight"], 3) for r in history] == [0.5, 1.0, 1.0]


def test_run_directory_is_written_and_loads(digits, tmp_path):
    model = small_vsc()
    run = tmp_path / "run"
    sparsevae.fit(model, digits.train_x, digits.test_x, epochs=2, run_dir=run, progress=False)
    assert {"config.json", "model.safetensors", "metrics.jsonl", "training_state.safetensors"} <= {
        p.name for p in run.iterdir()
    }
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["kind"] == "vsc" and config["model"]["config"]["alpha"] == 0.2
    assert (
        config["training"]["epochs"] == 2 and config["sparsevae_version"] == sparsevae.__version__
    )
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    loaded = sparsevae.load(run)
    x = digits.test_x[:10]
    assert torch.equal(loaded.encode(x), model.eval().encode(x))


def test_non_empty_run_directory_is_refused(digits, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="not empty"):
        sparsevae.fit(small_vsc(), digits.train_x[:64], epochs=1, run_dir=tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


class Stop(Exception):
    pass


def test_resume_matches_an_uninterrupted_run(digits, tmp_path):
    x = digits.train_x[:320]
    config = TrainConfig(epochs=3, batch_size=32, seed=7)
    full = small_vsc(seed=1)
    Trainer(full, config, run_dir=tmp_path / "full", progress=False).fit(x)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Stop

    interrupted = small_vsc(seed=1)
    with pytest.raises(Stop):
        Trainer(
            interrupted,
            config,
            run_dir=tmp_path / "part",
            progress=False,
            callbacks=[stop_after_two],
        ).fit(x)
    resumed = small_vsc(seed=99)  # weights come from the checkpoint, not from here
    Trainer(resumed, config, run_dir=tmp_path / "part", progress=False).fit(x, resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_metrics(tmp_path / "part")] == [1, 2, 3]


def test_weight_averaging_tracks_the_exponential_moving_average(digits):
    """With --ema the returned model holds the moving average of the per-step weights."""
    x = digits.train_x[:256]
    config = TrainConfig(epochs=2, batch_size=32, seed=4, ema_decay=0.9)
    seen: list[list[torch.Tensor]] = []
    model = small_vsc(seed=2)
    trainer = Trainer(model, config, progress=False)
    original_update = WeightAverage.update

    def spy(self):
        seen.append([p.detach().clone() for p in self.params])
        original_update(self)

    WeightAverage.update = spy
    try:
        start = [p.detach().clone() for p in model.parameters()]
        trainer.fit(x)
    finally:
        WeightAverage.update = original_update
    expected = start
    for t, weights in enumerate(seen, start=1):
        decay = min(0.9, (1 + t) / (10 + t))
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights, strict=True)]
    assert len(seen) == 16
    for got, want in zip(model.parameters(), expected, strict=True):
        assert torch.allclose(got, want, atol=1e-5)
    # The averages differ from the last raw weights (otherwise the test would prove nothing).
    assert not all(torch.allclose(a, b) for a, b in zip(model.parameters(), seen[-1], strict=True))


def test_resume_with_weight_averaging_matches_an_uninterrupted_run(digits, tmp_path):
    x = digits.train_x[:320]
    config = TrainConfig(epochs=3, batch_size=32, seed=7, ema_decay=0.95)
    full = small_vsc(seed=1)
    Trainer(full, config, run_dir=tmp_path / "full", progress=False).fit(x)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        Trainer(
            small_vsc(seed=1), config, run_dir=tmp_path / "part", progress=False,
            callbacks=[stop_after_two],
        ).fit(x)  # fmt: skip
    # The saved model of the interrupted run is the average, not the raw weights.
    saved = sparsevae.load(tmp_path / "part")
    resumed = small_vsc(seed=99)
    Trainer(resumed, config, run_dir=tmp_path / "part", progress=False).fit(x, resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert not all(torch.equal(saved.state_dict()[k], b[k]) for k in a)
    loaded = sparsevae.load(tmp_path / "full")
    assert all(torch.equal(loaded.state_dict()[k], a[k]) for k in a)


@pytest.mark.parametrize(
    "data,match",
    [
        (torch.full((4, 1, 8, 8), float("nan")), "NaN"),
        (torch.full((4, 1, 8, 8), 2.0), r"\[0, 1\]"),
        (torch.rand(4, 1, 7, 7), "shape"),
        (torch.rand(0, 1, 8, 8), "empty"),
    ],
)
def test_bad_data_is_refused_before_training(data, match):
    with pytest.raises(DataError, match=match):
        sparsevae.fit(small_vsc(), data, epochs=1, progress=False)


def test_flat_rows_are_accepted(digits):
    """Flat NumPy rows train exactly as the same examples given as images do."""
    images = digits.train_x[:64]
    from_rows, from_images = small_vsc(), small_vsc()
    history = sparsevae.fit(from_rows, images.reshape(64, -1).numpy(), epochs=1, progress=False)
    sparsevae.fit(from_images, images, epochs=1, progress=False)
    assert len(history) == 1 and history[0]["step"] == 2
    a, b = from_rows.state_dict(), from_images.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "option",
    [
        {"epochs": 0},
        {"lr": -1.0},
        {"batch_size": 0},
        {"learning_rate": 1},
        {"nan_policy": "ignore"},
        {"optimizer": "lbfgs"},
        {"ema_decay": 1.0},
        {"ema_decay": -0.1},
    ],
)
def test_bad_training_options_are_refused(option, digits):
    with pytest.raises(ConfigError):
        sparsevae.fit(small_vsc(), digits.train_x[:64], progress=False, **option)
