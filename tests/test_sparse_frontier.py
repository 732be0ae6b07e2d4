"""``sparsevae reproduce sparse-frontier``: runs, scores, resume and the report."""

import json

import pytest

from sparsevae.cli.main import main
from sparsevae.errors import ConfigError
from sparsevae.experiments.sparse_frontier import FrontierSettings, points, target_table
from sparsevae.experiments.sparse_frontier.report import at_target, verdict

SMALL = ["--datasets", "digits", "--latent-dim", "8", "--targets", "2", "4", "--epochs", "1"]
SMALL += ["--train-limit", "300", "--probe-labels", "100", "--no-progress"]


def test_grids_follow_the_targets_and_the_knobs():
    settings = FrontierSettings(["mnist"], 200, [5, 10, 20], 1, 0, 100)
    assert settings.grid("topk-ae") == [5, 10, 20]
    assert settings.grid("vsc-threshold") == [0.025, 0.05, 0.1]
    assert settings.grid("pca") == [5, 10, 20]
    ids = [run.id for run in settings.runs()]
    assert "mnist-topk-ae-k10" in ids and "mnist-vsc-threshold-active_fraction0.05" in ids
    with pytest.raises(ConfigError, match="not in --models"):
        FrontierSettings(["mnist"], 200, [5], 1, 0, 100, models=("pca",), grids={"vsc": [0.1]})


def test_points_are_matched_to_targets_within_twenty_percent():
    pts = [{"series": "a", "nonzeros": n, "sse": 10 - n} for n in (4.1, 5.5, 9.0, 30.0)]
    assert at_target(pts, 5)["nonzeros"] == 5.5  # nearer than 4.1
    assert at_target(pts, 10)["nonzeros"] == 9.0
    assert at_target(pts, 20) is None
    table = target_table([*pts, {"series": "b", "nonzeros": 10.5, "sse": 0.5}], [10, 20])
    lines = verdict(table, [10, 20])
    assert lines == [
        "- 10 non-zeros: lowest SSE **b** (0.50).",
        "- 20 non-zeros: no run within ±20%.",
    ]


def test_sweep_scores_every_code_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "sf"
    argv = ["reproduce", "sparse-frontier", "--out", str(out), *SMALL]
    argv += ["--models", "topk-ae", "vsc", "dict-learning", "--grid", "vsc=0.5"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [
        "digits-topk-ae-k2",
        "digits-topk-ae-k4",
        "digits-vsc-alpha0.5",
        "digits-dict-learning-nonzeros2",
        "digits-dict-learning-nonzeros4",
    ]
    topk = rows[1]
    assert topk["nonzeros"] <= 4 and topk["sse"] > 0 and 0 <= topk["probe"] <= 1
    assert {"code_sparse-mean", "code_mean-active", "code_mean"} <= set(rows[2])
    assert rows[2]["code_mean"]["nonzeros"] == 8  # the dense μ
    assert (out / "runs" / "digits-vsc-alpha0.5" / "model.safetensors").is_file()
    report = (out / "report.md").read_text()
    assert "| topk-ae | k = 4 |" in report and "| vsc (μ where active) | alpha = 0.5 |" in report
    assert "Which model is best where" in report
    assert (out / "frontier_digits_sse.png").is_file()
    capsys.readouterr()
    assert main(argv) == 0  # everything is done: nothing is trained again
    assert "0 of 5 runs to do" in capsys.readouterr().out
    (out / "results.jsonl").write_text(  # as if scored by a version without the μ code
        "".join(json.dumps({k: v for k, v in r.items() if k != "code_mean"}) + "\n" for r in rows)
    )
    assert main([*argv, "--rescore"]) == 0
    rescored = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    latest = {r["id"]: r for r in rescored}
    assert latest["digits-vsc-alpha0.5"]["code_mean"] == rows[2]["code_mean"]
    assert latest["digits-topk-ae-k4"]["train_seconds"] == rows[1]["train_seconds"]
    assert len(points(rows)) == 2 + 4 + 2  # vsc: each of its four codes


def test_a_changed_setting_is_refused_in_the_same_output(tmp_path, capsys):
    out = tmp_path / "sf"
    base = ["reproduce", "sparse-frontier", "--out", str(out), *SMALL, "--models", "pca"]
    assert main(base) == 0
    assert main([*base, "--probe-labels", "50"]) == 2
    assert "made with probe_labels=100, not 50" in capsys.readouterr().err


def test_figures_plot_sparse_codes_only_and_log_ticks_stay_in_range(tmp_path, monkeypatch):
    from sparsevae.experiments.sparse_frontier import report
    from sparsevae.plots.curves import _log_ticks

    drawn = []
    monkeypatch.setattr(report, "plot_metric_vs", lambda rows, *a, **k: drawn.append(rows))
    base = {"dataset": "d", "sse": 1.0, "probe": 0.5, "active_1_to_99_percent_of_used": 1.0}
    pts = [
        {**base, "series": "a", "code": "default", "nonzeros": 5.0},
        {**base, "series": "vsc (dense μ)", "code": "mean", "nonzeros": 200.0},
        {**base, "series": "empty", "code": "mean-active", "nonzeros": 0.0},
    ]
    assert len(report.write_figures(pts, tmp_path, "d")) == 3
    assert all([p["series"] for p in rows] == ["a"] for rows in drawn)
    assert _log_ticks([3.7, 4.1, 16.5, 84.7], report.FIGURE_TICKS) == [5, 10, 20, 50, 100]
    assert _log_ticks([1.0, 1.1, 2.0, 10.0], None) == [1.0, 2.0, 10.0]


def test_stacked_runs_give_the_unstacked_scores(tmp_path, capsys, monkeypatch):
    """VSC's α and the L1 weight may differ within a stack: those runs are trained together
    (TopK's k may not: its runs train alone) and score as they do one at a time."""
    argv = [*SMALL, "--models", "vsc", "sparse-ae", "topk-ae", "--grid", "vsc=0.3,0.5"]
    argv += ["--grid", "sparse-ae=1,3"]
    from sparsevae.experiments import stacking

    stacks: list[int] = []

    class Counted(stacking.StackedTrainer):
        def __init__(self, models, *args, **kwargs):
            stacks.append(len(models))
            super().__init__(models, *args, **kwargs)

    monkeypatch.setattr(stacking, "StackedTrainer", Counted)
    rows = {}
    for stack in ("8", "1"):
        out = tmp_path / stack
        assert (
            main(["reproduce", "sparse-frontier", "--out", str(out), *argv, "--max-stack", stack])
            == 0
        )
        rows[stack] = [
            json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()
        ]
    capsys.readouterr()
    assert stacks == [2, 2]  # vsc α 0.3 and 0.5, sparse-ae l1 1 and 3; topk-ae k 2 and 4 alone
    assert [r["id"] for r in rows["8"]] == [r["id"] for r in rows["1"]]
    for stacked, alone in zip(rows["8"], rows["1"], strict=True):
        for key in ("nonzeros", "sse", "probe"):
            assert stacked[key] == pytest.approx(alone[key], abs=1e-3), (stacked["id"], key)
