"""Replay at Atari scale: insert and sample rates, and memory per transition, side by side.

Uniform and prioritized replay, each wrapped in `FrameStackReplay` (the way
the DQN builder stores stacked frames), are filled to `--capacity` (default
1,000,000) transitions of (4, 84, 84) uint8 frames from 8 lanes through the
n-step adder, with synthetic frames that shift like a real frame stack and
episodes of random length. Then, at capacity, it measures:

* insert: transitions/s written through the adder (8 lanes per step);
* sample(32), sample(256): batches/s and transitions/s, stacks rebuilt
  (prioritized: plus `update_priorities` of the batch, as the learner does);
* memory: preallocated bytes per transition, against the 56,448 bytes of two
  stored stacks, and the process's peak RSS.

Each kind runs in its own process (one 7.4 GB replay at a time); the two
take turns for `--rounds` rounds and the ratios prioritized/uniform are
printed at the end.

    .venv/bin/python -m benchmarks.replay_throughput [--capacity 1000000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

from benchmarks.common import HERE, run_json, write_json

LANES, STACK, SIZE, N_STEP = 8, 4, 84, 3
KINDS = ("uniform", "prioritized")


def _make_replay(kind: str, capacity: int):
    from dm_env import specs

    from components.frame_replay import FrameStackReplay, frame_transition_spec
    from components.prioritized_replay import PrioritizedReplay
    from components.replay import UniformReplay
    from components.specs import EnvironmentSpec

    spec = EnvironmentSpec(observations=specs.Array((STACK, SIZE, SIZE), np.uint8, "observation"),
                           actions=specs.DiscreteArray(4, dtype=np.int32, name="action"),
                           rewards=specs.Array((), np.float32, "reward"),
                           discounts=specs.BoundedArray((), np.float32, 0.0, 1.0, "discount"))
    item_spec = frame_transition_spec(spec)
    inner = (PrioritizedReplay(item_spec, capacity, seed=0, alpha=0.6, beta=0.4) if kind == "prioritized"
             else UniformReplay(item_spec, capacity, seed=0))
    return FrameStackReplay(inner, spec.observations, LANES, N_STEP)


class _Lanes:
    """Synthetic lanes: each step shifts a new random frame into every stack; episodes end at random,
    and a lane's step after its LAST is a FIRST whose stack repeats one frame (as AtariEnvironment's)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._frames = self._rng.integers(0, 256, (64, SIZE, SIZE), dtype=np.uint8)  # A pool of frames.
        self.observation = np.repeat(self._frames[:LANES, None], STACK, axis=1)
        self._left = self._rng.integers(100, 1000, LANES)
        self._restart = np.zeros(LANES, bool)

    def step(self):
        import dm_env

        new = self._frames[self._rng.integers(0, len(self._frames), LANES)]
        shifted = np.concatenate([self.observation[:, 1:], new[:, None]], axis=1)
        restarted = np.repeat(new[:, None], STACK, axis=1)
        self.observation = np.where(self._restart[:, None, None, None], restarted, shifted)
        self._left = np.where(self._restart, self._rng.integers(100, 1000, LANES), self._left - 1)
        ended = (self._left <= 0) & ~self._restart
        step_type = np.where(self._restart, dm_env.StepType.FIRST,
                             np.where(ended, dm_env.StepType.LAST, dm_env.StepType.MID)).astype(np.int8)
        reward = np.where(self._restart, 0.0, self._rng.normal(size=LANES)).astype(np.float32)
        discount = np.where(ended, 0.0, 1.0).astype(np.float32)
        self._restart = ended
        return dm_env.TimeStep(step_type, reward, discount, self.observation)


def measure(kind: str, capacity: int, seconds: float) -> dict:
    import dm_env

    from components.adders import NStepTransitionAdder

    replay = _make_replay(kind, capacity)
    adder = NStepTransitionAdder(replay, N_STEP, 0.99, observation_store=replay.store)
    lanes = _Lanes()
    adder.add_first(dm_env.TimeStep(np.zeros(LANES, np.int8), np.zeros(LANES, np.float32),
                                    np.ones(LANES, np.float32), lanes.observation))
    actions = np.zeros(LANES, np.int32)

    def add_step() -> None:
        adder.add(actions, lanes.step())

    started = time.perf_counter()
    while replay.size() < capacity:
        add_step()
    fill_seconds = time.perf_counter() - started

    def rate(call, per_call: int) -> float:
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            call()
            calls += 1
        return per_call * calls / (time.perf_counter() - start)

    inserted_before = replay.store.frames_written
    insert_rate = rate(add_step, LANES)  # Transitions (lane-steps) per second.

    def sampler(batch_size: int):
        def call() -> None:
            sample = replay.sample(batch_size)
            if kind == "prioritized":
                replay.update_priorities(sample.keys, np.random.random(batch_size))
        return call

    result = {
        "kind": kind, "capacity": capacity, "size": replay.size(), "fill_seconds": round(fill_seconds, 1),
        "insert_transitions_per_second": insert_rate,
        "sample32_transitions_per_second": rate(sampler(32), 32),
        "sample256_transitions_per_second": rate(sampler(256), 256),
        "bytes_per_transition": replay.nbytes / capacity,
        "naive_bytes_per_transition": 2 * STACK * SIZE * SIZE,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        "frames_written_while_measuring": replay.store.frames_written - inserted_before,
        "describe": replay.describe(),
    }
    return result


def _run_worker(kind: str, capacity: int, seconds: float) -> dict:
    return run_json([sys.executable, os.path.join(HERE, "replay_throughput.py"), "--worker", kind,
                     "--capacity", str(capacity), "--seconds", str(seconds)])


def run_suite(capacity: int = 1_000_000, rounds: int = 1, seconds: float = 5.0, out: str | None = None) -> dict:
    samples: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for r in range(rounds):
        for kind in (KINDS if r % 2 == 0 else KINDS[::-1]):
            result = _run_worker(kind, capacity, seconds)
            samples[kind].append(result)
            print(f"round {r + 1}/{rounds} {kind:11s} insert {result['insert_transitions_per_second']:8.0f}/s  "
                  f"sample32 {result['sample32_transitions_per_second']:8.0f}/s  "
                  f"sample256 {result['sample256_transitions_per_second']:8.0f}/s  "
                  f"{result['bytes_per_transition']:,.0f} B/transition  peak RSS {result['peak_rss_gb']:.2f} GB  "
                  f"(filled in {result['fill_seconds']} s)", flush=True)
    keys = ("insert_transitions_per_second", "sample32_transitions_per_second", "sample256_transitions_per_second")
    medians = {kind: {k: statistics.median(r[k] for r in runs) for k in keys} for kind, runs in samples.items()}
    ratios = {f"prioritized / uniform {k}": round(medians["prioritized"][k] / medians["uniform"][k], 3) for k in keys}
    summary = {"benchmark": "replay_throughput", "date": time.strftime("%Y-%m-%d %H:%M"), "capacity": capacity,
               "lanes": LANES, "n_step": N_STEP, "medians": medians, "ratios": ratios, "samples": samples}
    print("ratios:", json.dumps(ratios))
    write_json(summary, out)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=KINDS, help="measure one kind (internal)")
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", default=os.path.join("runs", "bench", "replay_throughput.json"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.capacity, args.seconds)))
        return
    run_suite(args.capacity, args.rounds, args.seconds, args.out)


if __name__ == "__main__":
    main()
