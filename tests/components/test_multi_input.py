"""The multi-input torso: one encoder per observation key, chosen from the spec or named per key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dm_env import specs
from torch import nn

from components.networks import GridConvTorso, MultiInputEncoder, OneHot, make_torso
from components.observation_keys import parse_encoder_overrides

SPEC = {"image": specs.Array((3, 7, 7), np.uint8), "direction": specs.DiscreteArray(4),
        "speed": specs.Array((), np.float32), "action_mask": specs.BoundedArray((5,), np.int8, 0, 1),
        "sensors": (specs.Array((2,), np.float32), specs.Array((2, 3), np.float32))}


def _batch(n: int) -> dict:
    return {"image": torch.randint(0, 256, (n, 3, 7, 7), dtype=torch.uint8),
            "direction": torch.tensor([0, 3, 1][:n]), "speed": torch.randn(n),
            "action_mask": torch.ones(n, 5, dtype=torch.int8),
            "sensors": (torch.randn(n, 2), torch.randn(n, 2, 3))}


def test_each_key_gets_the_encoder_its_spec_calls_for_and_the_mask_is_skipped():
    encoder = MultiInputEncoder(SPEC)
    assert encoder.keys == ["action_mask", "direction", "image", "sensors/0", "sensors/1", "speed"]
    kinds = dict(zip(encoder.keys, encoder.encoders))
    assert isinstance(kinds["direction"], OneHot)
    assert any(isinstance(m, GridConvTorso) for m in kinds["image"].modules())
    assert dict(zip(encoder.keys, encoder.used)) == {"action_mask": False, "direction": True, "image": True,
                                                     "sensors/0": True, "sensors/1": True, "speed": True}
    conv_size = kinds["image"][1].output_size
    assert encoder.output_size == 4 + conv_size + 2 + 6 + 1
    assert encoder(_batch(3)).shape == (3, encoder.output_size)


def test_the_torso_reads_every_key_it_uses():
    torch.manual_seed(0)
    torso = make_torso(SPEC, hidden_sizes=(16,))
    assert torso.output_size == 16
    batch = _batch(2)
    base = torso(batch)
    for key in ("direction", "speed"):
        changed = dict(batch)
        changed[key] = batch[key] + 1 if key == "speed" else (batch[key] + 1) % 4
        assert not torch.allclose(torso(changed), base), key
    masked = dict(batch, action_mask=torch.zeros(2, 5, dtype=torch.int8))
    assert torch.equal(torso(masked), base)  # The mask is not an input unless asked.


def test_overrides_pick_the_encoder_per_key_and_can_feed_the_mask():
    encoder = MultiInputEncoder(SPEC, parse_encoder_overrides(["action_mask:mlp", "direction:mlp", "speed:skip"]))
    kinds = dict(zip(encoder.keys, zip(encoder.encoders, encoder.used)))
    assert kinds["action_mask"][1] and not kinds["speed"][1]
    assert not isinstance(kinds["direction"][0], OneHot)
    assert encoder(_batch(2)).shape == (2, encoder.output_size)


@pytest.mark.parametrize("overrides, message", [
    (["wheels:mlp"], r"names \['wheels'\].*its keys are"),
    (["speed:conv"], r"'speed' cannot go through the conv torso.*got shape \(\)"),
    (["image:onehot"], r"'image' cannot be one-hot"),
])
def test_a_bad_override_names_the_key_its_spec_and_what_was_expected(overrides, message):
    with pytest.raises(ValueError, match=message):
        MultiInputEncoder(SPEC, parse_encoder_overrides(overrides))


def test_override_entries_must_be_key_colon_kind():
    with pytest.raises(ValueError, match="'key:kind'"):
        parse_encoder_overrides(["image"])
    with pytest.raises(ValueError, match="'key:kind'"):
        parse_encoder_overrides(["image:transformer"])
    with pytest.raises(ValueError, match="name keys, but the observation is one array"):
        make_torso(specs.Array((3,), np.float32), (8,), encoders={"image": "conv"})


def test_an_observation_of_skipped_keys_only_is_refused():
    with pytest.raises(ValueError, match="nothing to read"):
        MultiInputEncoder({"action_mask": specs.BoundedArray((2,), np.int8, 0, 1)})
    assert isinstance(make_torso(specs.DiscreteArray(3), (4,))[0], OneHot)
    assert isinstance(make_torso({"x": specs.Array((4,), np.float32)}, (4,))[1], nn.Sequential)
