"""Disentanglement metrics on arrays: ``metric(codes (N, C), factors (N, F)) -> dict``.

* :func:`correlation_matrix` — the VSC paper's figure: |Pearson| between |source| and |code|, with
  the live latents grouped by the source they correlate with most.
* :func:`mig` — Mutual Information Gap (Chen et al. 2018).
* :func:`dci` — Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018).
* :func:`sap` — Separated Attribute Predictability (Kumar et al. 2018).
* :func:`disentanglement_scores` — the scalar scores together.

Two protocols (docs/evaluation.md sets them side by side): ``"sparsevae"`` (the default) and
``"disentanglement_lib"``, which reproduces that library's numbers on arrays (its models and
settings, the first 80 % of rows for training) so that a score can be set beside published ones.
Under both, a constant factor is skipped by every metric (NaN per factor, left out of the means,
listed in ``skipped_factors``), and a dead latent (constant over the rows) is counted in
``dead_latents`` and left out of the correlation figure and of sparsevae's DCI completeness.
"""

from .arrays import MAX_DISCRETE_VALUES, PROTOCOLS, discretize, histogram_bins, is_discrete
from .correlation import correlation_matrix
from .importance import DCI_METHODS, dci, dci_scores
from .information import mig
from .predictability import sap
from .scores import disentanglement_scores

__all__ = [
    "DCI_METHODS",
    "MAX_DISCRETE_VALUES",
    "PROTOCOLS",
    "correlation_matrix",
    "dci",
    "dci_scores",
    "discretize",
    "disentanglement_scores",
    "histogram_bins",
    "is_discrete",
    "mig",
    "sap",
]
