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

from ..data.base import check_label_shape
from ..errors import ConfigError, DataError

ALWAYS_ON = 0.99  # a latent active for at least this fraction of inputs is "always on"
RARE = 0.01  # below this fraction a used latent is "rarely" active (the 1 %–99 % criterion)
JACCARD_PAIRS = 10_000  # random pairs of examples the mean Jaccard similarity is estimated on


def sparsity(codes: torch.Tensor) -> dict[str, Any]:
    """Fraction of exactly-zero code elements, overall and per example (mean, min, max)."""
    zero = (codes == 0).float()
    per_example = zero.mean(1)
    active = active_element_counts(codes).float()
    return {
        "sparsity": float(zero.mean()),
        "sparsity_per_example_min": float(per_example.min()),
        "sparsity_per_example_max": float(per_example.max()),
        "active_elements_mean": float(active.mean()),
    }


def active_element_counts(codes: torch.Tensor) -> torch.Tensor:
    """Number of non-zero code elements of each example, ``(N,)`` integers."""
    return (codes != 0).sum(1)


def active_element_distribution(codes: torch.Tensor) -> dict[str, Any]:
    """How many elements each example's code uses: quantiles and the full histogram.

    ``active_elements_histogram[j]`` is the number of examples with exactly ``j`` non-zero elements
    (``j`` from 0 to ``latent_dim``).
    """
    counts = active_element_counts(codes)
    as_float = counts.float()
    quantiles = torch.quantile(as_float, torch.tensor([0.1, 0.5, 0.9]))
    return {
        "active_elements_std": float(as_float.std()) if len(counts) > 1 else 0.0,
        "active_elements_min": int(counts.min()),
        "active_elements_max": int(counts.max()),
        "active_elements_p10": float(quantiles[0]),
        "active_elements_median": float(quantiles[1]),
        "active_elements_p90": float(quantiles[2]),
        "active_elements_histogram": torch.bincount(counts, minlength=codes.shape[1] + 1).tolist(),
    }


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
    labels = torch.as_tensor(labels)
    check_label_shape(tuple(labels.shape), n, "codes")
    return labels.flatten()


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
    result.update(sparsity(active))
    result.update(active_element_distribution(active))
    result.update(_overlap(active, as_labels(labels, len(active)), pairs, seed))
    result["variance_explained"] = None if x is None else variance_explained(x, reconstructions)
    return result


#: A code whose always-on latents hold at least this share of the non-zeros mostly selects
#: dimensions, even when a few latents switch with the input.
DIMENSION_SELECTION_SHARE = 0.9


def usage_warning(summary: dict[str, Any], *, sparse: bool = True) -> str | None:
    """One line saying why a ``code_usage`` summary is not a working sparse code, or None.

    A dead code (every element 0 for every input) is always reported.  For a model meant to give a
    sparse code (``sparse=True``), so are a dense code (no element ever exactly 0) and dimension
    selection: no latent switches with the input, or the always-on latents hold at least
    ``DIMENSION_SELECTION_SHARE`` of the non-zeros.
    """
    latents, dead = summary["latent_dim"], summary["dead_latents"]
    if dead == latents:
        return (
            "the code is dead: every element is 0 for every input, so the reconstruction cannot "
            "depend on the input; weaken the sparsity pressure (e.g. a smaller l1 for sparse-ae, "
            "a larger alpha for vsc) or choose another code (--code)"
        )
    if not sparse:
        return None
    on, share = summary["always_on_latents"], summary["always_on_share_of_nonzeros"]
    if dead == 0 and on == latents:
        return (
            "the code is dense: every latent is non-zero for at least "
            f"{summary['always_on_threshold']:.0%} of inputs, so nothing is chosen per input"
        )
    if summary["input_dependent_latents"] == 0 or share >= DIMENSION_SELECTION_SHARE:
        return (
            f"the code mostly selects dimensions rather than coding each input sparsely: {on} of "
            f"{latents} latents are on for almost every input and hold {share:.0%} of the "
            f"non-zeros, {dead} are never on; topk-ae and vsc-threshold choose the active "
            "elements per input"
        )
    return None
