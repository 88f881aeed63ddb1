"""Every knob of QUADS in one place: dataclasses, loaded from YAML presets.

A preset is a YAML file whose top-level keys are the fields of `Config`
(`audio`, `data`, `model`, `quant`, `train`, `out_dir`). Keys a preset leaves out keep
the defaults below; an unknown key is an error that names the file and the key.
Built-in presets live in `src/quads/configs/` and are found by name (`fsc-demo`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from quads.runtime.heads import POOLINGS
from quads.runtime.quadsfile import VALID_BITS

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A preset or override that does not fit the config schema."""


class _Invalid(ConfigError):
    """A value out of its range, raised by a dataclass's `__post_init__`; `_from_dict`
    prefixes where it came from (the preset file or the --set override) and the section."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


# The values a knob may take. Checked when a config is built, so a bad value stops a run
# before any work (not after training). The training code imports these lists.
LAYOUTS = ("fsc", "slurp", "manifest", "folders", "hf")  # the corpus layouts (data/corpus.py)
TOO_LONG_POLICIES = ("truncate", "error")
KMEANS_INITS = ("kmeans++", "linear")
STRATEGIES = ("quads", "finetune", "distill", "distill_ptq", "distill_qat", "qat", "ptq")
PRECISIONS = ("auto", "bf16", "fp32")
SELECTIONS = ("accuracy", "accuracy+loss")
RESTARTS = ("latent", "quantized")  # train.restart: see train/transition.py
CODES = ("follow", "fixed")  # train.codes in MCT's quantization phases
REJECTION_SCORES = ("max_prob",)


def _one_of(key: str, value: Any, allowed: tuple) -> None:
    if isinstance(value, bool) or value not in allowed:
        raise _Invalid(key, f"expected one of {list(allowed)}, got {value!r}")


def _number(
    key: str, value: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False
) -> None:
    """`value` is a finite number in [lo, hi] (or (lo, hi] with lo_open)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        left = "(" if lo_open else "["
        span = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise _Invalid(key, f"expected a finite number in {span}, got {value!r}")


def _range(key: str, pair: tuple, lo: float | None = None, hi: float | None = None) -> None:
    """A (low, high) pair inside [lo, hi] with low <= high."""
    for v in pair:
        _number(key, v, lo, hi)
    if pair[0] > pair[1]:
        raise _Invalid(key, f"expected (low, high) with low <= high, got {list(pair)}")


@dataclass
class AudioConfig:
    sample_rate: int = 16000
    # Encoder audio context in seconds: commands of a few seconds need far less than
    # Whisper's 30 s window, and cost ~10x less at 3 s. None: from the data (the longest
    # training clip rounded up to 0.5 s, at most 30 s; quads.data.auto.resolve_config).
    context_seconds: float | None = None
    # A clip longer than the context: "error" refuses it, "truncate" cuts it with a warning.
    too_long: str = "truncate"
    # Refused from the file header before any decoding: longer clips (a hostile or mistaken
    # file would otherwise be read whole) and sample rates outside this range.
    max_file_seconds: float = 600.0
    min_sample_rate: int = 4000
    max_sample_rate: int = 384000
    # Silence trimming (runtime/audio.py `Trim`), the same in training and every runtime:
    # the speech is what lies within trim_range_db of the loudest 10 ms frame, plus a margin.
    trim: bool = True
    trim_range_db: float = 35.0
    trim_margin_seconds: float = 0.15

    def __post_init__(self) -> None:
        _one_of("sample_rate", self.sample_rate, (16000,))  # Whisper's frontend
        if self.context_seconds is not None:  # None: picked from the training data
            _number("context_seconds", self.context_seconds, 0, 30, lo_open=True)
            if abs(self.context_seconds * 100 - round(self.context_seconds * 100)) > 1e-6:
                raise _Invalid(
                    "context_seconds", f"must be a multiple of 0.01 s, got {self.context_seconds}"
                )
        _one_of("too_long", self.too_long, TOO_LONG_POLICIES)
        _number("max_file_seconds", self.max_file_seconds, 0, None, lo_open=True)
        _number("min_sample_rate", self.min_sample_rate, 1)
        _number("max_sample_rate", self.max_sample_rate, self.min_sample_rate)
        _number("trim_range_db", self.trim_range_db, 0, None, lo_open=True)
        _number("trim_margin_seconds", self.trim_margin_seconds, 0)


@dataclass
class AugmentConfig:
    """Training-clip augmentation (`data/augment.py`); the teacher hears the clean clip.

    The defaults are what helped on validation (README, "Augmentation, measured"): noise
    and gain on; babble and telephone band-limiting (small gains alone, and with them the
    demo model lost 2 points of clean validation accuracy and most of its rejection margin),
    pitch, reverberation and SpecAugment (each lowered validation accuracy) off: set their
    probabilities or ranges to use them."""

    enabled: bool = False
    prob: float = 0.8  # chance that a training clip is augmented at all
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    # Speed perturbation changes the clip's length, so the student's frames no longer line
    # up with the teacher's (cached from the clean clip): (1, 1), off, unless alpha = 0.
    speed: tuple[float, float] = (1.0, 1.0)
    pitch_semitones: tuple[float, float] = (0.0, 0.0)  # e.g. (-2, 2)
    reverb_prob: float = 0.0  # e.g. 0.3
    rt60: tuple[float, float] = (0.2, 0.8)  # seconds for the room's tail to fall 60 dB
    babble_prob: float = 0.0  # other training clips talking at the same time, e.g. 0.3
    babble_speakers: tuple[int, int] = (3, 6)
    babble_snr_db: tuple[float, float] = (5.0, 20.0)
    telephone_prob: float = 0.0  # 300-3400 Hz through an 8 kHz channel, e.g. 0.15
    mic_prob: float = 0.0  # a random microphone's band and resonances, e.g. 0.5
    # A recorder's window that stops mid-word (Speech Commands' 1 s clips): the clip loses
    # a share of its end drawn from cut_share. Only the end, so the frames that stay keep
    # their place against the teacher's.
    cut_prob: float = 0.0  # e.g. 0.3
    cut_share: tuple[float, float] = (0.05, 0.35)
    # Where the speech starts: trimmed synthetic clips start speaking 0.1-0.2 s in, real
    # recordings anywhere from 0 to 0.4 s. With shift_prob (drawn apart from `prob`) a
    # clip's onset moves by shift_seconds (< 0: its start dropped, > 0: a quiet lead-in
    # added), in whole feature-alignment windows; the teacher's targets move with it.
    # With cut_prob 0.3 it is ahead for every seed on the real keywords that choose
    # (level on those that report), so `commands-demo` has both; off elsewhere.
    shift_prob: float = 0.0  # e.g. 0.5
    shift_seconds: tuple[float, float] = (-0.16, 0.32)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    # SpecAugment on the student's log-mel (masks only, no time warping); widths in mel
    # bins and in 10 ms frames; e.g. 2 masks of each.
    spec_freq_masks: int = 0
    spec_freq_width: int = 8
    spec_time_masks: int = 0
    spec_time_width: int = 10

    def __post_init__(self) -> None:
        _number("prob", self.prob, 0, 1)
        _range("noise_snr_db", self.noise_snr_db, -20, 100)
        _range("speed", self.speed, 0.5, 2.0)
        _range("pitch_semitones", self.pitch_semitones, -12, 12)
        _number("reverb_prob", self.reverb_prob, 0, 1)
        _number("mic_prob", self.mic_prob, 0, 1)
        _number("cut_prob", self.cut_prob, 0, 1)
        _range("cut_share", self.cut_share, 0, 0.9)
        _number("shift_prob", self.shift_prob, 0, 1)
        _range("shift_seconds", self.shift_seconds, -2, 2)
        _range("gain_db", self.gain_db, -40, 40)


@dataclass
class DataConfig:
    # "fsc", "slurp", "manifest", "folders", "hf", or "auto": detected from the files
    # (quads.data.auto.resolve_config; the command line's --data detects it)
    layout: str = "fsc"
    root: str = "data/synth-fsc"
    skip_bad_rows: bool = False  # count and report broken rows instead of refusing the corpus
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0
    # A folder of speech that is none of the intents (wav/flac, any depth; relative to
    # root): trained towards a uniform intent distribution (outlier exposure), so such
    # speech gets a low confidence and is rejected. `quads synth --outliers N` makes one.
    outliers: str | None = None

    def __post_init__(self) -> None:
        _one_of("layout", self.layout, LAYOUTS + ("auto",))
        _number("num_workers", self.num_workers, 0, 256)


@dataclass
class ModelConfig:
    student: str = "tiny.en"  # built-in name, HF id/folder, openai .pt, or CTranslate2 folder
    teacher: str = "base"
    pretrained: bool = True  # False: random initialisation (the paper's ablation)
    student_layers: int | None = None  # keep only the first N encoder layers of the student
    pooling: str = "mean"  # "mean" or "attention"
    # Student/teacher layer pairs aligned by L1; -1 is the final layer.
    align_layers: list[tuple[int, int]] = field(default_factory=lambda: [(-1, -1)])
    align_pool: int = 4  # L1 compares features averaged over windows of this many frames

    def __post_init__(self) -> None:
        if self.student_layers is not None:
            _number("student_layers", self.student_layers, 1, 128)
        _one_of("pooling", self.pooling, POOLINGS)
        for pair in self.align_layers:
            if len(pair) != 2:
                raise _Invalid("align_layers", f"expected [student, teacher] pairs, got {pair!r}")
        _number("align_pool", self.align_pool, 1, 1500)


@dataclass
class QuantConfig:
    bits: int = 4  # b: 2^b centroids per layer; 16 = fp16 without codebook; 32 = none
    # Per-module overrides: fnmatch pattern on the module name -> bits.
    bits_per_module: dict[str, int] = field(default_factory=dict)
    quantize_conv: bool = True
    quantize_head: bool = True
    init: str = "kmeans++"  # "kmeans++" or "linear"
    kmeans_iters: int = 100  # 1-D k-means iterations are cheap; it stops once settled
    # Mixed precision (quant/mixed.py): bits per layer, chosen from `bits_choices` before
    # training so that the size figure (params x bits, MB = 10^6 bytes) fits the budget. The
    # run's config.json then holds the chosen bits_per_module.
    size_budget_mb: float | None = None
    bits_choices: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 8])

    def __post_init__(self) -> None:
        for key, bits in [("bits", self.bits)] + [
            (f"bits_per_module[{pattern!r}]", b) for pattern, b in self.bits_per_module.items()
        ]:
            if isinstance(bits, bool) or bits not in VALID_BITS:
                raise _Invalid(
                    key,
                    f"{bits!r} is not a valid bit width; use 1..8 (a codebook of 2^b "
                    "centroids), 16 (dense fp16) or 32 (no quantization)",
                )
        _one_of("init", self.init, KMEANS_INITS)
        _number("kmeans_iters", self.kmeans_iters, 1)
        if self.size_budget_mb is not None:
            _number("size_budget_mb", self.size_budget_mb, 0, lo_open=True)
            if self.bits_per_module:
                raise _Invalid(
                    "size_budget_mb", "chooses bits_per_module itself: give one of the two"
                )
        if not self.bits_choices or any(
            isinstance(b, bool) or b not in range(1, 9) for b in self.bits_choices
        ):
            raise _Invalid("bits_choices", f"{self.bits_choices!r}: use bit widths from 1 to 8")


@dataclass
class TrainConfig:
    # "quads" (MCT) or a baseline: "finetune", "distill", "distill_ptq", "distill_qat",
    # "qat", "ptq"; random initialisation is model.pretrained = false.
    strategy: str = "quads"
    iterations: int = 5  # MCT iterations (paper: 5)
    epochs_per_phase: int = 2  # E (paper: 2)
    final_quant_epochs: int = 1
    alpha: float = 0.5  # L_dis = alpha * L1(features) + (1 - alpha) * CE
    outlier_weight: float = 0.5  # lambda of outlier exposure (data.outliers), see losses.py
    # gamma in quantization phases: true trains them on L_dis too (the teacher in every phase)
    quant_distill: bool = True
    # Where a distillation phase after a quantization phase starts: "latent" (the
    # full-precision weights, trained straight-through during quantization) or "quantized"
    # (centroids[codes]). See train/transition.py.
    restart: str = "latent"
    # Codes in MCT's quantization phases: "follow" (quantization-aware: the latent weights
    # train straight-through, each weight takes its nearest centroid at every step, and the
    # centroids train by gradient) or "fixed" (only centroids, biases and LayerNorms train).
    codes: str = "follow"
    lr: float = 1e-4
    centroid_lr: float = 1e-4  # Adam step on centroids (see README: chosen on validation)
    head_lr: float = 1e-3
    # Layer-wise decay (ULMFiT's discriminative fine-tuning): encoder layer l of L trains at
    # lr * decay^(L - l), the convolutions and positions at lr * decay^L; 1 = one lr for all.
    layer_lr_decay: float = 1.0
    # Linear warm-up over the first N optimizer steps of every phase after the first.
    warmup_steps: int = 0
    weight_decay: float = 0.01
    batch_size: int = 16
    grad_clip: float = 1.0
    cache_teacher: bool = True  # teacher features computed once per corpus, kept on disk
    cache_dir: str | None = None  # default: <data.root>/.quads_cache
    seed: int = 0
    # Which deployable epoch ships: "accuracy" (the first with the best val_acc) or
    # "accuracy+loss" (of those with the best val_acc, the lowest val_loss).
    select: str = "accuracy"
    max_train_utterances: int | None = None
    threads: int | None = None
    # Matmuls in bf16 autocast ("bf16"), fp32 ("fp32"), or "auto": bf16 where the hardware
    # has it (a GPU with bf16, a CPU with AVX512-BF16/AMX).
    precision: str = "auto"

    def __post_init__(self) -> None:
        t = self
        _one_of("strategy", t.strategy, STRATEGIES)
        _number("iterations", t.iterations, 0)
        _number("epochs_per_phase", t.epochs_per_phase, 0)
        _number("final_quant_epochs", t.final_quant_epochs, 0)
        if t.iterations * t.epochs_per_phase + t.final_quant_epochs == 0:
            raise _Invalid("iterations", "the schedule has no epochs at all")
        _number("alpha", t.alpha, 0, 1)
        _number("outlier_weight", t.outlier_weight, 0, 100)
        for key in ("lr", "centroid_lr", "head_lr"):
            _number(key, getattr(t, key), 0, 10, lo_open=True)
        _number("layer_lr_decay", t.layer_lr_decay, 0, 1, lo_open=True)
        _number("warmup_steps", t.warmup_steps, 0)
        _number("weight_decay", t.weight_decay, 0)
        _number("batch_size", t.batch_size, 1, 65536)
        _number("grad_clip", t.grad_clip, 0, None, lo_open=True)
        _number("seed", t.seed, 0)
        if t.max_train_utterances is not None:
            _number("max_train_utterances", t.max_train_utterances, 1)
        if t.threads is not None:
            _number("threads", t.threads, 1, 1024)
        _one_of("precision", t.precision, PRECISIONS)
        _one_of("select", t.select, SELECTIONS)
        _one_of("restart", t.restart, RESTARTS)
        _one_of("codes", t.codes, CODES)


@dataclass
class RejectionConfig:
    """When a model answers "unknown" ("I didn't catch that") instead of an intent.

    The gate refuses clips without enough speech-like sound (silence, a click, white noise);
    the confidence threshold is chosen on the validation split so that in-domain accuracy
    drops by at most `max_accuracy_drop`, and is stored in the .quads file."""

    enabled: bool = True
    min_speech_seconds: float = 0.15  # speech-like frames a clip needs to pass the gate
    energy_floor_db: float = -50.0  # frames quieter than this (dBFS) are silence
    max_flatness: float = 0.35  # frames flatter than this (spectral flatness) are noise
    score: str = "max_prob"  # the confidence compared with the threshold
    max_accuracy_drop: float = 0.005  # on validation: correct answers the threshold may reject
    # Synthetic validation voices are heard with near certainty; people are not: a threshold
    # chosen on them alone rejected half of the real wake words. Capped at 0.5, it costs
    # 1.4-1.6 points on real keywords and wake words (validation: benchmarks/results/real-*).
    max_threshold: float = 0.5

    def __post_init__(self) -> None:
        _number("min_speech_seconds", self.min_speech_seconds, 0, 30)
        _number("energy_floor_db", self.energy_floor_db, -120, 0)
        _number("max_flatness", self.max_flatness, 0, 1)
        _one_of("score", self.score, REJECTION_SCORES)
        _number("max_accuracy_drop", self.max_accuracy_drop, 0, 1)
        _number("max_threshold", self.max_threshold, 0, 1)


@dataclass
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rejection: RejectionConfig = field(default_factory=RejectionConfig)
    out_dir: str = "runs/quads"

    def __post_init__(self) -> None:
        if not self.out_dir:
            raise _Invalid("out_dir", "must not be empty")


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Turn a YAML value into the annotated type `tp`, or raise ConfigError naming `where`."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_convert(a, v, where) for a, v in zip(args, value))
        item = args[0] if args else Any
        return origin(_convert(item, v, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and not isinstance(value, bool):
        try:  # YAML reads "1e-3" (no dot) as a string
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _from_dict(cls: type, data: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except _Invalid as e:
        raise ConfigError(f"{where}.{e.key}: {e.problem}") from None


def resolve_preset(name_or_path: str) -> Path:
    """A preset name (`fsc-demo`) or a YAML path -> the YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path
    builtin = PRESET_DIR / f"{name_or_path}.yaml"
    if not builtin.is_file():
        names = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise ConfigError(f"no preset or file named {name_or_path!r}; built-in presets: {names}")
    return builtin


def load_config(name_or_path: str | None = None, overrides: list[str] | None = None) -> Config:
    """Load a preset (or the defaults) and apply `section.key=value` overrides.

    Another corpus (`data.root=...`) without a `data.layout=...` has its layout detected
    (`auto`): a preset's layout belongs to its own corpus. Every value is checked here,
    before any work: an error names the preset file, or the `--set` override that brought
    the bad key or value."""
    overrides = list(overrides or [])
    keys = {item.partition("=")[0].strip() for item in overrides}
    if "data.root" in keys and "data.layout" not in keys:
        overrides.append("data.layout=auto")
    data: dict = {}
    where = "defaults"
    if name_or_path:
        path = resolve_preset(name_or_path)
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    cfg = _from_dict(Config, data, where)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
            node = child
        try:
            node[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: not a valid value ({e})") from None
        # Blame this override, not the preset, for what it brings.
        cfg = _from_dict(Config, data, f"override {item!r}: Config")
    return cfg


def to_dict(cfg: Any) -> dict:
    """A config as plain YAML-able data (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config dataclass from `to_dict` output (e.g. stored in a checkpoint)."""
    return _from_dict(cls, data, cls.__name__)
