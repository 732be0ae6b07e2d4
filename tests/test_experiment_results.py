"""The experiments' shared pieces: the results store, the sweep loop, cost, flags, data records."""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import dataclass

import pytest

from sparsevae.cli.main import build_parser, main
from sparsevae.data import data_record, load_dataset
from sparsevae.errors import ConfigError, RunDirectoryError
from sparsevae.experiments import EXPERIMENTS
from sparsevae.experiments.cost import cost_statement, duration
from sparsevae.experiments.flags import preset_values
from sparsevae.experiments.results import ResultsStore, flatten
from sparsevae.experiments.runner import Shard, run_pending
from sparsevae.experiments.tables import mean_over_seeds


@dataclass(frozen=True)
class Spec:
    id: str


SPECS = [Spec("a"), Spec("b"), Spec("c")]


def lines(path) -> list[str]:
    return path.read_text().splitlines()


# -- the store -------------------------------------------------------------------------------------
def test_rows_are_appended_one_line_each_and_tables_follow(tmp_path):
    store = ResultsStore(tmp_path / "out", columns=["id", "score"], json_table=True)
    store.append({"id": "a", "score": 1.5, "extra": [1, 2]})
    store.append({"id": "b", "score": None})
    assert [json.loads(line)["id"] for line in lines(store.rows_path)] == ["a", "b"]
    assert store.rows() == [{"id": "a", "score": 1.5, "extra": [1, 2]}, {"id": "b", "score": None}]
    with (store.out / "results.csv").open() as f:
        assert list(csv.DictReader(f)) == [{"id": "a", "score": "1.5"}, {"id": "b", "score": ""}]
    assert json.loads((store.out / "results.json").read_text()) == store.rows()
    with pytest.raises(ValueError, match="'id'"):
        store.append({"score": 2})


def test_a_torn_last_line_is_skipped_and_does_not_swallow_the_next_row(tmp_path):
    store = ResultsStore(tmp_path)
    store.append({"id": "a"})
    with store.rows_path.open("a") as f:  # killed while writing b's row
        f.write('{"id": "b", "sco')
    assert store.rows() == [{"id": "a"}] and store.finished() == {"a"}
    store.append({"id": "c"})
    assert [row["id"] for row in store.rows()] == ["a", "c"]
    assert lines(store.rows_path)[-1] == '{"id": "c"}'


def test_a_later_row_replaces_the_earlier_in_place(tmp_path):
    store = ResultsStore(tmp_path)
    for row in ({"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "a", "v": 3}):
        store.append(row)
    assert store.rows() == [{"id": "a", "v": 3}, {"id": "b", "v": 2}]
    assert len(lines(store.rows_path)) == 3  # appended, never rewritten


def test_a_failed_table_rewrite_leaves_the_previous_table(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    store.append({"id": "a"})
    before = (tmp_path / "results.csv").read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.append({"id": "b"})
    assert (tmp_path / "results.csv").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    assert store.finished() == {"a", "b"}  # the row itself was written first


def test_nested_fields_become_flat_columns():
    assert flatten({"id": "x", "test": {"mig": 0.1, "dci": {"d": 2}}}) == {
        "id": "x",
        "test_mig": 0.1,
        "test_dci_d": 2,
    }


def test_settings_that_change_results_cannot_change_in_one_out(tmp_path):
    store = ResultsStore(tmp_path)
    store.check_settings({"epochs": 2, "grid": [1], "probes": ("a",)}, pinned=["epochs", "probes"])
    store.check_settings(
        {"epochs": 2, "grid": [1, 2], "probes": ("a",)}, pinned=["epochs", "probes"]
    )
    assert store.saved_settings() == {"epochs": 2, "grid": [1, 2], "probes": ["a"]}
    with pytest.raises(RunDirectoryError, match="epochs=2, not 3"):
        store.check_settings({"epochs": 3, "grid": [1]}, pinned=["epochs"])
    assert store.saved_settings()["epochs"] == 2  # the refused settings were not recorded
    store.settings_path.write_text("{not json")
    with pytest.raises(RunDirectoryError, match="unreadable"):
        store.check_settings({"epochs": 2}, pinned=["epochs"])


def test_results_of_an_older_layout_are_not_overwritten(tmp_path):
    (tmp_path / "runs" / "pca").mkdir(parents=True)
    (tmp_path / "runs" / "pca" / "result.json").write_text("{}")
    with pytest.raises(RunDirectoryError, match="older sparsevae"):
        ResultsStore(tmp_path).refuse_unrecorded("runs/*/result.json")
    ResultsStore(tmp_path / "new").refuse_unrecorded("runs/*/result.json")  # nothing there: fine
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirectoryError, match="not a directory"):
        ResultsStore(tmp_path / "file")


# -- the loop --------------------------------------------------------------------------------------
def test_an_interrupted_sweep_resumes_with_the_missing_runs_only(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    trained: list[str] = []

    def train(spec: Spec) -> dict:
        if spec.id == "b" and "b" not in trained:
            trained.append("b")
            raise KeyboardInterrupt
        trained.append(spec.id)
        return {"score": len(trained), "seconds": 10.0}

    with pytest.raises(KeyboardInterrupt):
        run_pending("demo", SPECS, store, train, progress=False)
    assert store.finished() == {"a"}
    rows = run_pending("demo", SPECS, store, train, estimate=lambda s: 5.0, progress=False)
    assert trained == ["a", "b", "b", "c"]
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    # a finished run took 10 s against an estimate of 5 s: the 2 left take about 2 × 10 s
    assert (
        "2 of 3 runs to do (1 finished before); expected cost about 20 s" in capsys.readouterr().out
    )
    assert run_pending("demo", SPECS, store, lambda s: pytest.fail(s.id), progress=False) == rows


def test_redo_runs_the_named_runs_again_and_replaces_their_rows(tmp_path):
    store = ResultsStore(tmp_path, key="row")
    run_pending("demo", SPECS, store, lambda s: {"v": 1}, progress=False)
    rows = run_pending("demo", SPECS, store, lambda s: {"v": 2}, redo={"b"}, progress=False)
    assert [(r["row"], r["v"]) for r in rows] == [("a", 1), ("b", 2), ("c", 1)]
    rows = run_pending("demo", SPECS, store, lambda s: {"v": 3}, redo=True, progress=False)
    assert [r["v"] for r in rows] == [3, 3, 3]
    assert all(isinstance(r["seconds"], float) for r in rows)  # measured by the loop


def test_cost_statement_without_finished_runs_uses_the_cpu_rate():
    text = cost_statement("demo", SPECS, SPECS, [], lambda s: 1800.0)
    assert text == (
        "demo: 3 of 3 runs to do; expected cost about 1.5 h "
        "(on one CPU thread, a rough estimate; less on a GPU)"
    )
    assert cost_statement("demo", SPECS, [], [], lambda s: 1.0) == (
        "demo: 0 of 3 runs to do (3 finished before)"
    )
    assert [duration(s) for s in (42, 210, 3 * 3600 + 720, 5 * 86400)] == [
        "42 s",
        "3.5 min",
        "3.2 h",
        "5.0 days",
    ]


def test_mean_over_seeds_averages_numbers_and_counts_the_seeds():
    rows = [
        {"model": "vae", "J": 8, "seed": 0, "elbo": 100.0, "note": "x", "alpha": None},
        {"model": "vae", "J": 8, "seed": 1, "elbo": 102.0, "note": "y", "alpha": None},
        {"model": "vae", "J": 16, "seed": 0, "elbo": 90.0, "note": "z", "alpha": None},
    ]
    means = mean_over_seeds(rows, by=("model", "J"))
    assert [(m["J"], m["elbo"], m["seeds"], m["note"]) for m in means] == [
        (8, 101.0, 2, "x"),
        (16, 90.0, 1, "z"),
    ]
    assert means[0]["elbo_std"] == pytest.approx(2**0.5) and "elbo_std" not in means[1]


# -- the run's data record, the shared flags ------------------------------------------------------
def test_data_record_keeps_what_rebuilds_the_data(tmp_path):
    data = load_dataset("digits")
    record = data_record("digits", data, data_dir=tmp_path, options={"n": 1})
    assert record == {
        "name": "digits",
        "data_dir": str(tmp_path),
        "options": {"n": 1},
        "info": data.info,
    }
    data.info["options"] = {"scaling": "x"}
    assert data_record("digits", data)["options"] == {"scaling": "x"}
    assert data_record("digits", data)["data_dir"] is None


@pytest.mark.parametrize("name", ["iclr2019", "llgae", "uai2019-smiley"])
def test_every_experiment_has_the_shared_flags(name, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", name, "--help"])
    usage = capsys.readouterr().out
    for flag in ("--out", "--quick", "--device", "--seed", "--no-progress", "--progress"):
        assert f"[{flag}" in usage or f" {flag} " in usage, flag
    several = EXPERIMENTS[name].several_seeds
    assert ("--seeds" in usage) == several
    args = build_parser().parse_args(["reproduce", name, "--out", "x", "--seed", "3"])
    assert (
        (args.seeds, args.device, args.quick) == ([3], "auto", False) if several else args.seed == 3
    )


def test_quick_fills_only_the_flags_not_given():
    args = argparse.Namespace(quick=True, epochs=None, lr=0.5, hidden=None)
    full, quick = {"epochs": 11, "lr": 1e-3, "hidden": 400}, {"epochs": 1, "lr": 1e-2}
    assert preset_values(args, full, quick) == {"epochs": 1, "lr": 0.5, "hidden": 400}
    args.quick = False
    assert preset_values(args, full, quick) == {"epochs": 11, "lr": 0.5, "hidden": 400}


def test_llgae_refuses_to_mix_settings_in_one_out(tmp_path, capsys):
    argv = ["reproduce", "llgae", "--dataset", "digits", "--out", str(tmp_path), "--rows", "pca"]
    assert main([*argv, "--component-dim", "4", "--no-progress"]) == 0
    assert "llgae: 1 of 1 runs to do; expected cost about" in capsys.readouterr().out
    assert main([*argv, "--component-dim", "5", "--no-progress"]) == 2
    assert "component_dim=4, not 5" in capsys.readouterr().err


# -- shards ----------------------------------------------------------------------------------------
def test_shards_train_every_run_once_into_one_store(tmp_path, capsys):
    specs = [Spec(name) for name in "abcdefg"]
    trained: dict[str, list[str]] = {}
    for index in (1, 2, 3):
        shard = Shard(index, 3)
        trained[f"{index}/3"] = []

        def train(spec, into=trained[f"{index}/3"]):
            into.append(spec.id)
            return {"value": 1}

        run_pending("demo", specs, ResultsStore(tmp_path), train, progress=False, shard=shard)
    assert trained == {"1/3": ["a", "d", "g"], "2/3": ["b", "e"], "3/3": ["c", "f"]}
    assert ResultsStore(tmp_path).finished() == set("abcdefg")
    assert "demo (shard 3/3)" in capsys.readouterr().out


def test_a_shard_is_parsed_from_the_flag_or_the_torchrun_world():
    assert Shard.parse("2/4") == Shard(2, 4)
    assert Shard.from_environment({"RANK": "0", "WORLD_SIZE": "2"}) == Shard(1, 2)
    assert Shard.from_environment({}) is None
    for text in ("0/2", "3/2", "two/4", "2"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(text)


def test_the_shard_flag_reaches_the_sweep(tmp_path, capsys):
    code = main(["reproduce", "iclr2019", "--quick", "--shard", "5/2", "--out", str(tmp_path)])
    assert code != 0
    assert "--shard I/N needs 1 ≤ I ≤ N, got 5/2" in capsys.readouterr().err
