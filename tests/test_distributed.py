"""Data-parallel training: the rank's share of a batch, and 2 gloo processes on 127.0.0.1 that
train the run one process makes, stop together on Ctrl-C and on a killed process, and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sparsevae.cli.launch import without_nproc
from sparsevae.cli.main import main
from sparsevae.models.registry import MODELS, build_model
from sparsevae.training.distributed import World

# A deterministic model, so that the processes' runs must equal the lone one to float rounding.
# Batch 7 over 270 training examples: 38 batches of 7 split 4 + 3, a last one of 4 split 2 + 2.
TRAIN = ["--model", "ae", "--latent-dim", "4", "--hidden", "16", "--batch-size", "7", "--quiet"]
EPOCHS = 40
WEIGHT_TOLERANCE = 1e-5  # observed ≈ 5e-8: sums of two half-batch gradients in another order


def test_world_takes_its_share_and_weights_it():
    for size in (1, 2, 3):
        for n in (1, 2, 5, 7):
            index = torch.arange(10, 10 + n)
            worlds = [World(rank, size) for rank in range(size)]
            parts = [w.part(index) for w in worlds]
            shares = [w.share(n) for w in worlds]
            assert sum(shares) == n
            real = [p[:s] for p, s in zip(parts, shares, strict=True)]
            assert torch.equal(torch.cat(real), index)  # every example once, in order
            # the weighted mean of the per-process means is the global mean
            values = index.double() ** 2
            means = [values[p].mean() for p in [v - 10 for v in parts]]
            weighted = sum(w.loss_weight(n) * m for w, m in zip(worlds, means, strict=True))
            assert torch.isclose(weighted / size, values.mean())


def test_world_from_the_torchrun_environment():
    assert not World.from_environment({}).distributed
    world = World.from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (world.rank, world.size, world.is_main) == (1, 2, False)
    assert without_nproc(["train", "--nproc", "2", "--out", "r", "--nproc=3"]) == [
        "train",
        "--out",
        "r",
    ]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_loss_reaches_all_its_parameters(kind):
    """DistributedDataParallel is built without the search for unused parameters."""
    options = {"lgae": {}, "llgae": {"components": 2}, "mixture-pca": {}}.get(kind)
    if options is None:
        options = {"latent_dim": 16 if kind in ("topk-ae", "dict-learning") else 4}
    if kind == "cvae":
        options["num_classes"] = 3
    model = build_model(kind, input_shape=[1, 8, 8], **options)
    if model.fits_in_closed_form:
        return
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 3, (16,))
    for fraction in (0.0, 0.5, 0.99):
        model.update_schedules(fraction)
        model.zero_grad()
        model.loss(x, y if model.num_classes else None, 1.0).loss.backward()
        idle = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not idle, f"{kind} at {fraction}: {idle}"


def test_nproc_needs_a_positive_count(tmp_path, capsys):
    assert main(["train", *TRAIN, "--out", str(tmp_path / "r"), "--nproc", "0"]) == 2
    assert "--nproc must be a positive" in capsys.readouterr().err


# -- two processes ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ddp") / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=(rng.random((300, 64)) < 0.3).astype(np.float32))
    return f"npz:{path}"


def command(data: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sparsevae", "--threads", "1", "train", "--dataset", data,
            *TRAIN, "--epochs", str(EPOCHS), "--out", str(out), *extra]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen:
    # A session of its own: a signal to its group reaches the launcher and its processes, as a
    # terminal's Ctrl-C does.
    return subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finished_epochs(out: Path) -> int:
    metrics = out / "metrics.jsonl"
    lines = metrics.read_text().splitlines() if metrics.is_file() else []
    return json.loads(lines[-1])["epoch"] if lines else 0


def wait_for_epoch(out: Path, epoch: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while finished_epochs(out) < epoch:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


def rank_process(rank: int, out: Path) -> int:
    """The pid of the training process of ``rank`` writing ``out``."""
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        ours = b"SPARSEVAE_LAUNCHED=1" in environ and str(out).encode() in cmdline
        if ours and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no process of rank {rank}")


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model.safetensors")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds ranks through /proc")
def test_two_processes_train_stop_and_resume_as_one(data, tmp_path):
    alone = tmp_path / "alone"
    subprocess.run(command(data, alone), check=True, capture_output=True)
    run = tmp_path / "two"

    # Ctrl-C: every process stops at the same batch, process 0 saves, one line, exit 130.
    first = start(command(data, run, "--nproc", "2"))
    wait_for_epoch(run, 2, first)
    os.killpg(first.pid, signal.SIGINT)
    err = first.communicate(timeout=60)[1]
    assert first.returncode == 130, err
    assert err.strip().splitlines() == [line for line in err.splitlines() if "interrupted" in line]
    assert f"--resume {run} --nproc 2" in err
    interrupted_at = finished_epochs(run)

    # A killed process stops the others; one line names it.
    second = start(command(data, run, "--resume", str(run), "--nproc", "2"))
    wait_for_epoch(run, interrupted_at + 2, second)
    os.kill(rank_process(1, run), signal.SIGKILL)
    err = second.communicate(timeout=60)[1]
    assert second.returncode == 2
    assert err.strip().splitlines() == [
        f"sparsevae: error: process 1 of 2 was killed by SIGKILL; the other processes were "
        f"stopped. Continue from the last checkpoint with: sparsevae train --resume {run} "
        "--nproc 2"
    ]
    assert finished_epochs(run) < EPOCHS

    # Resumed to the end: the lone process's run, to float rounding.
    subprocess.run(command(data, run, "--resume", str(run), "--nproc", "2"), check=True,
                   capture_output=True)  # fmt: skip
    assert finished_epochs(run) == EPOCHS
    mine, theirs = weights(run), weights(alone)
    assert all(torch.allclose(mine[k], theirs[k], atol=WEIGHT_TOLERANCE) for k in theirs)
    lone = [json.loads(line) for line in (alone / "metrics.jsonl").read_text().splitlines()]
    both = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in both] == list(range(1, EPOCHS + 1))
    for a, b in zip(lone, both, strict=True):  # the epochs' loss sums span both processes
        assert abs(a["train/loss"] - b["train/loss"]) < 1e-4
        assert abs(a["test/loss"] - b["test/loss"]) < 1e-4
