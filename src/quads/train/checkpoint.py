"""Checkpoints without pickle, written atomically, and a lock on a run folder.

A checkpoint holds only tensors, numbers, strings, lists and dicts, and is read back with
`torch.load(weights_only=True)`: a crafted file in a shared run folder is refused, never
run. Writes go to a unique temporary name and are renamed into place, so a crash or a
second writer never leaves half a file under the real name.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from quads.safe_io import CheckpointError, load_checkpoint

__all__ = ["CheckpointError", "RunBusyError", "load", "run_lock", "save"]


class RunBusyError(RuntimeError):
    """Another live run writes to the same folder."""


def save(obj: dict, path: Path) -> None:
    """torch.save `obj` to `path` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict:
    """Read a checkpoint written by `save`; never executes code from the file."""
    obj = load_checkpoint(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a quads checkpoint")
    return obj


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` while a run writes into it; a second run into the
    same folder fails at once with RunBusyError. The OS frees the lock if the process dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(
                f"{folder}: another run is writing to this folder; wait for it to finish or "
                "choose another out_dir"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
