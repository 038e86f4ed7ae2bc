"""Network building blocks: MLPs, a small conv torso for grid pixels, input encoders, init."""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import tree
from dm_env import specs
from torch import nn

from components.observation_keys import ENCODER_KINDS, MASK_KEY, leaf_name


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


def _one_hot_size(spec: specs.Array) -> int | None:
    """How many values an integer scalar takes (a DiscreteArray, or an integer BoundedArray from 0), else None."""
    if spec.shape != () or not np.issubdtype(spec.dtype, np.integer):
        return None
    if isinstance(spec, specs.DiscreteArray):
        return int(spec.num_values)
    if isinstance(spec, specs.BoundedArray) and int(spec.minimum) == 0 and int(spec.maximum) < 4096:
        return int(spec.maximum) + 1
    return None


def make_encoder(spec: specs.Array, kind: str = "auto", conv_channels: Sequence[int] = (16, 32),
                 name: str = "observation") -> tuple[nn.Module, int]:
    """An encoder for one array and its output width. 'auto': a one-hot for an integer scalar with a known
    count, the conv torso for a channels-first image (C, H, W) (the Nature CNN from 36x36 up, uint8 scaled
    to [0, 1]), a flatten for anything of rank <= 2. `name` is the key that error messages name."""
    shape = tuple(spec.shape)
    if kind == "auto":
        kind = "onehot" if _one_hot_size(spec) else "conv" if len(shape) == 3 else "mlp" if len(shape) <= 2 else ""
        if not kind:
            raise ValueError(f"No default encoder for observation {name!r} of shape {shape} (spec {spec!r}): "
                             "expected an integer scalar, a vector, a 2-D array or a channels-first image.")
    if kind == "onehot":
        size = _one_hot_size(spec)
        if size is None:
            raise ValueError(f"Observation {name!r} cannot be one-hot encoded: expected an integer scalar "
                             f"(a DiscreteArray or an integer BoundedArray from 0), got {spec!r}.")
        return OneHot(size), size
    if kind == "conv":
        if len(shape) != 3:
            raise ValueError(f"Observation {name!r} cannot go through the conv torso: expected a channels-first "
                             f"image (C, H, W), got shape {shape} (spec {spec!r}).")
        conv = NatureCNN(shape) if min(shape[1:]) >= NATURE_CNN_MIN_SIZE else GridConvTorso(shape, conv_channels)
        return nn.Sequential(Float(_image_scale(spec)), conv), conv.output_size
    if kind == "mlp":
        return Float(flatten=True), max(1, int(np.prod(shape)))
    raise ValueError(f"encoder kind must be one of {ENCODER_KINDS[:-1]} for observation {name!r}, got {kind!r}.")


def _image_scale(spec: specs.Array) -> float:
    """uint8 images are scaled to [0, 1] by their bound: 1/255 for pixels, 1/10 for an image of indices 0..10
    (MiniGrid's); other dtypes are left as they are."""
    if spec.dtype != np.uint8:
        return 1.0
    top = float(np.max(spec.maximum)) if isinstance(spec, specs.BoundedArray) else 255.0
    return 1.0 / top if top > 0 else 1.0


class MultiInputEncoder(nn.Module):
    """Encodes a nest of arrays (dict, tuple) leaf by leaf and concatenates the features.

    Leaves are visited in dm-tree's flatten order (dict keys sorted) and named by their path joined with
    '/' ('image', 'sensors/0'). Each gets `make_encoder`'s choice unless `overrides` names it; the
    'action_mask' leaf is skipped unless named (it serves the action head, not the torso).
    """

    def __init__(self, observation_spec: object, overrides: Mapping[str, str] | None = None,
                 conv_channels: Sequence[int] = (16, 32)) -> None:
        super().__init__()
        overrides = dict(overrides or {})
        leaves = tree.flatten_with_path(observation_spec)
        self.keys = [leaf_name(path) for path, _ in leaves]
        unknown = sorted(set(overrides) - set(self.keys))
        if unknown:
            raise ValueError(f"observation_encoders names {unknown}, which the observation does not have; "
                             f"its keys are {self.keys}.")
        self.encoders = nn.ModuleList()
        self.used: list[bool] = []
        size = 0
        for key, (_, spec) in zip(self.keys, leaves):
            kind = overrides.get(key, "skip" if key.split("/")[-1] == MASK_KEY else "auto")
            self.used.append(kind != "skip")
            if kind == "skip":
                self.encoders.append(nn.Identity())
                continue
            encoder, width = make_encoder(spec, kind, conv_channels, key)
            self.encoders.append(encoder)
            size += width
        if size == 0:
            raise ValueError(f"Every observation key is skipped ({self.keys}): the torso has nothing to read.")
        self.output_size = size

    def forward(self, observation: object) -> torch.Tensor:
        leaves = tree.flatten(observation)
        return torch.cat([encoder(leaf) for encoder, leaf, used in zip(self.encoders, leaves, self.used) if used],
                         dim=-1)


def make_input_encoder(observation_spec: object, encoders: Mapping[str, str] | None = None,
                       conv_channels: Sequence[int] = (16, 32)) -> tuple[nn.Module | None, int]:
    """What a network over one feature vector reads the observation through, and the vector's width: None
    (the network flattens the array itself) for an array the default would flatten, else `make_encoder`'s
    module for one array, or a `MultiInputEncoder` for a nest."""
    if isinstance(observation_spec, specs.Array):
        if encoders:
            raise ValueError(f"observation_encoders ({dict(encoders)}) name keys, but the observation is one "
                             f"array ({observation_spec!r}).")
        encoder, size = make_encoder(observation_spec, "auto", conv_channels)
        return (None, size) if isinstance(encoder, Float) else (encoder, size)
    if tree.is_nested(observation_spec) and all(isinstance(s, specs.Array) for s in tree.flatten(observation_spec)):
        encoder = MultiInputEncoder(observation_spec, encoders, conv_channels)
        return encoder, encoder.output_size
    raise TypeError(f"Expected an array or a nest (dict, tuple) of arrays for the observation; got "
                    f"{observation_spec!r}.")


def encode_flat(encoder: nn.Module | None, observation: object) -> torch.Tensor:
    """The observation as (batch, features) float32: through `encoder`, or flattened when there is none."""
    if encoder is not None:
        return encoder(observation)
    return observation.reshape(observation.shape[0], -1).float()  # type: ignore[union-attr]


def make_torso(observation_spec: object, hidden_sizes: Sequence[int], conv_channels: Sequence[int] = (16, 32),
               activation: str = "relu", encoders: Mapping[str, str] | None = None) -> nn.Module:
    """An encoder for the observation, then an MLP of `hidden_sizes`; the result has `.output_size`.

    One array gets `make_encoder`'s choice (one-hot for an index, flatten for vectors and 2-D arrays, the
    conv torso for channels-first images; uint8 images are scaled inside the network, so frames stay
    uint8 in replay). A nest (dict or tuple of arrays) gets a `MultiInputEncoder`: one encoder per key,
    `encoders` overriding the choice per key, features concatenated. `activation` ('relu' or 'tanh') is
    the MLP's.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}.")
    if isinstance(observation_spec, specs.Array):
        if encoders:
            raise ValueError(f"observation_encoders ({dict(encoders)}) name keys, but the observation is one "
                             f"array ({observation_spec!r}).")
        encoder, encoded_size = make_encoder(observation_spec, "auto", conv_channels)
    elif tree.is_nested(observation_spec) and all(isinstance(s, specs.Array) for s in tree.flatten(observation_spec)):
        encoder = MultiInputEncoder(observation_spec, encoders, conv_channels)
        encoded_size = encoder.output_size
    else:
        raise TypeError(f"The default torso takes an array or a nest (dict, tuple) of arrays; got {observation_spec!r}.")
    mlp = MLP(encoded_size, hidden_sizes, activation=ACTIVATIONS[activation], activate_final=True)
    torso = nn.Sequential(encoder, mlp)
    torso.output_size = mlp.output_size
    return torso
