"""Re-voice a share of an `--intents` corpus's espeak-ng training speakers with another
engine, the rest of the corpus untouched (the `kw-pico` corpus of docs/robustness.md,
"Real people"): a paired test of one engine, free of a new corpus draw.

    python revoice.py GRAMMAR SOURCE OUT SHARE [--engine-share E=S ...]
    # e.g. examples/speech_commands.yaml data/kw-rv data/kw-pico 0.15 \
    #      --engine-share kokoro-en=0.3 --engine-share flite=0.2

The plan of SOURCE's synthetic corpus is drawn again (the same grammar, `full` size, seed 0
and engine shares as `quads synth` was given); whole espeak-ng training speakers, in a
seeded order, take a new Pico voice each until SHARE of the training clips are re-voiced,
each clip keeping its text, silences, level and noise floor. OUT gets SOURCE's valid.csv
and test.csv, links to its `wavs` and `real`, a train.csv pointing the re-voiced clips at
`wavs-pico/`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import random
import shutil
from pathlib import Path

from quads.synth import corpus as synth
from quads.synth import pico
from quads.synth.intents import load_grammar, plan_intents


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("grammar")
    p.add_argument("source", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("share", type=float)
    p.add_argument("--engine-share", action="append", default=[])
    a = p.parse_args()
    shares = {k: float(v) for k, v in (s.split("=") for s in a.engine_share)}
    clips = plan_intents(load_grammar(a.grammar), size="full", seed=0, shares=shares)
    train = [c for c in clips if c.split == "train"]
    by_speaker: dict[str, list] = {}
    for c in train:
        if c.speaker.engine == "espeak":
            by_speaker.setdefault(c.speaker.name, []).append(c)
    rng = random.Random("revoice-pico")
    order = sorted(by_speaker)
    rng.shuffle(order)
    new: dict[str, synth.Clip] = {}
    target = round(a.share * len(train))
    for name in order:
        if len(new) >= target:
            break
        voice = pico.PicoVoice.draw(rng)
        for c in by_speaker[name]:
            path = f"wavs-pico/{voice.name}/{c.id}.wav"
            new[c.id] = dataclasses.replace(c, speaker=voice, path=path)
    a.out.mkdir(parents=True, exist_ok=True)
    for name in ("wavs", "real"):
        if not (a.out / name).exists():
            (a.out / name).symlink_to((a.source / name).resolve())
    for split in ("valid", "test"):
        shutil.copy(a.source / f"{split}.csv", a.out / f"{split}.csv")
    synth.render_all(list(new.values()), a.out, synth.ESPEAK, desc="pico")
    rows = list(csv.DictReader((a.source / "train.csv").open()))
    by_path = {c.path: c for c in train}
    with (a.out / "train.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        for r in rows:
            c = by_path[r["path"]]
            if c.id in new:
                r = {**r, "path": new[c.id].path, "speaker": new[c.id].speaker.name}
            w.writerow(r)
    print(f"{len(new)} of {len(train)} training clips re-voiced by Pico")


if __name__ == "__main__":
    main()
