"""Controlled generation with a trained model: traversals, turning features on and off, and
samples that share attributes with a given input.

    >>> from sparsevae.generation import traverse, set_features, shared_attribute_samples
    >>> grid = traverse(model, x[0], dims=[3, 7], values=torch.linspace(-3, 3, 9))  # doctest: +SKIP
    >>> off = set_features(model, x[:4], {3: 0.0})        # turn latent 3 off     # doctest: +SKIP
    >>> same = shared_attribute_samples(model, x[0], 16)  # keep x's active set   # doctest: +SKIP

Codes come from ``model.encode`` (for VSC: γ·μ with the inactive elements exactly zero), so a
feature is "on" where its code element is non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .batching import eval_mode
from .distributions import SpikeSlab
from .errors import ConfigError, DataError
from .models import SparseVAEModel

SHARED_MODES = ("active-set", "prior-component")


def _as_batch(model: SparseVAEModel, x: torch.Tensor) -> torch.Tensor:
    """``x`` as a batch ``(N, *input_shape)`` on the model's device; one example gets N = 1."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if tuple(x.shape) == tuple(model.input_shape):
        x = x.unsqueeze(0)
    if tuple(x.shape[1:]) != tuple(model.input_shape):
        raise DataError(
            f"input has shape {tuple(x.shape)}, the model expects {tuple(model.input_shape)}"
        )
    return x.to(model.device)


def _check_dims(latent_dim: int, dims: Sequence[int]) -> list[int]:
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad:
        raise ConfigError(f"latent dimensions must be in [0, {latent_dim}), got {bad}")
    return dims


def _unconditional(model: SparseVAEModel) -> None:
    if model.num_classes:
        raise ConfigError(f"controlled generation needs an unconditional model, not {model.kind!r}")


def traverse(
    model: SparseVAEModel,
    x: torch.Tensor,
    dims: Sequence[int],
    values: Sequence[float] | torch.Tensor,
    y: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode ``x``'s code with dimension d set to each value, for each d in ``dims``.

    ``x`` is one example (the first row of a batch is used); ``y`` its label, needed by a
    conditional model (cvae) only.  ``values`` are the same for every dimension ``(V,)``, or one
    row per dimension ``(len(dims), V)`` (see :func:`traversal_values`).  Returns images
    ``(len(dims), V, *input_shape)``: row r sweeps ``dims[r]``.
    """
    dims = _check_dims(model.latent_dim, dims)
    values = torch.as_tensor(values, dtype=torch.float32)
    if values.ndim == 1:
        values = values.expand(len(dims), -1)
    if not dims or values.ndim != 2 or values.shape[0] != len(dims) or values.shape[1] == 0:
        raise ConfigError(
            "a traversal needs at least one dimension and one value (the same values for every "
            f"dimension, or one row per dimension); got {len(dims)} dimensions and values of "
            f"shape {tuple(values.shape)}"
        )
    label = _example_label(model, y)
    steps = values.shape[1]
    with eval_mode(model):
        code = model.encode(_as_batch(model, x)[:1], label)[0]
        z = code.repeat(len(dims), steps, 1)  # (D, V, J)
        for row, d in enumerate(dims):
            z[row, :, d] = values[row].to(z.device)
        labels = None if label is None else label.expand(len(dims) * steps)
        images = model.decode(z.reshape(-1, model.latent_dim), labels)
    return images.reshape(len(dims), steps, *model.input_shape).cpu()


def traversal_values(codes: torch.Tensor, dims: Sequence[int], steps: int) -> torch.Tensor:
    """``(len(dims), steps)``: for each dimension, values evenly spaced over the range its code
    takes in ``codes`` ``(N, J)`` — never negative for a ReLU code, [0, 1] for a gate."""
    if steps < 2:
        raise ConfigError(f"a traversal needs at least 2 steps, got {steps}")
    chosen = codes[:, _check_dims(codes.shape[1], dims)].float()
    low, high = chosen.min(0).values, chosen.max(0).values
    fractions = torch.linspace(0.0, 1.0, steps)
    return low[:, None] + (high - low)[:, None] * fractions[None, :]


def _example_label(model: SparseVAEModel, y: int | torch.Tensor | None) -> torch.Tensor | None:
    """A conditional model's label for one example, ``(1,)`` on its device; None otherwise."""
    if not model.num_classes:
        return None
    if y is None:
        raise ConfigError(f"{model.kind!r} is conditional: give the example's label y")
    return torch.as_tensor(y).long().reshape(-1)[:1].to(model.device)


def set_features(
    model: SparseVAEModel, x: torch.Tensor, changes: Mapping[int, float]
) -> torch.Tensor:
    """Decode the codes of ``x`` with the elements in ``changes`` set to the given values (0 turns
    a feature off).  Returns images ``(N, *input_shape)``."""
    _unconditional(model)
    if not changes:
        raise ConfigError("give at least one latent element to change")
    dims = _check_dims(model.latent_dim, list(changes))
    with eval_mode(model):
        z = model.encode(_as_batch(model, x)).clone()
        for d in dims:
            z[:, d] = float(changes[d])
        return model.decode(z).cpu()


def active_set(model: SparseVAEModel, x: torch.Tensor) -> torch.Tensor:
    """Boolean ``(N, J)``: the non-zero elements of the codes of ``x``."""
    with eval_mode(model):
        return model.encode(_as_batch(model, x)) != 0


def shared_attribute_samples(
    model: SparseVAEModel,
    x: torch.Tensor,
    n: int,
    *,
    mode: str = "active-set",
) -> torch.Tensor:
    """``n`` images that share attributes with the single input ``x``.

    ``active-set``: keep ``x``'s active set (its non-zero code elements) and draw new slab values
    for them from the prior slab (for ``vsc-uai`` the slab of the prior component the selection
    function picks for ``x``; N(0, 1) for ``vsc``); the other elements stay zero.
    ``prior-component`` (``vsc-uai`` only): exact draws from the prior component picked for ``x``.
    """
    _unconditional(model)
    if mode not in SHARED_MODES:
        raise ConfigError(f"mode must be one of {', '.join(SHARED_MODES)}, got {mode!r}")
    if int(n) != n or n < 1:
        raise ConfigError(f"the number of samples must be a positive integer, got {n!r}")
    x = _as_batch(model, x)
    with eval_mode(model):
        if mode == "prior-component":
            return _prior_component_samples(model, x, n)
        return _active_set_samples(model, x, n)


def _prior_component_samples(model: SparseVAEModel, x: torch.Tensor, n: int) -> torch.Tensor:
    if not model.learned_prior:
        raise ConfigError(
            f"mode 'prior-component' needs a learned prior (vsc-uai), not {model.kind!r}"
        )
    return model.decode(model.prior_for(x).sample((n,))[:, 0]).cpu()


def _active_set_samples(model: SparseVAEModel, x: torch.Tensor, n: int) -> torch.Tensor:
    if not isinstance(model.posterior(x), SpikeSlab):
        raise ConfigError(
            f"mode 'active-set' needs a spike-and-slab model (vsc, vsc-uai), not {model.kind!r}"
        )
    mask = active_set(model, x).expand(n, -1)
    prior = model.prior_for(x)  # N(0, 1) slabs for vsc; the picked component's for vsc-uai
    slab = prior.loc[0] + prior.scale[0] * torch.randn(n, model.latent_dim, device=mask.device)
    return model.decode(torch.where(mask, slab, torch.zeros_like(slab))).cpu()
