"""Shared fixtures: tiny synthetic corpora, built once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _tiny_corpus(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Path:
    if shutil.which("espeak-ng") is None:  # `make test` installs it: its absence is a failure
        pytest.fail("espeak-ng is not installed (make test installs it with apt-get)")
    from quads.synth.corpus import build_corpus

    root = tmp_path_factory.mktemp(f"{layout}-tiny")
    build_corpus(root, layout, preset="tiny", seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def fsc_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny synthetic FSC corpus (155 clips, all 31 intents in every split)."""
    return _tiny_corpus(tmp_path_factory, "fsc")


@pytest.fixture(scope="session")
def slurp_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny synthetic SLURP corpus (240 clips, all 60 intents in every split)."""
    return _tiny_corpus(tmp_path_factory, "slurp")


@pytest.fixture(scope="session")
def whispers(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A tiny random Whisper student (d 32) and teacher (d 48), 2 layers each, HF format."""
    from helpers import tiny_whisper

    root = tmp_path_factory.mktemp("whispers")
    return tiny_whisper(root / "student", 32, 2), tiny_whisper(root / "teacher", 48, 2)
