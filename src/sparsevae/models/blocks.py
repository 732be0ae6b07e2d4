"""Block-sparse codes shared by LLGAE and the mixture of PCAs: K blocks of E numbers, only the
winning component's block non-zero."""

from __future__ import annotations

import torch

from ..errors import ConfigError


def scatter_blocks(winner: torch.Tensor, code: torch.Tensor, components: int) -> torch.Tensor:
    """Codes ``(N, K·E)`` whose block ``winner[n]`` holds ``code[n]`` (E numbers), zeros elsewhere."""
    sparse = code.new_zeros(len(code), components, code.shape[1])
    sparse[torch.arange(len(code), device=code.device), winner] = code
    return sparse.reshape(len(code), components * code.shape[1])


def own_block(code: torch.Tensor, components: int) -> torch.Tensor:
    """Boolean ``(K·E,)``: the elements of the block that holds one code's non-zeros (all of them
    with one component): the elements a traversal may set and the code still decode."""
    blocks = code.reshape(components, -1) != 0
    if components == 1 or not bool(blocks.any()):
        return torch.ones_like(code, dtype=torch.bool)
    own = blocks.any(-1, keepdim=True).expand_as(blocks)
    return own.reshape(-1)


def gather_blocks(
    z: torch.Tensor, components: int, component_dim: int, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The winning component ``(N,)`` and its block ``(N, E)`` of block-sparse codes.

    Each row must have its non-zeros in exactly one block (with one component, any row will do).
    """
    width = components * component_dim
    if z.ndim != 2 or z.shape[1] != width:
        raise ConfigError(
            f"{kind} codes must have shape (N, {width}) (K·E = {components}·{component_dim}), "
            f"got {tuple(z.shape)}"
        )
    blocks = z.reshape(len(z), components, component_dim)
    nonzero = (blocks != 0).any(-1)  # (N, K)
    if components > 1 and bool((nonzero.sum(1) != 1).any()):
        raise ConfigError(
            f"{kind} codes need their non-zeros in exactly one block of {component_dim} numbers "
            "(the component); some rows have none or several"
        )
    winner = nonzero.long().argmax(1) if components > 1 else z.new_zeros(len(z), dtype=torch.long)
    return winner, blocks[torch.arange(len(z), device=z.device), winner]
