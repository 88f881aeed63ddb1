"""`SpeechDataset`: utterances -> (log-mel (n_mels, n_frames), targets, item index).

The targets of an utterance are its intent index and each slot's value index
(`quads.runtime.heads.Heads.targets`), one int64 vector per item.

Clips are checked when the corpus is read (`audio.scan_clip`: header bounds, empty or
NaN clips), so a bad clip stops the run (or is skipped with data.skip_bad_rows) before
training. Clip lengths are checked once, up front, from the file headers: with too_long="error" a
clip longer than the context stops the run before training starts; with "truncate" one
warning summarises the clips that will be cut. Items then only load, augment and
featurize.

Caching: a log-mel costs ~2-3 ms a clip on one core (load + STFT), little next to a
student forward/backward pass, so caching is off by default. `cache=True` keeps the mels
of a non-augmented dataset in memory (n_mels x n_frames x 4 bytes a clip: 128 KB at
80 x 400), per process, so it helps only with num_workers=0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from quads.audio import (
    AudioError,
    FeatureSettings,
    check_duration,
    fit,
    load_audio,
    log_mel,
    scan_clip,
    trim_silence,
)
from quads.data.augment import Augmenter
from quads.data.types import OUTLIER, CorpusError, Utterance
from quads.models.student import valid_frames
from quads.runtime.heads import Heads

logger = logging.getLogger("quads")


def targets_of(utterances: Sequence[Utterance], heads: Heads) -> list[list[int]]:
    """Each utterance's targets for the model's heads: its intent index (-1 for an outlier:
    none of them), then each slot's value index + 1 (0: absent). A CorpusError names an
    utterance whose intent or slot value is not the model's."""
    index = {label: i for i, label in enumerate(heads.labels)} | {OUTLIER: -1}
    out = []
    for u in utterances:
        if u.label not in index:
            raise CorpusError(
                f"{u.path}: utterance {u.id!r} has label {u.label!r}, which is not one of the "
                f"{len(heads.labels)} labels of this model"
            )
        try:
            out.append(heads.targets(index[u.label], dict(u.slots)))
        except KeyError as e:
            raise CorpusError(f"{u.path}: utterance {u.id!r}: {e.args[0]}") from None
    return out


PAD_FRAMES = 20  # a trimmed batch keeps a multiple of 0.2 s (few distinct shapes)


def trim_batch(batch: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Collate, then cut the batch's trailing padding down to its longest clip (rounded up to
    PAD_FRAMES mel frames). The student hides padding from attention and pooling, so this
    only saves compute: a batch of 4 s commands in an 8.5 s context costs half."""
    mel, targets, index = default_collate(batch)
    frames = -(-int(valid_frames(mel).max()) // PAD_FRAMES) * PAD_FRAMES
    return mel[..., : min(frames, mel.shape[-1])], targets, index


def clip_seconds(path: str) -> float:
    """A clip's duration from its header (cached: datasets are rebuilt every epoch)."""
    return scan_clip(path)


_reported: set[str] = set()


def check_lengths(utterances: Sequence[Utterance], settings: FeatureSettings) -> int:
    """Read every clip's duration from its header and apply settings.too_long once:
    raise AudioError naming the first too-long clip, or warn how many will be truncated.
    Returns the number of clips longer than the context."""
    too_long: list[tuple[float, Utterance]] = []
    for u in utterances:
        seconds = clip_seconds(str(u.path))
        if seconds > settings.context_seconds + 1e-3:
            too_long.append((seconds, u))
    if too_long:
        seconds, u = max(too_long, key=lambda t: t[0])
        what = (
            f"{len(too_long)} of {len(utterances)} clips are longer than the "
            f"{settings.context_seconds:.2f} s context (longest: {u.path}, {seconds:.2f} s)"
        )
        if settings.too_long == "error":
            raise AudioError(f"{what}; raise audio.context_seconds or set audio.too_long=truncate")
        if what not in _reported:  # once per process, not once per epoch
            _reported.add(what)
            logger.warning("%s; they are truncated", what)
    return len(too_long)


class SpeechDataset(Dataset):
    """Items are (mel (n_mels, n_frames) float32, targets (heads,) int64, item index).
    `labels`: the intents, or the model's `Heads` (intents and slots)."""

    def __init__(
        self,
        utterances: Sequence[Utterance],
        labels: Sequence[str] | Heads,
        settings: FeatureSettings,
        augment: Augmenter | None = None,
        cache: bool = False,
        check: bool = True,
    ) -> None:
        self.utterances = list(utterances)
        self.heads = labels if isinstance(labels, Heads) else Heads.of(labels)
        self.labels = list(self.heads.labels)
        self.settings = settings
        self.augment = augment
        if augment is not None and not augment.babble_from:  # babble from the other clips
            augment.babble_from = [str(u.path) for u in self.utterances]
        self.targets = torch.tensor(targets_of(self.utterances, self.heads), dtype=torch.int64)
        self.checked = check
        if check:
            check_lengths(self.utterances, settings)
        self._cache: dict[int, torch.Tensor] | None = {} if cache and augment is None else None
        self._worker_seed: int | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    def _augment(self, audio: np.ndarray) -> np.ndarray:
        info = get_worker_info()
        if info is not None and self._worker_seed != info.seed:
            # Each DataLoader worker holds a copy of the augmenter: give it its own stream.
            # info.seed differs per worker and per epoch (and follows torch's seed).
            self._worker_seed = info.seed
            self.augment.reseed([self.augment.seed, info.seed])
        return self.augment(audio)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        if self._cache is not None and index in self._cache:
            return self._cache[index], self.targets[index], index
        u, s = self.utterances[index], self.settings
        if not self.checked:  # warns (or raises) per clip
            check_duration(clip_seconds(str(u.path)), s.context_seconds, s.too_long, str(u.path))
        audio = load_audio(u.path, s.sample_rate, s.context_seconds, s.limits)
        audio = trim_silence(audio[: s.n_samples], s.trim)
        if self.augment is not None:
            audio = self._augment(self.augment.shift(audio, index))
        mel = log_mel(fit(audio, s.n_samples), s.n_mels)
        if self.augment is not None:
            mel = torch.from_numpy(self.augment.mask_mel(mel.numpy()))
        if self._cache is not None:
            self._cache[index] = mel
        return mel, self.targets[index], index
