"""Encoder bodies and decoders built from a few numbers.

An encoder body maps an image batch ``(N, C, H, W)`` to features ``(N, F)``; model-specific heads
(μ, log σ², spike logits, …) sit on top.  A decoder maps codes ``(N, J)`` to ``(N, K·C, H, W)`` where
K is the likelihood's number of parameters per pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from .errors import ConfigError

ARCHITECTURES = ("mlp", "conv")


def _mlp(sizes: Sequence[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten, then Linear+ReLU layers of the given ``hidden`` sizes (784–400 in the VSC paper)."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int], extra_inputs: int = 0):
        super().__init__()
        self.in_features = math.prod(input_shape) + extra_inputs
        self.out_features = hidden[-1] if hidden else self.in_features
        self.net = _mlp([self.in_features, *hidden], final_activation=True)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if extra is not None:
            h = torch.cat([h, extra], dim=1)
        return self.net(h)


class MLPDecoder(nn.Module):
    """Linear+ReLU layers of the reversed ``hidden`` sizes, then a linear output per pixel parameter."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int],
        params_per_pixel: int = 1,
    ):
        super().__init__()
        c, *spatial = output_shape
        self.output_shape = (params_per_pixel * c, *spatial)
        self.net = _mlp([latent_dim, *reversed(hidden), math.prod(self.output_shape)], False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.output_shape)


class ConvEncoder(nn.Module):
    """Two stride-2 4×4 convolutions (32, 64 channels) and a dense layer: for 28×28 and 32×32 inputs."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int], extra_inputs: int = 0):
        super().__init__()
        c, h, w = _check_conv_shape(input_shape)
        self.extra_inputs = extra_inputs
        self.conv = nn.Sequential(
            nn.Conv2d(c + extra_inputs, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        flat = 64 * (h // 4) * (w // 4)
        self.dense = _mlp([flat, *hidden], final_activation=True)
        self.out_features = hidden[-1] if hidden else flat

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        if extra is not None:  # a label is broadcast as constant extra channels
            planes = extra[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        return self.dense(self.conv(x))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: dense layers, then two stride-2 transposed convolutions."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int],
        params_per_pixel: int = 1,
    ):
        super().__init__()
        c, h, w = _check_conv_shape(output_shape)
        self.grid = (64, h // 4, w // 4)
        self.dense = _mlp([latent_dim, *reversed(hidden), math.prod(self.grid)], True)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, params_per_pixel * c, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z).view(z.shape[0], *self.grid))


class LinearDecoder(nn.Module):
    """x̂ = D·z + b, the generator of classic sparse coding (Olshausen & Field).  The atoms (the
    columns of D) are kept at unit norm by normalising them in every forward pass, so that the
    scale of the code cannot drift into the dictionary."""

    def __init__(self, latent_dim: int, output_shape: Sequence[int], params_per_pixel: int = 1):
        super().__init__()
        if params_per_pixel != 1:
            raise ConfigError(
                "the linear decoder needs a likelihood with one parameter per pixel (bernoulli "
                "or gaussian), not gaussian-learned"
            )
        self.output_shape = tuple(output_shape)
        size = math.prod(self.output_shape)
        self.weight = nn.Parameter(torch.randn(size, latent_dim) / math.sqrt(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def atoms(self) -> torch.Tensor:
        """The dictionary ``(pixels, latent_dim)``, unit-norm columns."""
        return self.weight / self.weight.norm(dim=0, keepdim=True).clamp_min(1e-12)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, z, self.atoms().T).view(z.shape[0], *self.output_shape)


def _check_conv_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4 or shape[1] < 8 or shape[2] < 8:
        raise ConfigError(
            f"the conv architecture needs (C, H, W) images with H and W multiples of 4 "
            f"(28×28, 32×32, …), got shape {tuple(shape)}; use --arch mlp"
        )
    return int(shape[0]), int(shape[1]), int(shape[2])


def build_encoder(
    arch: str, input_shape: Sequence[int], hidden: Sequence[int], extra_inputs: int = 0
):
    if arch == "mlp":
        return MLPEncoder(input_shape, hidden, extra_inputs)
    if arch == "conv":
        return ConvEncoder(input_shape, hidden, extra_inputs)
    raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def build_decoder(
    arch: str,
    latent_dim: int,
    output_shape: Sequence[int],
    hidden: Sequence[int],
    params_per_pixel: int = 1,
    *,
    linear: bool = False,
):
    """The decoder of ``arch`` (mirroring the encoder), or with ``linear`` a
    :class:`LinearDecoder` whatever the encoder."""
    if linear:
        return LinearDecoder(latent_dim, output_shape, params_per_pixel)
    if arch == "mlp":
        return MLPDecoder(latent_dim, output_shape, hidden, params_per_pixel)
    if arch == "conv":
        return ConvDecoder(latent_dim, output_shape, hidden, params_per_pixel)
    raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
