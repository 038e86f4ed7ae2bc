"""Play CartPole with a policy exported by `launchers.export`, using onnxruntime and numpy only.

    python -m launchers.ppo --env=gym:CartPole-v1 --preset=classic --run_dir=runs/cartpole
    python -m launchers.export --run_dir=runs/cartpole --format=onnx --output=cartpole.onnx
    python examples/play_cartpole_onnx.py cartpole.onnx --episodes=5

No torch and no agentpipe here: gymnasium steps the environment, the ONNX file picks the actions.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np
import onnxruntime


def play(model: str, episodes: int = 5, seed: int = 0) -> list[float]:
    """Returns each episode's return under the exported greedy policy."""
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    observation_input = session.get_inputs()[0].name  # 'observation'
    env = gymnasium.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            batch = np.asarray(observation, np.float32)[None]  # Batch-first, the spec's dtype.
            action = session.run(["action"], {observation_input: batch})[0][0]
            observation, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="the .onnx file written by launchers.export")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    returns = play(args.model, args.episodes, args.seed)
    print(f"returns {returns}; mean {np.mean(returns):.1f}")


if __name__ == "__main__":
    main()
