"""Checkpoints written atomically with a checksum; restoring falls back to the previous good one.

A checkpoint is two files in the run's `checkpoints/` folder:
`ckpt-<index>.pt` (the state, written by `torch.save`) and `ckpt-<index>.json`
(its SHA-256, size, step and time). Each is written to a temporary name,
flushed to disk and renamed, the manifest last, so a checkpoint exists only
once it is complete. Older checkpoints are deleted only after a newer one is
complete; `keep` of them stay.

Large numpy arrays in the state (a replay's storage: a million Atari
transitions are 7.4 GB) are not pickled into the .pt file: each array of
ARRAY_FILE_BYTES or more is streamed from its own memory to
`ckpt-<index>.arrays/<n>.npy` (no copy in RAM) and the state holds an
`ArrayFile` in its place, with the file's SHA-256 in the manifest. Loading
checks every file and maps it read-only (`np.load(mmap_mode='r')`), so a
restore copies it into the live arrays page by page.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import time
import warnings
from typing import Any

import numpy as np
import torch

_NAME = re.compile(r"ckpt-(\d+)\.json$")


ARRAY_FILE_BYTES = 16 << 20  # Arrays this large go to their own .npy file.


class CheckpointError(RuntimeError):
    """No checkpoint in a folder could be read."""


class ArrayFile:
    """Where a large array of a checkpoint's state was written: a path relative to the checkpoint folder."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"ArrayFile({self.path!r})"


class _HashingWriter:
    """A write-only file that hashes what goes through it, so a large array is read once to save it."""

    def __init__(self, file) -> None:
        self._file = file
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self._file.write(data)


def _replace_leaves(nest: Any, replace) -> Any:
    """`nest` with each leaf x replaced by `replace(x)`; containers none of whose leaves changed are returned
    as they are. (dm-tree's map_structure rebuilds every dict, which drops what a torch state_dict carries
    besides its items: its `_metadata`, the modules' versions that `load_state_dict` reads.)"""
    if isinstance(nest, dict):
        items = {key: _replace_leaves(value, replace) for key, value in nest.items()}
        if all(items[key] is value for key, value in nest.items()):
            return nest
        rebuilt = type(nest)(items)
        if hasattr(nest, "_metadata"):
            rebuilt._metadata = nest._metadata
        return rebuilt
    if isinstance(nest, (list, tuple)):
        values = [_replace_leaves(value, replace) for value in nest]
        if all(new is old for new, old in zip(values, nest)):
            return nest
        if isinstance(nest, list):
            return values
        return type(nest)(*values) if hasattr(nest, "_fields") else type(nest)(values)
    return replace(nest)


def _externalize(state: Any, directory: str, relative: str) -> tuple[Any, dict[str, str]]:
    """`state` with its large numpy arrays written to `directory` as .npy files; and each file's SHA-256."""
    digests: dict[str, str] = {}

    def spill(leaf: Any) -> Any:
        if not isinstance(leaf, np.ndarray) or leaf.nbytes < ARRAY_FILE_BYTES or leaf.dtype == object:
            return leaf
        os.makedirs(directory, exist_ok=True)
        name = f"{len(digests)}.npy"
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            writer = _HashingWriter(f)
            np.save(writer, leaf)  # Written in chunks of numpy's buffer size: no second copy in RAM.
            f.flush()
            os.fsync(f.fileno())
        digests[f"{relative}/{name}"] = writer.digest.hexdigest()
        return ArrayFile(f"{relative}/{name}")

    return _replace_leaves(state, spill), digests


def _internalize(state: Any, directory: str, digests: dict[str, str]) -> Any:
    """`state` with each `ArrayFile` replaced by its array, mapped read-only, after checking its checksum."""

    def load(leaf: Any) -> Any:
        if not isinstance(leaf, ArrayFile):
            return leaf
        path = os.path.join(directory, leaf.path)
        if not os.path.exists(path):
            raise ValueError(f"{path} is missing")
        if digests.get(leaf.path) != _sha256(path):
            raise ValueError(f"{path} does not match its checksum (truncated or corrupted)")
        return np.load(path, mmap_mode="r")

    return _replace_leaves(state, load)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: str, write) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


class Checkpointer:
    """Saves and restores a run's state (any nest torch.save can write) in `directory`."""

    def __init__(self, directory: str, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}.")
        self.directory = directory
        self._keep = keep

    def _indices(self) -> list[int]:
        names = glob.glob(os.path.join(self.directory, "ckpt-*.json"))
        return sorted(int(m.group(1)) for n in names if (m := _NAME.search(n)))

    def save(self, state: Any, step: int, metadata: dict[str, Any] | None = None) -> str:
        """Writes a new checkpoint and returns its path; then drops all but the newest `keep`."""
        os.makedirs(self.directory, exist_ok=True)
        for leftover in glob.glob(os.path.join(self.directory, "*.tmp-*")):  # From a writer that was killed.
            os.remove(leftover)
        indices = self._indices()
        index = indices[-1] + 1 if indices else 0
        path = os.path.join(self.directory, f"ckpt-{index}.pt")
        arrays = os.path.join(self.directory, f"ckpt-{index}.arrays")
        shutil.rmtree(arrays, ignore_errors=True)  # From a writer killed before its manifest.
        state, digests = _externalize(state, arrays, os.path.basename(arrays))
        _write_atomically(path, lambda f: torch.save(state, f))
        manifest = {"file": os.path.basename(path), "sha256": _sha256(path), "bytes": os.path.getsize(path),
                    "step": int(step), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **(metadata or {})}
        if digests:
            manifest["array_files"] = digests
        _write_atomically(os.path.join(self.directory, f"ckpt-{index}.json"),
                          lambda f: f.write(json.dumps(manifest, indent=2).encode()))
        for old in [i for i in self._indices() if i < index][:-(self._keep - 1) or None]:
            for suffix in (".pt", ".json"):
                try:
                    os.remove(os.path.join(self.directory, f"ckpt-{old}{suffix}"))
                except FileNotFoundError:
                    pass
            shutil.rmtree(os.path.join(self.directory, f"ckpt-{old}.arrays"), ignore_errors=True)
        return path

    def manifests(self) -> list[dict[str, Any]]:
        """The readable manifests, newest first (their checkpoint files are not verified here)."""
        found = []
        for index in reversed(self._indices()):
            try:
                with open(os.path.join(self.directory, f"ckpt-{index}.json")) as f:
                    found.append(json.load(f))
            except (OSError, ValueError):
                continue
        return found

    def load(self, manifest: dict[str, Any]) -> Any:
        """The state of the checkpoint `manifest` describes, after checking its file against the checksum."""
        path = os.path.join(self.directory, manifest["file"])
        if not os.path.exists(path):
            raise ValueError(f"{path} is missing")
        if _sha256(path) != manifest["sha256"]:
            raise ValueError(f"{path} does not match its checksum (truncated or corrupted)")
        state = torch.load(path, map_location="cpu", weights_only=False)
        return _internalize(state, self.directory, manifest.get("array_files", {})) if manifest.get(
            "array_files") else state

    def latest(self) -> tuple[Any, dict[str, Any]] | None:
        """(state, manifest) of the newest readable checkpoint; None when there is none at all.

        A checkpoint whose file is missing, truncated or altered (its checksum
        differs from the manifest) is skipped with a warning, and the previous
        one is tried.
        """
        indices = self._indices()
        if not indices:
            return None
        problems = []
        for index in reversed(indices):
            manifest_path = os.path.join(self.directory, f"ckpt-{index}.json")
            try:
                with open(manifest_path) as f:
                    manifest = json.load(f)
                state = self.load(manifest)
            except (OSError, ValueError, KeyError, RuntimeError, EOFError) as error:
                problems.append(f"ckpt-{index}: {error}")
                warnings.warn(f"Skipping checkpoint ckpt-{index} in {self.directory}: {error}; "
                              "trying the previous one.", RuntimeWarning, stacklevel=2)
                continue
            return state, manifest
        raise CheckpointError(f"No readable checkpoint in {self.directory}: " + "; ".join(problems))
