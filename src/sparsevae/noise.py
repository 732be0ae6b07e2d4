"""Where models draw the noise of their training losses: :func:`standard_normal` and
:func:`uniform`.

Alone, a model draws from torch's global generator, exactly as ``torch.randn`` / ``torch.rand``
would.  In a stack of models trained together (:mod:`sparsevae.training.stacked`) the loss runs
once under ``torch.func.vmap`` for all of them; :func:`per_model_noise` then makes every draw come
from each model's own generator, so that model ``k`` sees the very numbers its run alone would
draw.  The stacked draw is made outside vmap (``_DisableFuncTorch``) and handed back as a tensor
batched over the models (``_add_batch_dim``): functorch's own internals, pinned by the tests in
tests/test_stacked.py.  Any other random call inside the vmapped loss is an error (vmap's
``randomness="error"``), never silently the same noise for every model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch._C._functorch import _add_batch_dim, maybe_current_level

Draw = Callable[..., torch.Tensor]  # torch.randn or torch.rand
_generators: Sequence[torch.Generator] | None = None  # the stack's, while per_model_noise is on


def standard_normal(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """N(0, 1) draws of ``shape`` with ``like``'s dtype and device."""
    return _draw(torch.randn, shape, like)


def uniform(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) draws of ``shape`` with ``like``'s dtype and device."""
    return _draw(torch.rand, shape, like)


def _draw(draw: Draw, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    options = {"dtype": like.dtype, "device": like.device}
    if _generators is None:
        return draw(tuple(shape), **options)
    with torch._C._DisableFuncTorch():  # plain draws, one model's shape from each generator
        stacked = torch.stack([draw(tuple(shape), generator=g, **options) for g in _generators])
    return _add_batch_dim(stacked, 0, maybe_current_level())


@contextlib.contextmanager
def per_model_noise(generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Inside a ``vmap`` over models, draw model ``k``'s noise from ``generators[k]``."""
    global _generators
    saved, _generators = _generators, generators
    try:
        yield
    finally:
        _generators = saved
