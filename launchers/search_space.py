"""Hyperparameter search spaces for `launchers.tune`: defaults per agent family, JSON overrides, checks.

A space maps agent config fields to distributions:

    {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": true},
     "n_step": {"type": "int", "low": 1, "high": 5},
     "hidden_sizes": {"type": "categorical", "choices": [[64, 64], [256, 256]]}}

`type` is float, int (both with low < high, optional log, int an optional step) or categorical (a
non-empty list of choices; a list value becomes a tuple, as config fields of widths are). Every field must
be one of the agent's config fields, and every value the space can give (both ends, every choice) must
make a valid config: a bad space fails before any trial, naming the field.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

LOG_LR = {"type": "float", "low": 1e-5, "high": 3e-3, "log": True}
DISCOUNT = {"type": "categorical", "choices": [0.95, 0.98, 0.99, 0.995]}
VALUE_BASED = {
    "learning_rate": LOG_LR, "discount": DISCOUNT,
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    "n_step": {"type": "int", "low": 1, "high": 5},
    "target_update_period": {"type": "int", "low": 50, "high": 2_000, "log": True},
    "epsilon_decay_steps": {"type": "int", "low": 1_000, "high": 50_000, "log": True},
    "hidden_sizes": {"type": "categorical", "choices": [[64, 64], [128, 128], [256, 256]]},
}
ON_POLICY = {
    "learning_rate": LOG_LR, "discount": DISCOUNT,
    "gae_lambda": {"type": "categorical", "choices": [0.8, 0.9, 0.95, 0.98, 1.0]},
    "entropy_coef": {"type": "float", "low": 1e-5, "high": 0.05, "log": True},
    "max_grad_norm": {"type": "categorical", "choices": [0.5, 1.0, 5.0]},
    "hidden_sizes": {"type": "categorical", "choices": [[64], [64, 64], [256, 256]]},
}
PPO = {**ON_POLICY, "rollout_length": {"type": "categorical", "choices": [32, 64, 128, 256, 512]},
       "num_epochs": {"type": "int", "low": 1, "high": 20},
       "num_minibatches": {"type": "categorical", "choices": [1, 2, 4, 8]},
       "clip_range": {"type": "categorical", "choices": [0.1, 0.2, 0.3]}}
A2C = {**ON_POLICY, "rollout_length": {"type": "categorical", "choices": [5, 8, 16, 32]}}
REINFORCE = {"learning_rate": LOG_LR, "discount": DISCOUNT,
             "entropy_coef": ON_POLICY["entropy_coef"], "hidden_sizes": ON_POLICY["hidden_sizes"]}
CONTINUOUS = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True}, "discount": DISCOUNT,
    "batch_size": {"type": "categorical", "choices": [64, 128, 256]},
    "tau": {"type": "categorical", "choices": [0.001, 0.005, 0.01, 0.02]},
    "hidden_sizes": {"type": "categorical", "choices": [[64, 64], [256, 256], [400, 300]]},
}
DEFAULT_SPACES: dict[str, Mapping[str, Mapping[str, Any]]] = {
    "nfq": {k: VALUE_BASED[k] for k in ("learning_rate", "discount", "hidden_sizes")},
    "dqn": VALUE_BASED, "r2d2": {k: VALUE_BASED[k] for k in ("learning_rate", "discount", "n_step",
                                                            "target_update_period")},
    "reinforce": REINFORCE, "a2c": A2C, "impala": A2C, "ppo": PPO, "sac": CONTINUOUS, "td3": CONTINUOUS,
}
TYPES = ("float", "int", "categorical")


def default_space(agent: str) -> dict[str, dict[str, Any]]:
    """The documented default space of a built-in agent."""
    if agent not in DEFAULT_SPACES:
        raise ValueError(f"No default search space for agent {agent!r}; give --search_space=FILE.json "
                         f"(defaults exist for {', '.join(DEFAULT_SPACES)}).")
    return json.loads(json.dumps(DEFAULT_SPACES[agent]))


def load_space(path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path) as f:
            space = json.load(f)
    except OSError as error:
        raise ValueError(f"Cannot read the search space {path!r}: {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"The search space {path!r} is not valid JSON: {error}") from None
    if not isinstance(space, dict) or not space:
        raise ValueError(f"The search space {path!r} must be a JSON object of config fields, got {space!r}.")
    return space


def _value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check_space(space: Mapping[str, Any], config_class: type) -> None:
    """Raises ValueError naming the first field that is unknown, malformed, or gives an invalid config."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    for name, dist in space.items():
        where = f"search space field {name!r}"
        if name not in fields:
            raise ValueError(f"The {where} is not a field of {config_class.__name__}; its fields: "
                             f"{', '.join(sorted(fields))}.")
        if not isinstance(dist, Mapping) or dist.get("type") not in TYPES:
            raise ValueError(f"The {where} must be an object with \"type\" one of {', '.join(TYPES)}, got {dist!r}.")
        if dist["type"] == "categorical":
            values = dist.get("choices")
            if not isinstance(values, list) or not values:
                raise ValueError(f"The {where} is categorical and needs a non-empty \"choices\" list, got {values!r}.")
        else:
            low, high = dist.get("low"), dist.get("high")
            kind = int if dist["type"] == "int" else (int, float)
            if not isinstance(low, kind) or not isinstance(high, kind) or isinstance(low, bool) or not low < high:
                raise ValueError(f"The {where} needs numbers \"low\" < \"high\" ({dist['type']}), got low={low!r}, "
                                 f"high={high!r}.")
            if dist.get("log") and low <= 0:
                raise ValueError(f"The {where} is log-scaled and needs \"low\" > 0, got {low!r}.")
            values = [low, high]
        for value in values:
            try:
                config_class(**{name: _value(value)})
            except (TypeError, ValueError) as error:
                raise ValueError(f"The {where} can give {value!r}, which {config_class.__name__} refuses: "
                                 f"{error}") from None


def suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One trial's agent config values, drawn by Optuna (`trial.suggest_*`)."""
    params: dict[str, Any] = {}
    for name, dist in space.items():
        if dist["type"] == "float":
            params[name] = trial.suggest_float(name, dist["low"], dist["high"], log=bool(dist.get("log")))
        elif dist["type"] == "int":
            params[name] = trial.suggest_int(name, dist["low"], dist["high"], step=int(dist.get("step", 1)),
                                             log=bool(dist.get("log")))
        elif all(isinstance(choice, (bool, int, float, str)) for choice in dist["choices"]):
            params[name] = trial.suggest_categorical(name, dist["choices"])
        else:  # Optuna's categorical choices are scalars: lists are chosen by their JSON text.
            texts = [json.dumps(choice) for choice in dist["choices"]]
            params[name] = _value(json.loads(trial.suggest_categorical(name, texts)))
    return params
