"""``sparsevae reproduce iclr2019``: the experiments of Variational Sparse Coding (ICLR 2019).

Sweeps the latent dimension J for the VAE and for VSC at several α (the prior probability that a
code element is active), on MNIST and Fashion-MNIST, with the paper's 784–400–J MLP, Bernoulli likelihood, Adam 1e-3, batch 32
and 11 epochs; then a sweep of α at J = 200 for the sparsity curve, for each of ``--seeds``.  At
the end (or with ``--report-only``) it writes one PNG per figure and ``report.md``, which sets the
figures beside the numbers published by the public PyTorch reimplementation.

``protocol`` (settings and runs), ``sweep`` (training and scoring, one results row per run),
``report`` (figures and Markdown), ``cli`` (the flags).  Output directory::

    OUT/sweep.json        the settings; a resumed sweep must use the same ones
    OUT/results.jsonl     one JSON row per finished run (the source of truth)
    OUT/results.csv       the same rows as a table
    OUT/runs/ID/          each run's directory (sparsevae.load(...) reads it)
    OUT/*.png, report.md  figures and report
"""

from ..cost import duration
from . import cli  # noqa: F401  (registers the experiment)
from .protocol import FULL, NAME, QUICK, RunSpec, SweepSettings
from .report import write_figures, write_report
from .sweep import evaluate_one, read_results, run_sweep, train_one

__all__ = [
    "FULL",
    "NAME",
    "QUICK",
    "RunSpec",
    "SweepSettings",
    "duration",
    "evaluate_one",
    "read_results",
    "run_sweep",
    "train_one",
    "write_figures",
    "write_report",
]
