"""Checkpointing a full Atari frame replay: seconds and extra memory, the live-array path against copies.

    .venv/bin/python -m benchmarks.replay_checkpoint [--capacity 1000000] [--mode files|copies] [--dir /tmp/x]

One process per measurement (peak RSS is per process): a FrameStackReplay of `capacity` (4, 84, 84) uint8
transitions, its frame ring filled with random frames, then one `Checkpointer.save` of the run state as
the local runner gathers it (`files`: the replay's live arrays, large ones streamed to .npy files) or as
before (`copies`: the arrays copied, everything pickled into the .pt). Prints seconds to save, seconds to
load and restore, and the peak RSS the save added.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time

import numpy as np
from dm_env import specs


def measure(capacity: int, mode: str, directory: str) -> dict:
    from components import checkpointing
    from components.frame_replay import FrameStackReplay
    from components.rate_limiters import RateLimiter
    from components.specs import EnvironmentSpec
    from launchers.run_state import replay_state

    spec = EnvironmentSpec(specs.BoundedArray((4, 84, 84), np.uint8, 0, 255, "frame_stack"),
                           specs.DiscreteArray(4), specs.Array((), np.float32), specs.Array((), np.float32))
    replay = FrameStackReplay.uniform(spec, capacity, 1, 1, seed=0, rate_limiter=RateLimiter(8.0, 1_000))
    frames = replay.store.save(copy=False)["frames"]  # The live ring: fill it as a long run would have.
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, (4096,) + frames.shape[1:], dtype=np.uint8)
    for start in range(0, len(frames), len(block)):
        frames[start:start + len(block)] = block[:len(frames) - start]
    if mode == "copies":
        checkpointing.ARRAY_FILE_BYTES = 1 << 62  # Nothing to files: the whole state pickled, as before.
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    state = replay_state(replay, with_items=True, copy=mode == "copies")
    checkpointer = checkpointing.Checkpointer(directory)
    checkpointer.save(state, 0)
    save_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del state
    started = time.perf_counter()
    loaded, manifest = checkpointer.latest()
    replay.restore(loaded["replay"])
    restore_seconds = time.perf_counter() - started
    written = manifest["bytes"] + sum(np.load(f"{directory}/{name}", mmap_mode="r").nbytes
                                      for name in manifest.get("array_files", {}))
    return {"capacity": capacity, "mode": mode, "replay_gb": round(replay.nbytes / 1e9, 2),
            "written_gb": round(written / 1e9, 2), "save_seconds": round(save_seconds, 1),
            "load_and_restore_seconds": round(restore_seconds, 1),
            "extra_peak_rss_mb": round(rss_after - rss_before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=("files", "copies"), default="files")
    parser.add_argument("--dir", default=None, help="checkpoint folder (default: a temporary one, removed)")
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="replay_checkpoint_")
    try:
        print(json.dumps(measure(args.capacity, args.mode, directory)))
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
