"""The papers' protocols as code: each experiment registers itself under a name for
``sparsevae reproduce NAME``.

One package per experiment (``protocol``: settings dataclass and runs; ``sweep``: train and score
one run; ``report``; ``cli``: flags → settings), on shared pieces: ``results`` (the store of rows,
atomic and resumable), ``runner`` (skip finished → train → score → append), ``cost`` (the expected
cost stated before a sweep), ``flags`` (the flags every experiment has), ``tables``.
"""

from .registry import EXPERIMENTS, Experiment, register_experiment
from .results import ResultsStore
from .runner import run_pending

__all__ = ["EXPERIMENTS", "Experiment", "ResultsStore", "register_experiment", "run_pending"]

# Experiment modules register on import; add yours to this list.
EXPERIMENT_MODULES: tuple[str, ...] = ("uai2019", "iclr2019", "llgae", "sparse_frontier")
