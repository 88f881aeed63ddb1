"""Robustness: accuracy on a family of TTS voices (or a voice) the student never trained on.

    python benchmarks/robustness.py                     # all students, preset fsc-demo
    python benchmarks/robustness.py --only espeak       # one student
    python benchmarks/robustness.py --model runs/demo/quads-4bit/model.quads \
        --extra data/robust-espeak+flite:valid          # score a trained model only

Three families of voices (engines): espeak-ng (formant), Flite (diphone and statistical
parametric) and Kokoro (neural). 4-bit QUADS students (preset fsc-demo: base -> tiny.en,
1,400 training clips and 300 outlier clips voiced like the training split), leave engines out:
- `espeak`: trained (and validated) on espeak-ng voices only;
- `espeak+flite`: espeak-ng + Flite, never Kokoro;
- `mixed`: espeak-ng + Kokoro voices whose mixes never contain the Kokoro base voice
  `jm_kumo` (`quads synth --kokoro-holdout jm_kumo`), never Flite.
Every student is scored on the same clips:
- the mixed corpus: valid split (Kokoro mixes without `jm_kumo`), test split (half unseen
  espeak-ng voices, half `jm_kumo` alone at speeds 0.8-1.25);
- the Flite corpus (the `espeak+flite` student's): valid and test splits, 40 % Flite voices
  none of which another split holds;
- Kokoro validation voices: 300 clips of 16 Kokoro mixes without `jm_kumo`;
- Flite voices: 600 valid and 600 test clips, all Flite (31 speakers a split, all five
  base voices in each), speaker-disjoint.
Valid splits choose settings, test splits report. Each clip is also scored with pink noise
at 20, 10 and 5 dB SNR. `--extra PATH[:SPLIT]` scores further FSC-layout corpora.

Rerunning reuses the corpora and finished students. Results: benchmarks/results/NAME.json
and NAME.md (NAME: --name, default robustness), with a summary of each student's accuracy on
the families it trained on against those it never heard.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from provenance import provenance, provenance_line, sha256_file

if TYPE_CHECKING:
    from quads.data.types import Utterance
    from quads.runtime.predict import Model

HOLDOUT = "jm_kumo"
SNRS = (None, 20.0, 10.0, 5.0)  # None: the clean clip
# The engine shares of each student's corpus (espeak-ng voices the rest).
SHARES = {
    "espeak": {},
    "espeak+flite": {"flite": 0.4},
    "mixed": {"kokoro": {"train": 0.3, "valid": 0.3, "test": 0.5}},
}
TRAINED_ON = {
    "espeak": "espeak-ng",
    "espeak+flite": "espeak-ng + Flite",
    "mixed": f"espeak-ng + Kokoro (no {HOLDOUT})",
}
ENGINES = ("espeak", "flite", "kokoro")
RESULTS = Path(__file__).parent / "results"


def predict(model: Model, utterances: list[Utterance], snr: float | None) -> list[str]:
    """Labels predicted for the clips, with pink noise at `snr` dB (seeded per clip)."""
    from quads.data.augment import add_noise
    from quads.runtime.audio import load_audio

    audio = [load_audio(u.path) for u in utterances]
    if snr is not None:
        audio = [add_noise(a, np.random.default_rng(k), snr, "pink") for k, a in enumerate(audio)]
    return [p.best for p in model.predict(audio, 1, reject=False, batch_size=32)]


def by_group(truth: list[str], pred: list[str], groups: list[str], labels: list[str]) -> dict:
    """Utterances, accuracy and macro-F1 per group, and of all of them ("all")."""
    from quads.evaluation.metrics import breakdown

    by = breakdown(truth, pred, groups, labels, "fsc")
    by["all"] = breakdown(truth, pred, ["all"] * len(truth), labels, "fsc")["all"]
    return by


def score(loaded: Model, utterances: list[Utterance]) -> dict:
    """Accuracy per engine and noise level."""
    from quads.synth.corpus import engine_of

    truth = [u.label for u in utterances]
    engines = [engine_of(u.speaker) for u in utterances]
    out = {}
    for snr in SNRS:
        pred = predict(loaded, utterances, snr)
        name = "clean" if snr is None else f"{snr:g} dB"
        out[name] = by_group(truth, pred, engines, loaded.labels)
    return out


def test_sets(data: str) -> dict[str, tuple[Path, str]]:
    """Build (or check) the corpora every student is scored on: {name: (root, split)}."""
    from quads.demo import DEMO_CORPUS
    from quads.synth.corpus import build_corpus

    mixed, flite = Path(f"{data}-mixed"), Path(f"{data}-espeak+flite")
    kokoro, voices = Path(f"{data}-kokoro-valid"), Path(f"{data}-flite-voices")
    build_corpus(mixed, **DEMO_CORPUS["fsc"], shares=SHARES["mixed"], kokoro_holdout=HOLDOUT)
    build_corpus(flite, **DEMO_CORPUS["fsc"], shares=SHARES["espeak+flite"],
                 kokoro_holdout=HOLDOUT)  # fmt: skip
    only_valid = {"train": 0.0, "valid": 1.0, "test": 0.0}  # train/test: the minimum, espeak
    build_corpus(kokoro, "fsc", sizes={"train": 31, "valid": 300, "test": 31}, seed=11,
                 shares={"kokoro": only_valid}, kokoro_holdout=HOLDOUT)  # fmt: skip
    # Flite alone in valid and test, 600 clips each (one clip = 0.17 points), all five voices
    not_train = {"train": 0.0, "valid": 1.0, "test": 1.0}
    build_corpus(voices, "fsc", sizes={"train": 31, "valid": 600, "test": 600}, seed=13,
                 shares={"flite": not_train})  # fmt: skip
    return {
        "mixed valid split": (mixed, "valid"),
        "mixed test split": (mixed, "test"),
        "Flite valid split": (flite, "valid"),
        "Flite test split": (flite, "test"),
        "Kokoro valid voices": (kokoro, "valid"),
        "Flite voices valid": (voices, "valid"),
        "Flite voices test": (voices, "test"),
    }


def families(results: dict) -> str:
    """Each student's clean accuracy on the families it trained on and on each it never
    heard, pooled over the built-in valid (choose) or test (report) sets."""
    lines = [
        "| student | trained on | scored on | split | clips | clean accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["students"].items():
        heard = {e for e, n in r["train_clips"]["train"].items() if n}
        groups = [("its own families", heard)] + [
            (f"**{e}: never heard**", {e}) for e in ENGINES if e not in heard
        ]
        for label, engines in groups:
            for split in ("valid", "test"):
                n = correct = 0
                for test, by_snr in r["tests"].items():
                    if results["pooled"].get(test) != split:
                        continue
                    for e in engines & set(by_snr["clean"]):
                        m = by_snr["clean"][e]
                        n, correct = n + m["n"], correct + m["accuracy"] * m["n"]
                if n:
                    acc = f"{100 * correct / n:.1f} %"
                    row = f"| {name} | {r['trained_on']} | {label} | {split} | {n} | {acc} |"
                    lines.append(row)
    return "\n".join(lines) + "\n"


def where(extra: str) -> tuple[Path, str]:
    """`PATH[:SPLIT]` of --extra as (root, split); the test split by default."""
    path, _, split = extra.partition(":")
    return Path(path), split or "test"


def markdown(results: dict) -> str:
    lines = [
        "| student | trained on | test set | engine | clips | clean | 20 dB | 10 dB | 5 dB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["students"].items():
        for test, by_snr in r["tests"].items():
            for engine in by_snr["clean"]:
                cells = [f"{100 * by_snr[k][engine]['accuracy']:.1f} %" for k in by_snr]
                n = by_snr["clean"][engine]["n"]
                lines.append(
                    f"| {name} | {r['trained_on']} | {test} | {engine} | {n} | "
                    + " | ".join(cells)
                    + " |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=list(SHARES), help="train and score one student")
    p.add_argument("--preset", default="fsc-demo")
    p.add_argument("--data", default="data/robust", help="corpora go to DATA-<student>")
    p.add_argument("--out", default="runs/robust")
    p.add_argument(
        "--extra", nargs="*", default=[], help="more FSC-layout corpora to score: PATH[:SPLIT]"
    )
    p.add_argument("--set", action="append", default=[], help="config override, as quads train")
    p.add_argument("--model", type=Path, help="only score this .quads file on the --extra sets")
    p.add_argument(
        "--name", help="results file name, without suffix (robustness, or robustness-model)"
    )
    args = p.parse_args()
    from quads.api import load_model
    from quads.config import load_config
    from quads.data.corpus import read_corpus
    from quads.demo import DEMO_CORPUS
    from quads.synth.corpus import build_corpus
    from quads.train.baselines import compare, row_name

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.model:
        loaded = load_model(args.model)
        sets = {x: where(x) for x in args.extra}
        tests = {x: read_corpus(root, "fsc", split).utterances for x, (root, split) in sets.items()}
        trained = json.loads((args.model.parent / "config.json").read_text())["data"]["root"]
        student = {"trained_on": trained, "tests": {}}
        for name, utts in tests.items():
            student["tests"][name] = score(loaded, utts)
        results = {"provenance": provenance(args.model), "model": str(args.model)}
        results["students"] = {args.model.parent.name: student}
        stem = args.name or "robustness-model"
        (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
        table = provenance_line(results["provenance"]) + "\n\n" + markdown(results)
        (RESULTS / f"{stem}.md").write_text(table)
        print(table)
        return

    builtin = test_sets(args.data)
    tests = {**builtin, **{x: where(x) for x in args.extra}}
    # one model per student: each student's "model" and "model_sha256" name it
    results: dict = {"provenance": provenance()}
    results |= {"preset": args.preset, "overrides": args.set, "holdout": HOLDOUT}
    results["pooled"] = {name: split for name, (_, split) in builtin.items()}
    results["students"] = {}
    for name in [args.only] if args.only else list(SHARES):
        root, out = Path(f"{args.data}-{name}"), Path(f"{args.out}/{name}")
        t0 = time.time()
        summary = build_corpus(root, **DEMO_CORPUS["fsc"], shares=SHARES[name],
                               kokoro_holdout=HOLDOUT)  # fmt: skip
        cfg = load_config(args.preset, [f"data.root={root}", f"out_dir={out}", *args.set])
        compare(cfg, out, [("quads", True, 4)])
        model_path = out / row_name("quads", True, 4) / "model.quads"
        loaded = load_model(model_path)
        results["students"][name] = {
            "trained_on": TRAINED_ON[name],
            "model": str(model_path),
            "model_sha256": sha256_file(model_path),
            "train_clips": {s: v["engines"] for s, v in summary["splits"].items()},
            "minutes": round((time.time() - t0) / 60, 1),
            "tests": {
                test: score(loaded, read_corpus(path, "fsc", split).utterances)
                for test, (path, split) in tests.items()
            },
        }
    stem = (args.name or "robustness") + (f"-{args.only}" if args.only else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    table = provenance_line(results["provenance"]) + "\n\n" + families(results) + "\n"
    table += markdown(results)
    (RESULTS / f"{stem}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
