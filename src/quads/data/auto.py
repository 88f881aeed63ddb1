"""What a user need not say, found from the data: the corpus layout, the audio context, and
a note on audio that is not 16 kHz mono.

`resolve_config(cfg)` fills in `data.layout = "auto"` (detected from the files),
`audio.context_seconds = None` (the longest training clip, rounded up to 0.5 s, at most
30 s) and, for a manifest given as one CSV file, the teacher cache folder; it logs each
choice. The command line calls it before training; a `Config` it returns trains as is.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from quads.audio import SAMPLE_RATE, AudioError
from quads.config import Config
from quads.data.corpus import detect_layout, read_corpus
from quads.data.types import Utterance

logger = logging.getLogger("quads")

MAX_CONTEXT = 30.0  # Whisper's window
CONTEXT_STEP = 0.5  # the picked context is rounded up to a multiple of this
# People take longer than synthesizers to say the same command (pauses, slower speech): the
# context leaves this much beyond the longest training clip. Real wake words, trimmed, ran
# up to 4.7 s where their synthetic clips ran 1.5 s (benchmarks/results/real-wake-words*).
CONTEXT_HEADROOM = 1.0


@dataclass
class AudioScan:
    """What the headers of a set of clips say."""

    longest: float  # seconds
    longest_path: Path
    formats: Counter  # (sample rate, channels) -> clips

    @property
    def converted(self) -> int:
        """Clips that load with a downmix or a resampling."""
        return sum(n for (rate, ch), n in self.formats.items() if (rate, ch) != (SAMPLE_RATE, 1))


def scan_audio(utterances: Sequence[Utterance]) -> AudioScan:
    """Durations, sample rates and channel counts from the clips' headers (no decoding)."""
    if not utterances:
        raise ValueError("no clips to scan")
    formats: Counter = Counter()
    longest, longest_path = -1.0, utterances[0].path
    for u in utterances:
        try:
            info = sf.info(str(u.path))
        except (sf.SoundFileError, RuntimeError) as e:
            raise AudioError(f"{u.path}: not a readable audio file ({e})") from None
        formats[(info.samplerate, info.channels)] += 1
        if info.duration > longest:
            longest, longest_path = info.duration, u.path
    return AudioScan(longest, longest_path, formats)


def note_audio(scan: AudioScan, what: str) -> None:
    """One log line about clips that are not 16 kHz mono (they are converted as they load)."""
    if not scan.converted:
        return
    total = sum(scan.formats.values())
    kinds = ", ".join(
        f"{rate} Hz {'mono' if ch == 1 else 'stereo' if ch == 2 else f'{ch} channels'}: {n}"
        for (rate, ch), n in sorted(scan.formats.items())
    )
    logger.info(
        "%s: %d of %d clips are not 16 kHz mono (%s); each is downmixed to mono and resampled "
        "to 16 kHz (polyphase, scipy resample_poly) as it loads",
        what,
        scan.converted,
        total,
        kinds,
    )


def pick_context(longest: float) -> float:
    """Seconds of encoder context for clips of at most `longest` seconds, with headroom."""
    seconds = math.ceil((longest + CONTEXT_HEADROOM) / CONTEXT_STEP) * CONTEXT_STEP
    return min(MAX_CONTEXT, seconds)


def needs_resolving(cfg: Config) -> bool:
    """Whether some setting is left to the data (layout "auto", no context length)."""
    return cfg.data.layout == "auto" or cfg.audio.context_seconds is None


def resolve_config(cfg: Config) -> Config:
    """Fill in the settings left to the data (see the module docstring); returns `cfg`."""
    d = cfg.data
    if d.layout == "auto":
        d.layout = detect_layout(d.root)
        logger.info("data.layout: %s corpus at %s (detected)", d.layout, d.root)
    if cfg.train.cache_dir is None and Path(d.root).is_file():
        cfg.train.cache_dir = str(Path(d.root).parent / ".quads_cache")
    train = read_corpus(d.root, d.layout, "train", d.skip_bad_rows)
    scan = scan_audio(train.utterances)
    note_audio(scan, f"{d.root} (train)")
    if cfg.audio.context_seconds is None:
        cfg.audio.context_seconds = pick_context(scan.longest)
        logger.info(
            "audio.context_seconds: %.1f (longest training clip: %.2f s, %s)",
            cfg.audio.context_seconds,
            scan.longest,
            scan.longest_path,
        )
    return cfg
