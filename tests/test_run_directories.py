"""Run directories as a researcher meets them: moved data, reruns with --overwrite, failed starts,
runs of another sparsevae version, folders that are not runs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import sparsevae
from sparsevae.cli.main import main
from sparsevae.errors import SparseVAEWarning, TrainingError
from sparsevae.training import Trainer

SMALL_VAE = ["--model", "vae", "--latent-dim", "4", "--hidden", "16", "--epochs", "1"]


def test_a_relative_data_dir_is_recorded_absolute(tmp_path, tiny_mnist, monkeypatch, capsys):
    monkeypatch.chdir(tiny_mnist.parent)
    argv = ["train", *SMALL_VAE, "--dataset", "mnist", "--data-dir", "mnist", "--no-progress"]
    assert main([*argv, "--out", "run"]) == 0
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["data_dir"]
    assert recorded == str(tiny_mnist.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = str(tmp_path / "run")
    assert main(["evaluate", run, "--json"]) == 0
    assert main(["encode", run, "--out", "codes.npy"]) == 0
    assert main(["train", "--resume", run, "--epochs", "2", "--no-progress"]) == 0
    capsys.readouterr()

    moved = tmp_path / "moved"
    shutil.move(tiny_mnist, moved)
    assert main(["evaluate", run]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert str(tiny_mnist.resolve()) in error and "--data-dir" in error
    assert main(["evaluate", run, "--data-dir", str(moved), "--json"]) == 0


def test_overwrite_removes_the_previous_run_s_files_and_keeps_the_user_s(tmp_path, capsys):
    out = tmp_path / "run"
    small = ["--latent-dim", "4", "--hidden", "16", "--epochs", "1", "--no-progress"]
    assert main(["train", "--model", "vsc", *small, "--out", str(out)]) == 0
    assert (out / "samples.png").is_file()
    (out / "notes.txt").write_text("mine")
    (out / "tensorboard").mkdir()
    (out / "tensorboard" / "events.out.tfevents.1.host").write_bytes(b"old events")
    argv = ["train", "--model", "sparse-ae", *small, "--out", str(out), "--overwrite"]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert "samples.png" not in names  # a sparse-ae has no prior to sample from
    assert "tensorboard" not in names  # the old run's event files went with it
    assert {"notes.txt", "reconstructions.png", "config.json"} <= names
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["model"]["kind"] == "sparse-ae"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_one_line_and_leaves_no_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL_VAE, "--device", "cuda", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--device cpu" in error
    if torch.version.cuda is None:
        assert "CPU-only build" in error
    assert not out.exists()


def test_a_failed_first_epoch_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    def non_finite(*args, **kwargs):
        raise TrainingError("non-finite loss in epoch 1 (batch 1 of 5, step 1)")

    monkeypatch.setattr(Trainer, "run_epoch", non_finite)
    out = tmp_path / "run"
    assert main(["train", *SMALL_VAE, "--out", str(out), "--no-progress"]) == 2
    assert "non-finite loss in epoch 1" in capsys.readouterr().err
    assert not out.exists()
    mine = tmp_path / "mine"
    mine.mkdir()  # an empty folder of the user's stays, empty
    with pytest.raises(TrainingError):
        sparsevae.fit(sparsevae.VAE(input_shape=(1, 8, 8), latent_dim=2), torch.rand(8, 64),
                      run_dir=mine, epochs=1, progress=False)  # fmt: skip
    assert mine.is_dir() and not any(mine.iterdir())
    with pytest.raises(TrainingError):
        sparsevae.fit(sparsevae.VAE(input_shape=(1, 8, 8), latent_dim=2), torch.rand(8, 64),
                      run_dir=tmp_path / "new", epochs=1, progress=False)  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_a_run_of_a_newer_version_is_loaded_and_resumed_with_a_warning(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL_VAE, "--out", str(out), "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    config["sparsevae_version"] = "99.1.0"
    (out / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    with pytest.warns(SparseVAEWarning, match=r"written by sparsevae 99\.1\.0, newer than"):
        sparsevae.load(out)
    assert main(["evaluate", str(out), "--json"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "99.1.0" in line]
    assert len(warning) == 1 and warning[0].startswith("sparsevae: warning: ")
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert "resuming rewrites its checkpoint" in capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["sparsevae_version"] == sparsevae.__version__
    config["sparsevae_version"] = "0.0.1"  # an older version: not a word
    (out / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(out), "--json"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["vae", "pca"])
def test_every_run_directory_has_its_training_curves(tmp_path, kind, monkeypatch):
    import sparsevae.plots.curves as curves

    drawn = []
    real = curves.plot_training_curves
    monkeypatch.setattr(
        curves, "plot_training_curves", lambda h, path, **kw: drawn.append(h) or real(h, path, **kw)
    )
    out = tmp_path / "cli"
    argv = ["train", "--model", kind, "--latent-dim", "3", "--epochs", "2", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    terms = {key for record in drawn[-1] for key in record if "/" in key}
    assert {"train/loss", "test/loss"} <= terms  # train and test, every term
    data = sparsevae.load_dataset("digits")
    model = sparsevae.build_model(kind, input_shape=data.shape, latent_dim=3)
    sparsevae.fit(model, data.train_x, data.test_x, epochs=2, run_dir=tmp_path / "api",
                  progress=False)  # fmt: skip
    assert (tmp_path / "api" / "training_curves.png").stat().st_size > 1000


def test_a_folder_that_is_not_a_run_is_not_offered_resume(tmp_path, capsys):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"jpeg")
    assert main(["train", *SMALL_VAE, "--out", str(out), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "not a sparsevae run" in error and "--resume" not in error
    run = tmp_path / "run"
    assert main(["train", *SMALL_VAE, "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", *SMALL_VAE, "--out", str(run), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err  # a run can be continued


def test_train_limit_trains_on_the_first_examples_and_resume_keeps_to_them(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", *SMALL_VAE, "--train-limit", "100", "--batch-size", "50", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["train_limit"] == 100
    assert [r["step"] for r in sparsevae.training.read_metrics(out)] == [2]  # 100 / 50
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert [r["step"] for r in sparsevae.training.read_metrics(out)] == [2, 4]
    assert main(["evaluate", str(out), "--split", "train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["n_examples"] == 100
