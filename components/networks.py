"""Network building blocks: MLPs, a small conv torso for grid pixels, input encoders, init."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from dm_env import specs
from torch import nn


def orthogonal_init_(module: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with `gain` and constant biases for every Linear/Conv layer in `module`."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            weight = torch.empty(layer.weight.shape, dtype=layer.weight.dtype, device=layer.weight.device)
            nn.init.orthogonal_(weight, gain)  # On a contiguous tensor: channels-last weights cannot be viewed.
            with torch.no_grad():
                layer.weight.copy_(weight)
            if layer.bias is not None:
                nn.init.constant_(layer.bias, bias)
    return module


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last)."""

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], output_size: int | None = None,
                 activation: Callable[[], nn.Module] = nn.ReLU, activate_final: bool = False) -> None:
        sizes = [input_size, *hidden_sizes] + ([output_size] if output_size is not None else [])
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2 or activate_final:
                layers.append(activation())
        super().__init__(*layers)
        self.output_size = sizes[-1]


class GridConvTorso(nn.Sequential):
    """3x3 convolutions, the later ones with stride 2, then a flatten: small channels-first grids.

    The strided layers keep the flattened output (and the first dense layer,
    the costliest part of the network) small.
    """

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (16, 32)) -> None:
        in_channels = input_shape[0]
        layers: list[nn.Module] = []
        for i, out_channels in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1), nn.ReLU()]
            in_channels = out_channels
        layers.append(nn.Flatten())
        super().__init__(*layers)
        with torch.no_grad():
            self.output_size = int(self(torch.zeros(1, *input_shape)).shape[-1])


class NatureCNN(nn.Sequential):
    """The Nature-DQN torso (Mnih et al. 2015): 8x8/4, 4x4/2, 3x3/1 convolutions, then a flatten.

    Weights and inputs use the channels-last memory layout, which oneDNN's CPU
    convolutions run about 20% faster (same math; the flatten order is
    unchanged, so features and checkpoints match the NCHW layout).
    """

    def __init__(self, input_shape: Sequence[int]) -> None:
        super().__init__(
            nn.Conv2d(input_shape[0], 32, kernel_size=8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.to(memory_format=torch.channels_last)
        with torch.no_grad():
            self.output_size = int(self(torch.zeros(1, *input_shape)).shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.contiguous(memory_format=torch.channels_last))


# Images at least this tall and wide get the Nature CNN; smaller grids the small conv torso.
NATURE_CNN_MIN_SIZE = 36


class OneHot(nn.Module):
    """Encodes integer indices (e.g. a gridworld state index) as float one-hot vectors."""

    def __init__(self, num_values: int) -> None:
        super().__init__()
        self.num_values = num_values
        self.output_size = num_values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x.long(), self.num_values).float()


class Float(nn.Module):
    """Casts inputs to float32 (uint8 pixels stay uint8 until here), scaled, optionally flattened."""

    def __init__(self, scale: float = 1.0, flatten: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copied = x.dtype != torch.float32  # .float() made a new tensor: scale it in place.
        if copied:
            x = x.float()
        if self.scale != 1.0:
            x = x.mul_(self.scale) if copied else x * self.scale
        return x.reshape(x.shape[0], -1) if self.flatten and x.dim() != 2 else x


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def make_torso(observation_spec: specs.Array, hidden_sizes: Sequence[int],
               conv_channels: Sequence[int] = (16, 32), activation: str = "relu") -> nn.Module:
    """Picks an encoder for one array observation; the result has `.output_size`.

    DiscreteArray (an index) -> one-hot + MLP; a vector -> MLP; a 2-D array ->
    flatten + MLP; a channels-first image (C, H, W) -> conv torso + MLP: the
    Nature CNN for frames of 36x36 and up (Atari), a small 3x3 torso below.
    uint8 images are scaled to [0, 1] inside the network, so frames stay
    uint8 in replay. `activation` ('relu' or 'tanh') is the MLP's.
    """
    if not isinstance(observation_spec, specs.Array):
        raise TypeError(
            "The default networks take a single array observation; got the nested spec "
            f"{observation_spec!r}. Pass a network factory that handles it."
        )
    shape = tuple(observation_spec.shape)
    if isinstance(observation_spec, specs.DiscreteArray) and shape == ():
        encoder: nn.Module = OneHot(observation_spec.num_values)
        encoded_size = observation_spec.num_values
    elif len(shape) <= 2:
        encoder = Float(flatten=True)
        encoded_size = int(np.prod(shape))
    elif len(shape) == 3:
        large = min(shape[1:]) >= NATURE_CNN_MIN_SIZE
        conv = NatureCNN(shape) if large else GridConvTorso(shape, conv_channels)
        scale = 1.0 / 255.0 if observation_spec.dtype == np.uint8 else 1.0
        encoder = nn.Sequential(Float(scale), conv)
        encoded_size = conv.output_size
    else:
        raise ValueError(f"No default torso for observations of shape {shape} (spec {observation_spec!r}).")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}.")
    mlp = MLP(encoded_size, hidden_sizes, activation=ACTIVATIONS[activation], activate_final=True)
    torso = nn.Sequential(encoder, mlp)
    torso.output_size = mlp.output_size
    return torso
