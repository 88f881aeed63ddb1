"""Reading and writing files a user hands us, safely.

- `load_checkpoint`: a torch checkpoint loaded without running code (`weights_only=True`:
  tensors and plain data only), with a one-line error naming the file for a missing, empty,
  truncated, corrupted or crafted one.
- `check_output_path`: an output file's folder exists and is writable, checked before the
  work whose result goes there.
- `printable`: text from a file (labels, paths) with control characters escaped, so that
  printing it cannot drive the terminal.
"""

from __future__ import annotations

import os
import pickle
import unicodedata
import zipfile
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and why."""


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """`torch.load(path, weights_only=True)` with errors that name the file.

    A pickle that asks for anything beyond tensors and plain data (a crafted payload) is
    refused, never run."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty checkpoint (0 bytes); it was never fully written")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights only" in first.lower() or "weights_only" in first.lower():
            raise CheckpointError(
                f"{path}: refused: the checkpoint holds objects other than tensors and plain "
                "data (it could run code); only load checkpoints written by quads"
            ) from None
        raise CheckpointError(f"{path}: corrupted checkpoint ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: truncated or corrupted checkpoint ({first.split('. ')[0][:200]})"
        ) from None


def check_output_path(path: str | os.PathLike) -> Path:
    """Raise (naming `path`) unless a file can be written there: its folder exists and is
    writable, and `path` is not a folder. Call it before the work, not after."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a file to write")
    if not folder.is_dir():
        raise FileNotFoundError(f"{path}: cannot write here: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{path}: cannot write here: folder {folder} is not writable")
    return path


def printable(text: object) -> str:
    """`text` with control and format characters (ESC, CR, BEL, bidi overrides, ...)
    shown as escapes, so printing it shows it instead of acting on the terminal."""
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c)[0] == "C" else c
        for c in str(text)
    )
