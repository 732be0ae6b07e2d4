"""All the scalar disentanglement scores in one call."""

from __future__ import annotations

from typing import Any

from .correlation import correlation_matrix
from .importance import dci
from .information import mig
from .predictability import sap


def disentanglement_scores(
    codes: Any,
    factors: Any,
    *,
    n_bins: int = 20,
    dci_method: str | None = None,
    seed: int = 0,
    protocol: str = "sparsevae",
) -> dict[str, float]:
    """MIG, DCI (three), SAP and the correlation block purity under one ``protocol``."""
    d = dci(codes, factors, method=dci_method, seed=seed, protocol=protocol)
    return {
        "mig": mig(codes, factors, n_bins=n_bins, protocol=protocol)["mig"],
        "dci_disentanglement": d["disentanglement"],
        "dci_completeness": d["completeness"],
        "dci_informativeness": d["informativeness"],
        "sap": sap(codes, factors, seed=seed, protocol=protocol)["sap"],
        "block_purity": correlation_matrix(codes, factors)["block_purity"],
    }
