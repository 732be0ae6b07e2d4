"""Code usage: does a code choose a few elements *per input* (sparse coding), or switch the same
latents off for every input (dimension selection)?

A code element is *active* when it is non-zero.  From the activity of a code matrix ``(N, J)`` this
module measures how often each latent is active, splits the latents into dead (never active),
always-on (active for at least ``always_on`` of the inputs) and input-dependent (in between), and
measures how much the active sets of two inputs overlap (Jaccard similarity).  A sparse code in the
sense of Olshausen & Field has many input-dependent latents and a low overlap; dimension selection
has none and an overlap of 1.  See docs/evaluation.md, "Code usage: is it sparse coding?".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .metrics import active_element_distribution, sparsity

ALWAYS_ON = 0.99  # a latent active for at least this fraction of inputs is "always on"
RARE = 0.01  # below this fraction a used latent is "rarely" active (the 1 %–99 % criterion)
JACCARD_PAIRS = 10_000  # random pairs of examples the mean Jaccard similarity is estimated on


def active_matrix(codes: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``codes != 0`` as a boolean ``(N, J)`` tensor, after checking the shape and values."""
    codes = torch.as_tensor(codes)
    if codes.dim() != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
        raise DataError(f"codes must be a non-empty (examples, latents) matrix, got {codes.shape}")
    if codes.is_floating_point() and not bool(torch.isfinite(codes).all()):
        raise DataError("codes contain NaN or infinite values")
    return codes != 0


def latent_frequency(active: torch.Tensor) -> torch.Tensor:
    """Fraction of examples on which each latent is active, ``(J,)`` float64."""
    return active.double().mean(0)


def latent_classes(frequency: torch.Tensor, always_on: float, rare: float) -> dict[str, Any]:
    """Dead / always-on / input-dependent counts and fractions, and the 1 %–99 % criterion."""
    latents = len(frequency)
    dead = int((frequency == 0).sum())
    on = int((frequency >= always_on).sum())
    dependent = latents - dead - on
    moderate = int(((frequency >= rare) & (frequency < always_on)).sum())
    used = latents - dead
    total = float(frequency.sum())  # non-zeros per example, on average
    return {
        "dead_latents": dead,
        "always_on_latents": on,
        "input_dependent_latents": dependent,
        "active_1_to_99_percent_latents": moderate,
        "dead_fraction": dead / latents,
        "always_on_fraction": on / latents,
        "input_dependent_fraction": dependent / latents,
        # Of the latents the code uses at all; None when every latent is dead.
        "input_dependent_fraction_of_used": dependent / used if used else None,
        "active_1_to_99_percent_of_used": moderate / used if used else None,
        # Near 1 for dimension selection: the non-zeros sit in latents every input uses.
        "always_on_share_of_nonzeros": (
            float(frequency[frequency >= always_on].sum()) / total if total else None
        ),
    }


def _nonzeros_per_example(active: torch.Tensor) -> dict[str, Any]:
    """Mean, std, min, p10, median, p90, max and histogram of the non-zeros per example."""
    summary = active_element_distribution(active)
    used = np.flatnonzero(summary["active_elements_histogram"])
    summary["active_elements_mean"] = sparsity(active)["active_elements_mean"]
    summary["active_elements_min"] = int(used[0])
    summary["active_elements_max"] = int(used[-1])
    return summary


def _jaccard(active: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> float | None:
    """Mean Jaccard similarity |A ∩ B| / |A ∪ B| of the pairs' active sets, J(∅, ∅) = 1."""
    if len(first) == 0:
        return None
    a, b = active[first], active[second]
    inter = (a & b).sum(1).double()
    union = (a | b).sum(1).double()
    similarity = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    return float(similarity.mean())


def random_pairs(
    n: int, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pairs ``(i, j)`` of distinct examples, each drawn uniformly (with replacement)."""
    if n < 2:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    first = torch.randint(n, (count,), generator=generator)
    second = torch.randint(n - 1, (count,), generator=generator)
    return first, second + (second >= first)  # skip i itself


def class_pairs(
    labels: torch.Tensor, count: int, generator: torch.Generator, *, same: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pairs of distinct examples of the same class (``same``) or of different classes:
    i uniform over the examples that have a partner, j uniform over i's possible partners."""
    order = torch.argsort(labels, stable=True)
    _, sizes = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(sizes, 0) - sizes
    size = torch.repeat_interleave(sizes, sizes)  # class size at each sorted position
    start = torch.repeat_interleave(starts, sizes)
    partners = size - 1 if same else len(labels) - size
    eligible = torch.nonzero(partners > 0).flatten()
    if len(eligible) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    i = eligible[torch.randint(len(eligible), (count,), generator=generator)]
    offset = (torch.rand(count, generator=generator, dtype=torch.float64) * partners[i]).long()
    offset = torch.minimum(offset, partners[i] - 1)  # guard against rand() rounding up to 1
    if same:  # j runs over the class, skipping i
        j = start[i] + offset + (start[i] + offset >= i)
    else:  # j runs over the other classes, skipping i's block of the sorted order
        j = offset + size[i] * (offset >= start[i])
    return order[i], order[j]


def _overlap(
    active: torch.Tensor, labels: torch.Tensor | None, pairs: int, seed: int
) -> dict[str, Any]:
    """Mean Jaccard of random pairs, and within / across classes where labels are given."""
    generator = torch.Generator().manual_seed(seed)
    result: dict[str, Any] = {
        "jaccard_pairs": pairs,
        "jaccard_mean": _jaccard(active, *random_pairs(len(active), pairs, generator)),
        "jaccard_within_class": None,
        "jaccard_across_class": None,
    }
    if labels is not None:
        for key, same in (("jaccard_within_class", True), ("jaccard_across_class", False)):
            result[key] = _jaccard(active, *class_pairs(labels, pairs, generator, same=same))
    return result


def variance_explained(
    x: torch.Tensor | np.ndarray, reconstructions: torch.Tensor | np.ndarray
) -> float | None:
    """1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the mean example); None when x does not vary."""
    x = torch.as_tensor(x).double().flatten(1)
    recon = torch.as_tensor(reconstructions).double().flatten(1)
    if x.shape != recon.shape:
        raise DataError(
            f"x {tuple(x.shape)} and reconstructions {tuple(recon.shape)} differ in shape"
        )
    total = float(((x - x.mean(0)) ** 2).sum())
    if total == 0:
        return None
    return 1.0 - float(((x - recon) ** 2).sum()) / total


def _check_options(always_on: float, rare: float, pairs: int) -> None:
    if not 0 < rare < always_on <= 1:
        raise ConfigError(f"need 0 < rare < always_on <= 1, got rare={rare}, always_on={always_on}")
    if pairs < 1:
        raise ConfigError(f"pairs must be >= 1, got {pairs}")


def as_labels(labels: torch.Tensor | np.ndarray | None, n: int) -> torch.Tensor | None:
    """``labels`` as a flat tensor of ``n`` entries (None stays None)."""
    if labels is None:
        return None
    labels = torch.as_tensor(labels).flatten()
    if len(labels) != n:
        raise DataError(f"{len(labels)} labels for {n} codes")
    return labels


def code_usage(
    codes: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    *,
    x: torch.Tensor | np.ndarray | None = None,
    reconstructions: torch.Tensor | np.ndarray | None = None,
    always_on: float = ALWAYS_ON,
    rare: float = RARE,
    pairs: int = JACCARD_PAIRS,
    seed: int = 0,
) -> dict[str, Any]:
    """How a code ``(N, J)`` uses its latents; an element is active when it is non-zero.

    Keys: ``latent_frequency`` (per latent, the fraction of examples it is active on); counts and
    fractions of ``dead`` / ``always_on`` / ``input_dependent`` latents and, of the used (non-dead)
    ones, the fraction input-dependent and the fraction active on ``rare`` to ``always_on`` of the
    examples; the share of all non-zero elements that lie in always-on latents; ``active_elements_*`` (non-zeros per example); ``jaccard_*`` (mean overlap of the
    active sets of ``pairs`` seeded random pairs of distinct examples, within and across classes
    where ``labels`` are given; two empty sets count as identical); ``variance_explained`` when
    ``x`` and ``reconstructions`` are given.  Every value is JSON-serialisable.
    """
    _check_options(always_on, rare, pairs)
    if (x is None) != (reconstructions is None):
        raise ConfigError("variance explained needs both x and reconstructions")
    active = active_matrix(codes)
    frequency = latent_frequency(active)
    result: dict[str, Any] = {
        "n_examples": int(active.shape[0]),
        "latent_dim": int(active.shape[1]),
        "always_on_threshold": always_on,
        "rare_threshold": rare,
        "latent_frequency": frequency.tolist(),
    }
    result.update(latent_classes(frequency, always_on, rare))
    result.update(_nonzeros_per_example(active))
    result.update(_overlap(active, as_labels(labels, len(active)), pairs, seed))
    result["variance_explained"] = None if x is None else variance_explained(x, reconstructions)
    return result


def usage_warning(summary: dict[str, Any]) -> str | None:
    """One line saying why a ``code_usage`` summary is not a sparse code, or None when it may be."""
    latents, dead = summary["latent_dim"], summary["dead_latents"]
    if dead == latents:
        return (
            "the code is dead: every element is 0 for every input, so the reconstruction cannot "
            "depend on the input; try a weaker sparsity pressure (a smaller l1 for an L1 "
            "autoencoder, a larger alpha for VSC)"
        )
    if summary["input_dependent_latents"] > 0:
        return None
    share = f"{summary['always_on_threshold']:.0%}"
    if dead == 0:
        return (
            f"the code is dense: every latent is non-zero for at least {share} of inputs, so "
            "nothing is selected per input (small values are not zeros); expected of a VAE, not "
            "of a sparse model"
        )
    return (
        f"no latent depends on the input: {latents - dead} of {latents} latents are on for at "
        f"least {share} of inputs and {dead} never - a global choice of dimensions (a "
        "smaller dense code), not a sparse code; try a stronger sparsity pressure (a larger l1, "
        "a smaller alpha for VSC) so that each input can afford only the latents it needs"
    )
