"""Robustness: accuracy on a TTS engine (or voice) the student never trained on, and in noise.

    python benchmarks/robustness.py                     # both students, preset fsc-demo
    python benchmarks/robustness.py --only espeak       # one student
    python benchmarks/robustness.py --extra data/kokoro-fsc-eval --set data.augment.enabled=true
    python benchmarks/robustness.py --model runs/demo/quads-4bit/model.quads \
        --extra data/synth-fsc data/kokoro-fsc-eval         # score a trained model only

Two 4-bit QUADS students (preset fsc-demo: base -> tiny.en, 840 training clips and the
demo's 300 outlier clips, voiced like the training split), leave one engine out:
- `espeak`: trained (and validated) on espeak-ng voices only;
- `mixed`:  trained on espeak-ng + Kokoro voices whose mixes never contain the Kokoro base
  voice `jm_kumo` (`quads synth --kokoro-holdout jm_kumo`).
Both are tested on the same clips: the test split of the mixed corpus, half unseen
espeak-ng voices, half `jm_kumo` alone (at speeds 0.8-1.25), so for `espeak` the Kokoro
half is an engine family it never heard and for `mixed` a base voice no training mix holds.
Each test clip is also scored with pink noise added at 20, 10 and 5 dB SNR. `--extra`
scores further corpora in FSC layout (their test split), e.g. Kokoro mixes of all voices.

Rerunning reuses the corpora and finished students. Results: benchmarks/results/robustness.json
and robustness.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from quads.audio import load_audio, log_mel
from quads.config import load_config
from quads.data.augment import add_noise
from quads.data.corpus import Utterance, read_corpus
from quads.data.dataset import fit
from quads.data.synth import build_corpus, engine_of
from quads.demo import DEMO_CORPUS
from quads.evaluate.metrics import breakdown
from quads.inference import load_model
from quads.train.baselines import compare, row_name

HOLDOUT = "jm_kumo"
SNRS = (None, 20.0, 10.0, 5.0)  # None: the clean clip
# Kokoro's share per split of each student's corpus; both are tested on the mixed one.
SHARES = {
    "espeak": {"train": 0.0, "valid": 0.0, "test": 0.0},
    "mixed": {"train": 0.3, "valid": 0.3, "test": 0.5},
}
RESULTS = Path(__file__).parent / "results"


@torch.inference_mode()
def predict(model_path: Path, utterances: list[Utterance], snr: float | None) -> list[str]:
    """Labels predicted for the clips, with pink noise at `snr` dB (seeded per clip)."""
    loaded = load_model(model_path)
    s, model = loaded.settings, loaded.model
    preds: list[str] = []
    for start in range(0, len(utterances), 32):
        mels = []
        for k, u in enumerate(utterances[start : start + 32]):
            audio = load_audio(u.path, s.sample_rate)[: s.n_samples]
            if snr is not None:
                audio = add_noise(audio, np.random.default_rng(start + k), snr, "pink")
            mels.append(log_mel(fit(audio, s.n_samples), s.n_mels))
        preds += [model.labels[int(i)] for i in model(torch.stack(mels)).argmax(-1)]
    return preds


def score(model_path: Path, utterances: list[Utterance], labels: list[str]) -> dict:
    """Accuracy per engine and noise level."""
    truth = [u.label for u in utterances]
    engines = [engine_of(u.speaker) for u in utterances]
    out = {}
    for snr in SNRS:
        pred = predict(model_path, utterances, snr)
        by = breakdown(truth, pred, engines, labels, "fsc")
        by["all"] = breakdown(truth, pred, ["all"] * len(truth), labels, "fsc")["all"]
        out["clean" if snr is None else f"{snr:g} dB"] = by
    return out


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
    p.add_argument("--extra", nargs="*", default=[], help="more FSC-layout corpora to test on")
    p.add_argument("--set", action="append", default=[], help="config override, as quads train")
    p.add_argument("--model", type=Path, help="only score this .quads file on the --extra sets")
    p.add_argument("--name", default="robustness", help="results file name (without suffix)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.model:
        labels = load_model(args.model).labels
        tests = {str(x): read_corpus(x, "fsc", "test").utterances for x in args.extra}
        trained = json.loads((args.model.parent / "config.json").read_text())["data"]["root"]
        student = {"trained_on": trained, "tests": {}}
        for name, utts in tests.items():
            student["tests"][name] = score(args.model, utts, labels)
        results = {"model": str(args.model), "students": {args.model.parent.name: student}}
        (RESULTS / "robustness-model.json").write_text(json.dumps(results, indent=2) + "\n")
        table = markdown(results)
        (RESULTS / "robustness-model.md").write_text(table)
        print(table)
        return

    test_root = Path(f"{args.data}-mixed")
    # The valid split chooses (e.g. augmentation: --set data.augment.enabled=true), the test
    # split reports; the espeak student never trained on either's Kokoro voices.
    tests = {
        "mixed valid split": (test_root, "valid"),
        "mixed test split": (test_root, "test"),
        **{str(x): (Path(x), "test") for x in args.extra},
    }
    results: dict = {"preset": args.preset, "overrides": args.set, "holdout": HOLDOUT}
    results["students"] = {}
    for name in [args.only] if args.only else list(SHARES):
        root, out = Path(f"{args.data}-{name}"), Path(f"{args.out}/{name}")
        t0 = time.time()
        summary = build_corpus(
            root, **DEMO_CORPUS["fsc"], kokoro_share=SHARES[name], kokoro_holdout=HOLDOUT
        )
        cfg = load_config(args.preset, [f"data.root={root}", f"out_dir={out}", *args.set])
        compare(cfg, out, [("quads", True, 4)])
        model_path = out / row_name("quads", True, 4) / "model.quads"
        if name != "mixed":
            build_corpus(test_root, "fsc", preset="small", kokoro_share=SHARES["mixed"],
                         kokoro_holdout=HOLDOUT)  # fmt: skip
        labels = load_model(model_path).labels
        results["students"][name] = {
            "trained_on": "espeak-ng" if name == "espeak" else f"espeak-ng + Kokoro (no {HOLDOUT})",
            "train_clips": {s: v["engines"] for s, v in summary["splits"].items()},
            "minutes": round((time.time() - t0) / 60, 1),
            "tests": {
                test: score(model_path, read_corpus(path, "fsc", split).utterances, labels)
                for test, (path, split) in tests.items()
            },
        }
    stem = args.name + (f"-{args.only}" if args.only else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (RESULTS / f"{stem}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
