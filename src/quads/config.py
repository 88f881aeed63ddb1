"""Every knob of QUADS in one place: dataclasses, loaded from YAML presets.

A preset is a YAML file whose top-level keys are the fields of `Config`
(`audio`, `data`, `model`, `quant`, `train`, `out_dir`). Keys a preset leaves out keep
the defaults below; an unknown key is an error that names the file and the key.
Built-in presets live in `src/quads/configs/` and are found by name (`fsc-demo`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A preset or override that does not fit the config schema."""


@dataclass
class AudioConfig:
    sample_rate: int = 16000
    # Encoder audio context in seconds: commands of a few seconds need far less than
    # Whisper's 30 s window, and cost ~10x less at 3 s.
    context_seconds: float = 4.0
    # A clip longer than the context: "error" refuses it, "truncate" cuts it with a warning.
    too_long: str = "truncate"


@dataclass
class AugmentConfig:
    """Training-clip augmentation (`data/augment.py`); the teacher hears the clean clip."""

    enabled: bool = False
    prob: float = 0.8  # chance that a training clip is augmented at all
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    # Speed perturbation changes the clip's length, so the student's frames no longer line
    # up with the teacher's (cached from the clean clip): (1, 1), off, unless alpha = 0.
    speed: tuple[float, float] = (1.0, 1.0)
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.2, 0.8)  # seconds for the room's tail to fall 60 dB
    babble_prob: float = 0.3  # other training clips talking at the same time
    babble_speakers: tuple[int, int] = (3, 6)
    babble_snr_db: tuple[float, float] = (5.0, 20.0)
    telephone_prob: float = 0.15  # 300-3400 Hz through an 8 kHz channel
    gain_db: tuple[float, float] = (-6.0, 6.0)
    # SpecAugment on the student's log-mel (masks only, no time warping); widths in mel
    # bins and in 10 ms frames.
    spec_freq_masks: int = 2
    spec_freq_width: int = 8
    spec_time_masks: int = 2
    spec_time_width: int = 10


@dataclass
class DataConfig:
    layout: str = "fsc"  # "fsc" or "slurp"
    root: str = "data/synth-fsc"
    skip_bad_rows: bool = False  # count and report broken rows instead of refusing the corpus
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0


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


@dataclass
class QuantConfig:
    bits: int = 4  # b: 2^b centroids per layer; 16 = fp16 without codebook; 32 = none
    # Per-module overrides: fnmatch pattern on the module name -> bits.
    bits_per_module: dict[str, int] = field(default_factory=dict)
    quantize_conv: bool = True
    quantize_head: bool = True
    init: str = "kmeans++"  # "kmeans++" or "linear"
    kmeans_iters: int = 100  # 1-D k-means iterations are cheap; it stops once settled


@dataclass
class TrainConfig:
    # "quads" (MCT) or a baseline: "finetune", "distill", "distill_ptq", "distill_qat",
    # "qat", "ptq"; random initialisation is model.pretrained = false.
    strategy: str = "quads"
    iterations: int = 5  # MCT iterations (paper: 5)
    epochs_per_phase: int = 2  # E (paper: 2)
    final_quant_epochs: int = 1
    alpha: float = 0.5  # L_dis = alpha * L1(features) + (1 - alpha) * CE
    quant_distill: bool = False  # also distil during quantization phases
    lr: float = 1e-4
    # Adam step on centroids: from a 4-bit PTQ model (91.3 % val) one epoch at 1e-4 recovered
    # 94.3 % (full precision 95 %); 1e-3 overshoots and recovered nothing.
    centroid_lr: float = 1e-4
    head_lr: float = 1e-3
    # Linear warm-up over the first N optimizer steps of every phase after the first: without
    # it the first distillation epoch after a quantization phase fell from 91.2 to 84.8 % val.
    warmup_steps: int = 0
    weight_decay: float = 0.01
    batch_size: int = 16
    grad_clip: float = 1.0
    cache_teacher: bool = True  # teacher features computed once per corpus, kept on disk
    cache_dir: str | None = None  # default: <data.root>/.quads_cache
    seed: int = 0
    max_train_utterances: int | None = None
    threads: int | None = None
    # Matmuls in bf16 autocast ("bf16"), fp32 ("fp32"), or "auto": bf16 where the hardware
    # has it (a GPU with bf16, a CPU with AVX512-BF16/AMX; ~1.7x faster training here).
    precision: str = "auto"


@dataclass
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out_dir: str = "runs/quads"


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
    return cls(**kwargs)


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
    """Load a preset (or the defaults) and apply `section.key=value` overrides."""
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
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw)
    return _from_dict(Config, data, where)


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
