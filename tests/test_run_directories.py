"""Run directories as a researcher meets them: moved data, reruns with --overwrite, failed starts,
runs of another sparsevae version, folders that are not runs."""

from __future__ import annotations

import json
import shutil

from sparsevae.cli.main import main

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
