"""Experiment tracking: ``train --log tensorboard`` / ``--log mlflow`` write what the trackers'
own readers load back, every loss term per epoch included."""

from __future__ import annotations

import importlib.util

import pytest

from sparsevae.cli.main import main
from sparsevae.training import read_metrics
from sparsevae.training.tracking import Tracker, Trackers, flat_params, scalars

TRAIN = ["train", "--model", "vsc", "--latent-dim", "4", "--hidden", "16", "--epochs", "2"]
FIGURES = {"reconstructions", "samples", "training_curves"}


def logged_per_epoch(run) -> tuple[set[str], list[dict]]:
    """The keys every epoch record of ``run`` holds that a tracker logs, and the records."""
    records = read_metrics(run)
    return {key for record in records for key in scalars(record)}, records


def test_tensorboard_event_files_hold_every_loss_term_per_epoch(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--log", "tensorboard", "--no-progress"]) == 0
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    keys, records = logged_per_epoch(out)
    assert {"train/loss", "train/recon", "train/kl", "test/neg_elbo", "kl_weight"} <= keys
    assert keys <= set(tags["scalars"])
    for key in keys:
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in records]
    assert "final/sparsity" in tags["scalars"]  # the test metrics of the finished run
    assert set(tags["images"]) >= FIGURES
    assert any(tag.startswith("config") for tag in tags["tensors"])


@pytest.mark.slow  # creating MLflow's database takes several seconds
def test_mlflow_writes_a_local_run_that_its_client_reads_back(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # the default store: ./mlruns
    assert main([*TRAIN, "--out", "run", "--log", "mlflow", "--no-progress"]) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sparsevae")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["model.kind"] == "vsc" and run.data.params["training.lr"] == "0.001"
    assert run.data.params["model.config.hidden"] == "[16]"
    keys, records = logged_per_epoch(tmp_path / "run")
    for key in keys:
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert history == [(r["epoch"], pytest.approx(r[key], rel=1e-9)) for r in records]
    assert "final/sparsity" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {f"{name}.png" for name in FIGURES} <= artifacts


def test_a_missing_extra_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else find_spec(name)
    )
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--log", "mlflow", "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "pip install 'sparsevae[mlflow]'" in error
    assert not out.exists()


class Recorder(Tracker):
    def __init__(self):
        self.calls = []

    def log_metrics(self, metrics, step):
        self.calls.append((step, dict(metrics)))

    def close(self, status="FINISHED"):
        self.calls.append(status)


def test_trackers_log_scalars_against_the_epoch_and_close_failed_runs_as_failed():
    first, second = Recorder(), Recorder()
    with pytest.raises(RuntimeError), Trackers([first, second]) as trackers:
        trackers({"epoch": 3, "step": 90, "train/loss": 1.5, "note": "text", "bad": float("nan")})
        raise RuntimeError("epoch 4 failed")
    assert first.calls == second.calls == [(3, {"train/loss": 1.5}), "FAILED"]
    with Trackers([first]):
        pass
    assert first.calls[-1] == "FINISHED"


def test_the_config_becomes_flat_parameters_without_the_data_record():
    config = {
        "model": {"kind": "vsc", "config": {"alpha": 0.2, "hidden": [400]}},
        "data": {"name": "npz:x.npz", "info": {"scaling": {"kind": "minmax", "min": [0] * 784}}},
    }
    assert flat_params(config) == {
        "model.kind": "vsc",
        "model.config.alpha": "0.2",
        "model.config.hidden": "[400]",
        "data.name": "npz:x.npz",
    }
