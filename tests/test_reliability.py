"""Training that survives SIGKILL, Ctrl-C, non-finite numbers and half-written files."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch.optim.optimizer import register_optimizer_step_pre_hook

import sparsevae
from sparsevae.cli.main import main
from sparsevae.errors import RunDirectoryError, TrainingError
from sparsevae.hashing import sha256_file
from sparsevae.training import TrainConfig, Trainer, TrainingInterrupted, read_metrics

POSIX_SIGNALS = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

# A tiny VSC on digits: 1500 training images, 47 batches of 32 per epoch.
STEPS_PER_EPOCH = 47
RUN_ARGS = [
    "train", "--model", "vsc", "--dataset", "digits", "--hidden", "16", "--latent-dim", "4",
    "--epochs", "2", "--batch-size", "32", "--seed", "3", "--device", "cpu", "--no-progress",
]  # fmt: skip
MID_EPOCH_2 = STEPS_PER_EPOCH + 20  # an optimiser step well inside the second epoch


# Run inside a fresh interpreter: counts optimiser steps and, at step T_AT, either sends itself
# SIGINT or leaves a marker file and waits there (to be killed with SIGKILL by the test).
CHILD = """
import os, signal, sys, time
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
torch.set_num_threads(int(os.environ["T_THREADS"]))
count = 0
def hook(optimizer, args, kwargs):
    global count
    count += 1
    if count == int(os.environ["T_AT"]):
        open(os.environ["T_MARKER"], "w").close()
        time.sleep(300)
register_optimizer_step_pre_hook(hook)
from sparsevae.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@contextmanager
def at_optimizer_step(step: int, action):
    """Call ``action()`` just before the ``step``-th optimiser step (counted from 1)."""
    count = 0

    def hook(optimizer, args, kwargs):
        nonlocal count
        count += 1
        if count == step:
            action()

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The same training as every test below, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main([*RUN_ARGS, "--out", str(out)]) == 0
    return out


@POSIX_SIGNALS
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(reference_run, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "mid-epoch-2"
    env = {
        **os.environ,
        "T_AT": str(MID_EPOCH_2),
        "T_MARKER": str(marker),
        "T_THREADS": str(torch.get_num_threads()),  # same arithmetic as this process
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *RUN_ARGS, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never reached epoch 2"
            time.sleep(0.05)
        # The first checkpoint exists and the child is in the middle of epoch 2: kill it.
        assert (out / "training_state.safetensors").is_file()
        child.kill()  # SIGKILL
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert [r["epoch"] for r in read_metrics(out)] == [1]

    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert same_weights(out, reference_run)
    assert without_timing(read_metrics(out)) == without_timing(read_metrics(reference_run))
    # The finished run loads, and its config vouches for these weights (load verifies the SHA-256).
    config = json.loads((out / "config.json").read_text())
    assert config.get("weights_sha256") == sha256_file(out / "model.safetensors")
    loaded = sparsevae.load(out).state_dict()
    assert all(torch.equal(loaded[k], w) for k, w in weights(reference_run).items())


@POSIX_SIGNALS
def test_ctrl_c_saves_a_checkpoint_and_resume_is_exact(reference_run, tmp_path, capsys):
    out = tmp_path / "run"
    with at_optimizer_step(MID_EPOCH_2, lambda: os.kill(os.getpid(), signal.SIGINT)):
        assert main([*RUN_ARGS, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted in epoch 2" in err
    assert f"sparsevae train --resume {out}" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    # A mid-epoch checkpoint: training stops before the batch after the one that saw Ctrl-C, and
    # the loadable model is the one resume starts from.
    with safe_open(out / "training_state.safetensors", framework="pt") as f:
        progress = json.loads(f.metadata()["progress"])
        state = {k[len("model.") :]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}  # noqa: SIM118
    assert (progress["epoch"], progress["batch"], progress["step"]) == (
        1, MID_EPOCH_2 - STEPS_PER_EPOCH, MID_EPOCH_2
    )  # fmt: skip
    assert [r["epoch"] for r in read_metrics(out)] == [1]
    loaded = sparsevae.load(out).state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert same_weights(out, reference_run)
    assert without_timing(read_metrics(out)) == without_timing(read_metrics(reference_run))


def tiny_vsc(seed: int = 0) -> sparsevae.VSC:
    torch.manual_seed(seed)
    return sparsevae.VSC(input_shape=(1, 8, 8), latent_dim=4, hidden=[16], alpha=0.2)


@pytest.fixture(scope="module")
def digits_x():
    return sparsevae.load_dataset("digits").train_x[:320]  # 10 batches of 32


def poison_loss(model, calls: set[int], term: str = "recon"):
    """Make ``term`` (and so the loss) NaN on the given training calls of ``model.loss``."""
    original, count = model.loss, 0

    def loss(x, y=None, kl_weight=1.0):
        nonlocal count
        out = original(x, y, kl_weight)
        if model.training:
            count += 1
            if count in calls:
                out.terms[term] = out.terms[term] * math.nan
                out.loss = out.loss * math.nan
                out.terms["loss"] = out.loss
        return out

    model.loss = loss


def test_nan_loss_stops_naming_epoch_and_term_and_keeps_last_checkpoint(digits_x, tmp_path):
    model = tiny_vsc()
    poison_loss(model, {10 + 4})  # epoch 2, batch 4
    trainer = Trainer(model, TrainConfig(epochs=3, batch_size=32), run_dir=tmp_path, progress=False)
    with pytest.raises(TrainingError) as caught:
        trainer.fit(digits_x)
    message = str(caught.value)
    assert "non-finite" in message and "recon" in message and "epoch 2 (batch 4 of 10" in message
    assert "--lr" in message and "--grad-clip" in message and "--nan-policy skip" in message
    assert str(tmp_path) in message
    # The epoch-1 checkpoint is intact, finite, and resumable.
    state = json.loads((tmp_path / "config.json").read_text())
    assert state["training"]["epochs"] == 3
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1]
    loaded = sparsevae.load(tmp_path)
    assert all(torch.isfinite(p).all() for p in loaded.parameters())


def test_nan_in_the_first_epoch_says_no_checkpoint_exists_and_advises_only_what_is_unused(
    digits_x, tmp_path
):
    model = tiny_vsc()
    poison_loss(model, {3})
    config = TrainConfig(epochs=2, batch_size=32, grad_clip=5.0, kl_warmup_epochs=1.0)
    with pytest.raises(TrainingError) as caught:
        Trainer(model, config, run_dir=tmp_path, progress=False).fit(digits_x)
    message = str(caught.value)
    assert "no checkpoint was written yet" in message and "--overwrite" in message
    assert "last good checkpoint" not in message
    assert "--lr" in message and "--nan-policy skip" in message
    assert "--grad-clip" not in message and "--kl-warmup" not in message  # already in use
    assert message.startswith("non-finite loss, recon and gradient norm in epoch 1 (batch 3 of")


def test_non_finite_gradient_is_named_with_clipping(digits_x):
    model = tiny_vsc()
    count = 0

    def poison(grad):
        nonlocal count
        count += 1
        return grad * math.inf if count == 3 else grad

    model.head.weight.register_hook(poison)
    config = TrainConfig(epochs=1, batch_size=32, grad_clip=10.0)
    with pytest.raises(TrainingError, match=r"non-finite gradient norm in epoch 1 \(batch 3 of"):
        Trainer(model, config, progress=False).fit(digits_x)


def test_nan_policy_skip_drops_and_counts_bad_batches(digits_x, tmp_path):
    model = tiny_vsc()
    poison_loss(model, {2, 13, 14}, term="kl")
    config = TrainConfig(epochs=2, batch_size=32, nan_policy="skip")
    trainer = Trainer(model, config, run_dir=tmp_path, progress=False)
    history = trainer.fit(digits_x)
    assert [r["skipped_batches"] for r in history] == [1, 2]
    assert trainer.skipped_batches == 3
    assert all(math.isfinite(r["train/loss"]) for r in history)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_policy_skip_gives_up_when_every_batch_is_bad(digits_x):
    model = tiny_vsc()
    poison_loss(model, set(range(1, 11)))
    with pytest.raises(TrainingError, match="every batch of epoch 1"):
        Trainer(model, TrainConfig(epochs=1, batch_size=32, nan_policy="skip"), progress=False).fit(
            digits_x
        )


def test_cli_nan_stop_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"

    poisoned = []

    def hook(optimizer, args, kwargs):
        # NaN gradients after this batch's check: the weights go NaN and the next loss shows it.
        poisoned.append(1)
        if len(poisoned) == MID_EPOCH_2:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = torch.full_like(p, math.nan)

    handle = register_optimizer_step_pre_hook(hook)
    try:
        assert main([*RUN_ARGS, "--out", str(out)]) == 2
    finally:
        handle.remove()
    err = capsys.readouterr().err
    assert err.startswith("sparsevae: error: non-finite") and "in epoch 2" in err
    assert "--lr" in err and "--grad-clip" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert [r["epoch"] for r in read_metrics(out)] == [1]
    assert all(torch.isfinite(t).all() for t in weights(out).values())


def test_nan_policy_flag_is_recorded(tmp_path):
    out = tmp_path / "run"
    assert main([*RUN_ARGS, "--epochs", "1", "--nan-policy", "skip", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["nan_policy"] == "skip"
    assert read_metrics(out)[0]["skipped_batches"] == 0


def test_resume_refuses_a_corrupt_training_state(digits_x, tmp_path):
    Trainer(tiny_vsc(), TrainConfig(epochs=1, batch_size=32), run_dir=tmp_path, progress=False).fit(
        digits_x
    )
    state = tmp_path / "training_state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    trainer = Trainer(tiny_vsc(), TrainConfig(epochs=2, batch_size=32), run_dir=tmp_path)
    with pytest.raises(RunDirectoryError, match="unreadable training state"):
        trainer.fit(digits_x, resume=True)
    state.unlink()
    with pytest.raises(RunDirectoryError, match="cannot be resumed"):
        trainer.fit(digits_x, resume=True)


def test_resume_ignores_leftovers_of_a_killed_writer(digits_x, tmp_path):
    config = TrainConfig(epochs=2, batch_size=32, seed=1)
    full = tiny_vsc()
    Trainer(full, config, progress=False).fit(digits_x)

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    with pytest.raises(Stop):
        Trainer(tiny_vsc(), config, run_dir=tmp_path, progress=False, callbacks=[stop]).fit(
            digits_x
        )
    # What a SIGKILL during writes leaves: a temporary file and a torn metrics line.
    (tmp_path / ".model.safetensors.abc123.tmp").write_bytes(b"half a file")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "step": 2')
    resumed = tiny_vsc(seed=5)
    Trainer(resumed, config, run_dir=tmp_path, progress=False).fit(digits_x, resume=True)
    assert not list(tmp_path.glob(".*.tmp"))
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@POSIX_SIGNALS
def test_trainer_without_run_dir_leaves_ctrl_c_alone(digits_x):
    def interrupt():
        os.kill(os.getpid(), signal.SIGINT)

    with at_optimizer_step(2, interrupt), pytest.raises(KeyboardInterrupt):
        Trainer(tiny_vsc(), TrainConfig(epochs=1, batch_size=32), progress=False).fit(digits_x)


@POSIX_SIGNALS
def test_interrupted_error_carries_where_it_stopped(digits_x, tmp_path):
    with (
        at_optimizer_step(13, lambda: os.kill(os.getpid(), signal.SIGINT)),
        pytest.raises(TrainingInterrupted) as caught,
    ):
        Trainer(
            tiny_vsc(), TrainConfig(epochs=2, batch_size=32), run_dir=tmp_path, progress=False
        ).fit(digits_x)
    assert (caught.value.epoch, caught.value.batch) == (1, 3)
    assert caught.value.run_dir == tmp_path


def test_cli_resume_keeps_the_recorded_epochs_unless_told(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN_ARGS, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0  # finished: nothing to add
    assert [r["epoch"] for r in read_metrics(out)] == [1]
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 2
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2]
    capsys.readouterr()
    # A smaller --epochs cannot shorten the run, and the user is told rather than ignored.
    assert main(["train", "--resume", str(out), "--epochs", "1", "--no-progress"]) == 0
    assert "set to 2 epochs" in capsys.readouterr().err
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2]
    # (Not equal to a 2-epoch run: schedules such as VSC's sharpness span the planned epochs.)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "--resume"], "--resume needs a run directory"),
        (["train", "--out", "x"], "--model and --out are required"),
        (["train", "--resume", "nowhere"], "nothing to resume"),
    ],
)
def test_cli_resume_usage_errors(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_cli_resume_refuses_another_model_kind(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN_ARGS, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--model", "vae"]) == 2
    assert "'vsc' run" in capsys.readouterr().err
