"""The papers' protocols as code: each experiment registers itself under a name for
``sparsevae reproduce NAME``."""

from .registry import EXPERIMENTS, Experiment, register_experiment

__all__ = ["EXPERIMENTS", "Experiment", "register_experiment"]

# Experiment modules register on import; add yours to this list.
EXPERIMENT_MODULES: tuple[str, ...] = ("uai2019", "iclr2019", "llgae")
