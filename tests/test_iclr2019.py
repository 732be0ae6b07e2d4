"""``reproduce iclr2019``: the sweep on a tiny grid, its table, report, and resuming."""

from __future__ import annotations

import csv
import json

import pytest

from sparsevae.cli.main import main
from sparsevae.errors import RunDirectoryError
from sparsevae.experiments.iclr2019 import (
    RunSpec,
    SweepSettings,
    read_results,
    run_sweep,
    train_one,
    write_report,
)
from sparsevae.experiments.iclr2019 import sweep as iclr2019_sweep
from sparsevae.experiments.iclr2019.report import settings_paragraph
from sparsevae.training import read_metrics


def tiny(**overrides) -> SweepSettings:
    values = {
        "datasets": ["digits"],
        "latent_dims": [3],
        "alphas": [0.2],
        "sparsity_alphas": [0.2, 0.5],
        "sparsity_dim": 3,
        "epochs": 1,
        "batch_size": 128,
        "hidden": 16,
        "probes": ("paper", "knn"),
        "probe_labels": 100,
        "device": "cpu",
    }
    values.update(overrides)
    return SweepSettings(**values)


def test_runs_cover_the_grid_once():
    ids = [spec.id for spec in tiny(latent_dims=[3, 5], sparsity_dim=5).runs()]
    assert ids == [
        "digits-vae-J3",
        "digits-vsc-a0.2-J3",
        "digits-vae-J5",
        "digits-vsc-a0.2-J5",
        "digits-vsc-a0.5-J5",  # α = 0.2 at J = 5 is already in the J sweep
    ]
    assert RunSpec("mnist", "vsc", 200, 0.01).label == "vsc α=0.01"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    rows = run_sweep(tiny(), out, progress=False)
    return out, rows


def test_sweep_writes_a_row_per_run_and_a_report(finished):
    out, rows = finished
    assert [r["id"] for r in rows] == [s.id for s in tiny().runs()]
    for row in rows:
        assert row["neg_elbo"] > 0 and 0.0 <= row["sparsity"] <= 1.0
        assert 0.0 <= row["acc_sparse_paper"] <= 1.0 and 0.0 <= row["acc_mu_knn"] <= 1.0
        assert (out / "runs" / row["id"] / "model.safetensors").is_file()
    vae, vsc = rows[0], rows[1]
    assert vae["sparsity"] == 0.0 and vae["acc_mu_paper"] == vae["acc_sparse_paper"]
    assert "neg_elbo_relaxed_c50" not in vae and vsc["neg_elbo_relaxed_c50"] > 0
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    report = write_report(rows, tiny(), out)
    text = report.read_text()
    for name in ("neg_elbo_vs_J_digits.png", "accuracy_vs_J_digits.png", "sparsity_vs_alpha.png"):
        assert (out / name).stat().st_size > 1000
        assert f"]({name})" in text
    assert "3 of 3 runs finished." in text
    extra = [*rows, dict(rows[0], id=rows[0]["id"] + "-s1", seed=1)]
    assert "3 of 3 runs finished (and 1 outside this grid)" in settings_paragraph(extra, tiny())


def test_report_sets_ours_beside_the_published_numbers(finished, tmp_path):
    _, rows = finished
    mnist_rows = [dict(r, dataset="mnist") for r in rows]
    text = write_report(mnist_rows, tiny(datasets=["mnist"]), tmp_path).read_text()
    assert "133.86" in text and "91.78" in text  # the published VSC α=0.01, J=200 numbers
    assert "| 200 |" in text and "relaxed c=50" in text


def test_finished_runs_are_skipped(finished, monkeypatch):
    out, rows = finished
    monkeypatch.setattr(
        iclr2019_sweep, "train_one", lambda *a, **k: pytest.fail("a finished run was trained again")
    )
    assert run_sweep(tiny(), out, progress=False) == rows


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path, monkeypatch):
    real_train = iclr2019_sweep.train_one
    trained: list[str] = []

    def interrupt_third(spec, *args, **kwargs):
        if len(trained) == 2:
            raise KeyboardInterrupt
        trained.append(spec.id)
        return real_train(spec, *args, **kwargs)

    monkeypatch.setattr(iclr2019_sweep, "train_one", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tiny(), tmp_path, progress=False, max_stack=1)  # stacked: the next test
    first = read_results(tmp_path)
    assert [r["id"] for r in first] == trained
    # a run killed while its row was being written leaves a torn line; it must be ignored
    with (tmp_path / "results.jsonl").open("a") as f:
        f.write('{"id": "digits-vsc-a0.5-J3", "neg_el')

    def count(spec, *args, **kwargs):
        trained.append(spec.id)
        return real_train(spec, *args, **kwargs)

    monkeypatch.setattr(iclr2019_sweep, "train_one", count)
    rows = run_sweep(tiny(), tmp_path, progress=False, max_stack=1)
    assert trained[2:] == [s.id for s in tiny().runs()][2:]  # only the missing runs
    assert rows[:2] == first
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3


METRICS = ("neg_elbo", "recon", "kl", "sparsity", "acc_sparse_paper", "acc_mu_knn")


def same_table(rows, other) -> None:
    """Equal rows up to the float rounding by which stacked and solo weights differ."""
    assert [r["id"] for r in rows] == [r["id"] for r in other]
    for row, again in zip(rows, other, strict=True):
        assert [again[k] for k in METRICS] == pytest.approx([row[k] for k in METRICS], abs=1e-3)


def test_stacked_sweep_gives_the_unstacked_table(finished, tmp_path):
    """The fixture's sweep stacked its two VSC runs of J = 3 (the default --max-stack)."""
    _, stacked = finished
    same_table(stacked, run_sweep(tiny(), tmp_path, progress=False, max_stack=1))


def test_an_interrupted_stack_resumes_in_the_sweep(finished, tmp_path, monkeypatch):
    from sparsevae.training import StackedTrainer, TrainingInterrupted

    step, calls = StackedTrainer.step, []

    def ctrl_c_on_the_fifth(self, *args):
        calls.append(1)
        if len(calls) == 5:
            self._ctrl_c.requested = True
        return step(self, *args)

    monkeypatch.setattr(StackedTrainer, "step", ctrl_c_on_the_fifth)
    with pytest.raises(TrainingInterrupted):
        run_sweep(tiny(epochs=2), tmp_path, progress=False)
    assert [r["id"] for r in read_results(tmp_path)] == ["digits-vae-J3"]
    monkeypatch.setattr(StackedTrainer, "step", step)
    rows = run_sweep(tiny(epochs=2), tmp_path, progress=False)
    for spec_id in ("digits-vsc-a0.2-J3", "digits-vsc-a0.5-J3"):
        assert [r["epoch"] for r in read_metrics(tmp_path / "runs" / spec_id)] == [1, 2]
    same_table(rows, run_sweep(tiny(epochs=2), tmp_path / "again", progress=False, max_stack=1))


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    from sparsevae.data import load_dataset

    data = load_dataset("digits")
    spec = RunSpec("digits", "vsc", 4, 0.2)
    run_dir = tmp_path / spec.id
    info = {"name": "digits", "options": {}}
    train_one(spec, data, tiny(epochs=1), run_dir, info)
    first_epoch = read_metrics(run_dir)
    train_one(spec, data, tiny(epochs=2), run_dir, info)  # as if the 2-epoch run had stopped
    history = read_metrics(run_dir)
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[0] == first_epoch[0]  # epoch 1 was not trained again


def test_changed_settings_are_refused(finished):
    out, _ = finished
    with pytest.raises(RunDirectoryError, match="epochs=1"):
        run_sweep(tiny(epochs=3), out, progress=False)


def test_cli_quick_flags_and_report_only(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["reproduce", "iclr2019", "--out", str(out), "--datasets", "digits", "--quick"]
    argv += ["--latent-dims", "3", "--alphas", "0.2", "--sparsity-alphas", "0.2"]
    argv += ["--sparsity-dim", "3", "--hidden", "8", "--probes", "knn", "--no-progress"]
    assert main(argv) == 0
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["epochs"] == 1 and saved["train_limit"] == 5000  # from --quick
    assert saved["probes"] == ["knn"]
    assert len(read_results(out)) == 2
    assert main(["reproduce", "iclr2019", "--out", str(out), "--report-only", "--quick"]) == 0
    assert "report" in capsys.readouterr().out
    empty = tmp_path / "empty"
    assert main(["reproduce", "iclr2019", "--out", str(empty), "--report-only"]) == 2
    assert main(["reproduce", "iclr2019", "--out", str(empty), "--alphas", "1.5"]) == 2
    assert "α" in capsys.readouterr().err


def test_seeds_repeat_the_grid_and_the_report_averages_them(finished, tmp_path):
    ids = [spec.id for spec in tiny(seeds=(0, 2)).runs()]
    assert ids[:3] == ["digits-vae-J3", "digits-vsc-a0.2-J3", "digits-vsc-a0.5-J3"]
    assert ids[3:] == ["digits-vae-J3-s2", "digits-vsc-a0.2-J3-s2", "digits-vsc-a0.5-J3-s2"]
    _, rows = finished
    vae = dict(rows[0], dataset="mnist", latent_dim=200, neg_elbo=100.0)
    again = dict(vae, id="mnist-vae-J200-s1", seed=1, neg_elbo=104.0)
    settings = tiny(datasets=["mnist"], latent_dims=[200], seeds=(0, 1))
    text = write_report([vae, again], settings, tmp_path).read_text()
    assert "| 200 | 102.00 | 106.28 |" in text  # the mean of the two seeds beside the published
    assert "seeds 0, 1" in text


def test_a_sweep_of_an_older_version_with_another_seed_is_refused(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"seed": 3, "epochs": 1}))
    with pytest.raises(RunDirectoryError, match="seed=3"):
        run_sweep(tiny(), tmp_path, progress=False)


def test_report_durations_read_in_sensible_units():
    from sparsevae.experiments.iclr2019 import duration

    assert (duration(42), duration(210), duration(3 * 3600 + 720)) == ("42 s", "3.5 min", "3.2 h")


def test_the_data_sets_follow_from_named_data_dirs(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "sweep"
    argv = ["reproduce", "iclr2019", "--out", str(out), "--quick", "--latent-dims", "3"]
    argv += ["--sparsity-alphas", "0.5", "--sparsity-dim", "3", "--hidden", "8"]
    argv += ["--probes", "knn", "--probe-labels", "20", "--no-progress"]
    assert main([*argv, "--data-dir", f"fashion-mnist={tiny_mnist}"]) == 0  # no MNIST download
    rows = read_results(out)
    assert {r["dataset"] for r in rows} == {"fashion-mnist"}
    argv[3] = str(tmp_path / "other")
    assert main([*argv, "--data-dir", f"fashion-mnist={tiny_mnist}", "--datasets", "mnist"]) == 2
    assert (
        "--data-dir names fashion-mnist, which --datasets mnist leaves out"
        in capsys.readouterr().err
    )


def test_the_main_table_shows_the_alpha_the_sweep_ran(finished, tmp_path):
    _, rows = finished  # J = 3, VSC at α = 0.2 only (like --quick)
    text = write_report(rows, tiny(), tmp_path).read_text()
    main_table = text.split("## digits")[1].split("![")[0]
    assert "VSC α=.2 −ELBO exact" in main_table and "published α=.01" in main_table
    vsc = next(r for r in rows if r["model"] == "vsc α=0.2" and r["latent_dim"] == 3)
    row = next(line for line in main_table.splitlines() if line.startswith("| 3 |"))
    assert f"{vsc['neg_elbo']:.2f}" in row
