"""Where a benchmark result comes from: the commit of this repository (and whether tracked
files had uncommitted changes), the sha256 of the model file measured, the machine and the
time. Every script in benchmarks/ puts `provenance(model)` under a "provenance" key of each
JSON results file it writes, and `provenance_line(...)` at the top of each Markdown one.

    from provenance import provenance  # benchmarks/ is on sys.path when a script there runs
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    """Output of `git ARGS` in this repository, or None where git or the repository is
    missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(model: str | Path | None = None) -> dict:
    """{"commit", "dirty", ["model", "model_sha256",] "machine", "date"}: the commit of
    HEAD ("unknown" outside a git checkout), whether tracked files differ from it, the model
    file and its sha256 (only when `model` is given), the machine and the UTC time."""
    commit = _git("rev-parse", "HEAD") or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no") if commit != "unknown" else None
    out: dict = {"commit": commit, "dirty": bool(status)}
    if model is not None:
        out["model"] = str(model)
        out["model_sha256"] = sha256_file(model)
    out["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    out["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return out


def provenance_line(prov: dict) -> str:
    """One Markdown line: "Measured at commit X on MACHINE, model sha256 Y." (the model part
    only when the provenance names one)."""
    commit = f"`{prov['commit'][:12]}`" + (" (with uncommitted changes)" if prov["dirty"] else "")
    m = prov["machine"]
    machine = f"{m['platform']} ({m['processor']}, {m['cpus']} CPUs, Python {m['python']})"
    model = f", model sha256 `{prov['model_sha256']}`" if "model_sha256" in prov else ""
    return f"Measured at commit {commit} on {machine}{model}, {prov['date']}."
