"""The command line, end to end on the built-in digits set and on small IDX files."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import sparsevae
from sparsevae.cli.main import main


def train(tmp_path, *extra, name="run"):
    out = tmp_path / name
    args = [
        "train",
        "--model",
        "vsc",
        "--latent-dim",
        "8",
        "--hidden",
        "32",
        "--alpha",
        "0.2",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train(tmp_path_factory.mktemp("cli"))


def test_train_writes_a_complete_run(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "reconstructions.png",
        "samples.png",
    } <= names
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_evaluate_json(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == "vsc" and metrics["n_examples"] == 297
    # The run is seeded and the evaluation too: these are the values this run gives (one torch
    # thread, CPU); a change in training, evaluation or the report moves them.
    expected = {"neg_elbo": 39.0435, "recon": 37.4544, "kl": 1.5890, "recon_sq_error": 8.9720}
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=2e-3)
    assert metrics["sparsity"] == pytest.approx(0.90699, abs=1e-4)
    assert metrics["active_units"] == 0  # two epochs: no posterior mean varies above 0.01 yet


def test_evaluate_table(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    assert "test −ELBO" in capsys.readouterr().out


def test_encode_in_data_order(run_dir, tmp_path):
    out = tmp_path / "codes.npy"
    assert main(["encode", str(run_dir), "--split", "test", "--out", str(out)]) == 0
    codes = np.load(out)
    model = sparsevae.load(run_dir)
    expected = model.encode(sparsevae.load_dataset("digits").test_x).detach().numpy()
    assert codes.shape == (297, 8) and np.allclose(codes, expected, atol=1e-6)
    assert main(["encode", str(run_dir), "--out", str(out)]) == 2  # no silent overwrite


def test_sample(run_dir, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", str(run_dir), "-n", "16", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cvae_samples_a_label(tmp_path):
    out = tmp_path / "c"
    argv = ["train", "--model", "cvae", "--latent-dim", "4", "--hidden", "16", "--epochs", "1"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    for label in (3, 5):
        npy = tmp_path / f"c{label}.npy"
        argv = ["sample", str(out), "-n", "8", "--label", str(label), "--seed", "1"]
        assert main([*argv, "--out", str(npy)]) == 0
    three, five = np.load(tmp_path / "c3.npy"), np.load(tmp_path / "c5.npy")
    model = sparsevae.load(out)
    torch.manual_seed(1)
    expected = model.sample(8, torch.full((8,), 3)).numpy()
    assert three.shape == (8, 1, 8, 8) and np.allclose(three, expected, atol=1e-6)
    assert not np.allclose(three, five, atol=1e-3)  # same draws, another label: other images
    assert main(["sample", str(out), "-n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert main(["sample", str(out), "--label", "12", "--out", str(tmp_path / "bad.png")]) == 2
    assert main(["sample", str(out), "--out", str(tmp_path / "bad.txt")]) == 2


def test_mnist_from_data_dir(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "m"
    assert (
        main(
            [
                "train",
                "--model",
                "vae",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tiny_mnist),
                "--latent-dim",
                "4",
                "--hidden",
                "16",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    # --no-progress silences the epochs, not the result: the final metrics table is printed.
    printed = capsys.readouterr().out
    assert "test metrics of vae on mnist" in printed and "test −ELBO (nats/example)" in printed
    assert main(["evaluate", str(out), "--json"]) == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--model", "nope", "--out", "{tmp}/a"], "unknown model 'nope'"),
        (["train", "--model", "vsc", "--alpha", "1.5", "--out", "{tmp}/a"], "alpha"),
        (
            ["train", "--model", "vae", "--dataset", "cifar100", "--out", "{tmp}/a"],
            "unknown data set",
        ),
        (
            [
                "train",
                "--model",
                "vae",
                "--dataset",
                "mnist",
                "--data-dir",
                "{tmp}",
                "--out",
                "{tmp}/a",
            ],
            "train-images",
        ),
        (["evaluate", "{tmp}/missing"], "not found"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "sparsevae.cli.main", *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("sparsevae: error:")


@pytest.mark.parametrize(
    "model,option,message",
    [
        ("vsc", "hidden=abc", "hidden must be a list of integers, got 'abc'"),
        ("vsc", 'alpha="x"', "alpha must be a number, got 'x'"),
        ("vsc", "code_threshold=abc", "code_threshold must be a number, got 'abc'"),
        ("vsc", "latent_dim=2.5", "latent_dim must be an integer, got 2.5"),
        ("llgae", "components=abc", "components must be an integer, got 'abc'"),
    ],
)
def test_option_of_the_wrong_kind_is_named_in_one_line(tmp_path, capsys, model, option, message):
    argv = ["train", "--model", model, "--dataset", "digits", "--epochs", "1"]
    argv += ["--out", str(tmp_path / "r"), "--no-progress", "--option", option]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_a_closed_pipe_is_no_traceback():
    # `sparsevae datasets list | head -0`: the reader is gone before anything is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparsevae.cli.main", "datasets", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_truncated_idx_and_corrupt_checkpoint_from_cli(tmp_path, tiny_mnist, run_dir, capsys):
    path = tiny_mnist / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    assert (
        main(
            [
                "train",
                "--model",
                "vae",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tiny_mnist),
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    assert main(["evaluate", str(broken)]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_overwrite_and_resume(tmp_path):
    out = train(tmp_path, name="r")
    assert main(["train", "--model", "vsc", "--out", str(out), "--no-progress"]) == 2
    assert (
        main(
            [
                "train",
                "--model",
                "vsc",
                "--out",
                str(out),
                "--resume",
                "--epochs",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    train(tmp_path, "--overwrite", name="r")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_help_for_every_verb():
    for verb in ("train", "evaluate", "encode", "sample"):
        with pytest.raises(SystemExit) as exc:
            main([verb, "--help"])
        assert exc.value.code == 0


def test_auto_threads_leave_the_busy_cores_to_others():
    from sparsevae.cli.main import auto_threads

    assert auto_threads(current=2, cpu_count=2, load=0.1) == 2  # idle: torch's choice
    assert auto_threads(current=2, cpu_count=2, load=1.2) == 1  # one core taken
    assert auto_threads(current=2, cpu_count=2, load=7.5) == 1  # overloaded: still one
    assert auto_threads(current=4, cpu_count=16, load=2.0) == 4  # never above torch's choice
    assert auto_threads(current=8, cpu_count=8, load=3.4) == 5


def test_busy_cores_counts_other_processes_cpu_time_now():
    from sparsevae.cli.main import busy_cores, cpu_times

    # user nice system idle iowait irq softirq steal guest guest_nice
    assert cpu_times("cpu  100 0 50 800 50 0 0 0 30 0\ncpu0 1 2 3") == (150, 1000)
    # Over the interval 400 ticks passed on 2 cores, 300 of them busy: 1.5 cores busy.
    stats = iter(["cpu  100 0 0 900 0 0 0 0 0 0", "cpu  350 0 50 1000 0 0 0 0 0 0"])
    assert busy_cores(2, interval=0, read=lambda: next(stats)) == pytest.approx(1.5)


def test_threads_option_is_checked(capsys):
    import torch

    before = torch.get_num_threads()
    with pytest.raises(SystemExit):
        main(["--threads", "-1", "datasets", "list"])
    assert "expected auto or a number >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--threads", "many", "datasets", "list"])
    assert main(["--threads", "auto", "datasets", "list"]) == 0
    assert torch.get_num_threads() <= before  # auto never raises the thread count


def test_train_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    options = re.split(r"\n  (?=-)", text.split("\ndata:\n", 1)[1])
    undefaulted = [
        o.split()[0]
        for o in options
        if "default" not in o and o.split()[0] not in NO_DEFAULT and o.strip()
    ]
    assert not undefaulted
    assert re.search(r"--batch-size.*\(default 32\)", text, re.DOTALL)
    assert re.search(r"--dataset.*default: digits", text, re.DOTALL)


# Flags that switch something on or repeat, or name what has no default value.
NO_DEFAULT = {"--data-dir", "--dataset-option", "--offline", "--option", "--log", "--mlflow-uri"}
NO_DEFAULT |= {"--no-progress", "--quiet", "--verbose", "-q", "-v", "-q,"}


def test_no_progress_keeps_the_epoch_lines_quiet_drops_them_verbose_adds_schedules(
    tmp_path, capsys
):
    argv = ["train", "--model", "vsc", "--latent-dim", "4", "--hidden", "8", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "epoch 2/2  train: loss" in printed and "kl_weight" not in printed
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "epoch 1/2" not in out + err and "test metrics of vsc" in out
    assert main([*argv, "--out", str(tmp_path / "c"), "--no-progress", "--verbose"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch 2/2"))
    assert "kl_weight 1" in line and "sharpness" in line


def test_encode_writes_labels_beside_the_codes_and_the_mu_code(run_dir, tmp_path):
    codes, labels = tmp_path / "c.npy", tmp_path / "y.npy"
    argv = ["encode", str(run_dir), "--split", "all", "--out", str(codes)]
    assert main([*argv, "--labels", str(labels)]) == 0
    data = sparsevae.load_dataset("digits")
    expected = torch.cat([data.train_y, data.test_y]).numpy()
    assert np.array_equal(np.load(labels), expected) and len(np.load(codes)) == len(expected)
    mu = tmp_path / "mu.npy"
    assert main(["encode", str(run_dir), "--code", "mu", "--out", str(mu)]) == 0
    model = sparsevae.load(run_dir)
    assert np.allclose(np.load(mu), model.posterior(data.test_x).loc.detach().numpy(), atol=1e-5)
    assert not np.allclose(np.load(mu), model.encode(data.test_x).numpy())  # not the sparse code
