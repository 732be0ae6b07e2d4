"""The networks a :class:`~sparsevae.models.config.NetworkConfig` describes, built the same way
for every model family that has an encoder, a decoder and a pixel likelihood.

Two calls, encoder side first: the model builds its code head between them, so that modules are
registered (and initialised from the seed) in the order runs of 0.1.0 were.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..likelihoods import Likelihood, build_likelihood
from ..networks import build_decoder, build_encoder
from .config import NetworkConfig


def build_encoder_side(
    c: NetworkConfig, input_shape: Sequence[int], condition: int = 0
) -> tuple[Likelihood, nn.Module]:
    """``(likelihood, encoder body)``; ``condition`` extra inputs (a one-hot label) join the
    encoder's input."""
    likelihood = build_likelihood(c.likelihood, c.likelihood_sigma)
    return likelihood, build_encoder(c.arch, input_shape, c.hidden, extra_inputs=condition)


def build_decoder_side(
    c: NetworkConfig, input_shape: Sequence[int], likelihood: Likelihood, condition: int = 0
) -> nn.Module:
    """The decoder of ``latent_dim + condition`` inputs (the code and a one-hot label)."""
    return build_decoder(
        c.arch,
        c.latent_dim + condition,
        input_shape,
        c.hidden,
        likelihood.params_per_pixel,
        linear=c.linear_decoder,
    )
