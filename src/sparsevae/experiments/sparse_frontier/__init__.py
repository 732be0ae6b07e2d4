"""``sparsevae reproduce sparse-frontier``: which sparse model gives the best code at 5, 10 and
20 non-zeros per example — reconstruction error and a linear probe, against PCA, dictionary
learning with OMP and TopK, with the code-usage diagnostics of every run.

``protocol`` (settings, runs, knobs), ``sweep`` (training and scoring, one results row per run),
``report`` (table at the targets, figures, verdict), ``cli`` (the flags).  Output directory::

    OUT/sweep.json        the settings; a resumed sweep must use the same ones
    OUT/results.jsonl     one JSON row per finished run (the source of truth)
    OUT/results.csv       the same rows as a table
    OUT/runs/ID/          each run's directory (sparsevae.load(...) reads it)
    OUT/*.png, report.md  figures and report
"""

from . import cli  # noqa: F401  (registers the experiment)
from .protocol import FULL, KNOBS, NAME, QUICK, FrontierSettings, RunSpec
from .report import points, target_table, write_report
from .sweep import run_frontier, score_run

__all__ = [
    "FULL",
    "KNOBS",
    "NAME",
    "QUICK",
    "FrontierSettings",
    "RunSpec",
    "points",
    "run_frontier",
    "score_run",
    "target_table",
    "write_report",
]
