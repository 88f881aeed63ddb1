"""Rejection ("I didn't catch that") and bounded memory, measured on a trained model.

    python benchmarks/rejection.py [--model runs/demo/quads-4bit/model.quads]
                                   [--data data/synth-fsc] [--work runs/rejection-bench]

1. Calibrates the model's confidence threshold on the validation split (`quads calibrate`:
   at most --max-drop of the validation clips it gets right may be rejected), in a copy.
2. In-domain: test-split accuracy without and with rejection (rejections count as wrong).
3. No speech: 3 s of digital silence, one sample, 10 ms of silence, and white noise at
   -40, -20 and -10 dBFS (RMS): no intent may come back.
4. Out-of-domain speech: commands outside the model's intents (weather, alarms, calls, ...),
   voiced by espeak-ng speakers drawn as the corpus draws them (same levels, silences and
   noise floor): the share answered "unknown".
5. Peak memory (max RSS, /usr/bin/time -v) of `quads predict` on an 80 KB wav whose header
   declares 1 Hz, and on 1,000 clips in one call.

Writes benchmarks/results/rejection.{json,md}. The test split is read once, for the
reported numbers; the threshold comes from the validation split alone.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
from provenance import provenance, provenance_line

if TYPE_CHECKING:
    from quads.synth.corpus import Speaker

RESULTS = Path(__file__).parent / "results"
SR = 16000

# Requests no FSC intent covers (FSC: lights, lamp, music, heat, volume, language, bring
# juice/newspaper/shoes/socks).
OUT_OF_DOMAIN = [
    "what's the weather like tomorrow",
    "set an alarm for seven in the morning",
    "call my mother",
    "order a large pizza",
    "what time is it",
    "tell me a joke",
    "read my new emails",
    "open the garage door",
    "lock the front door",
    "start the dishwasher",
    "book a table for two tonight",
    "how far is the airport",
    "add milk to the shopping list",
    "send a message to john",
    "take a picture",
    "what is the capital of france",
    "remind me to water the plants",
    "show me the latest news",
    "navigate to the nearest gas station",
    "start a timer for ten minutes",
    "how tall is mount everest",
    "close the curtains",
    "feed the cat",
    "vacuum the living room",
    "what's on my calendar today",
    "translate good morning into spanish",
    "buy more coffee",
    "open the window",
    "play the next episode",
    "who won the football game",
    "check my bank balance",
    "find a recipe for pancakes",
    "spell the word necessary",
    "wake me up in twenty minutes",
    "is it going to rain this weekend",
    "turn the page",
    "record a voice memo",
    "what's the traffic like",
    "how do you say thank you in japanese",
    "cancel my dentist appointment",
]


def speakers(n: int, seed: int) -> list[Speaker]:
    from quads.synth.corpus import ACCENTS, VARIANTS, Speaker

    rng = random.Random(seed)
    return [
        Speaker(
            rng.choice(ACCENTS),
            rng.choice(VARIANTS),
            rng.randint(130, 190),
            rng.randint(30, 70),
            rng.randint(0, 3),
        )
        for _ in range(n)
    ]


def make_ood(folder: Path, per_phrase: int, seed: int) -> list[Path]:
    """Out-of-domain commands, each by `per_phrase` random speakers (cached on disk)."""
    from quads.synth.corpus import Clip, synthesize

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i, text in enumerate(OUT_OF_DOMAIN):
        for j, spk in enumerate(speakers(per_phrase, seed * 1000 + i)):
            path = folder / f"ood-{i:02d}-{j}.wav"
            paths.append(path)
            if path.is_file():
                continue
            clip = Clip(
                id=f"{i:04x}{j:04x}",
                split="test",
                speaker=spk,
                text=text,
                label="",
                path=str(path),
                lead=rng.uniform(0.1, 0.5),
                tail=rng.uniform(0.1, 0.5),
                level=rng.uniform(0.3, 0.9),
                noise_db=rng.uniform(35, 60),
            )
            sf.write(str(path), synthesize(clip), SR, subtype="PCM_16")
    return paths


def close_to_outliers(data: Path, cutoff: float = 0.75) -> list[int]:
    """Indices of OUT_OF_DOMAIN phrases that match a transcript of the corpus's outlier
    clips (`quads synth --outliers`) at a difflib ratio of `cutoff` or more."""
    transcripts = data / "outliers" / "transcripts.csv"
    if not transcripts.is_file():
        return []
    with transcripts.open(encoding="utf-8") as f:
        said = [row["transcript"].lower() for row in csv.DictReader(f)]
    return [
        i
        for i, text in enumerate(OUT_OF_DOMAIN)
        if difflib.get_close_matches(text.lower(), said, n=1, cutoff=cutoff)
    ]


def make_no_speech(folder: Path, seed: int) -> dict[str, list[Path]]:
    """Silence (3 s, one sample, 10 ms) and white noise at three levels, 10 clips each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made: dict[str, list[Path]] = {
        "silence 3 s": [(folder / "silence-3s.wav", np.zeros(3 * SR))],
        "one sample": [(folder / "one-sample.wav", np.zeros(1))],
        "10 ms silence": [(folder / "silence-10ms.wav", np.zeros(SR // 100))],
    }
    for db in (-40, -20, -10):
        made[f"white noise {db} dBFS"] = [
            (folder / f"noise{db}-{k}.wav", rng.standard_normal(3 * SR) * 10 ** (db / 20))
            for k in range(10)
        ]
    out = {}
    for name, items in made.items():
        for path, audio in items:
            sf.write(str(path), np.clip(audio, -1, 1).astype(np.float32), SR, subtype="PCM_16")
        out[name] = [p for p, _ in items]
    return out


def peak_rss_mb(argv: list[str]) -> tuple[float, int]:
    """Max resident memory (MiB) and exit code of a command, from /usr/bin/time -v."""
    done = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True)
    kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if kb is None:
        raise RuntimeError(f"no memory figure from /usr/bin/time: {done.stderr[-500:]}")
    return int(kb.group(1)) / 1024, done.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/demo/quads-4bit/model.quads")
    p.add_argument("--data", default="data/synth-fsc")
    p.add_argument("--work", default="runs/rejection-bench")
    p.add_argument("--max-drop", type=float, default=0.005)
    p.add_argument("--ood-speakers", type=int, default=3, help="speakers per OOD phrase")
    p.add_argument("--clips", type=int, default=1000, help="clips of the memory run")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from quads.api import load_model
    from quads.config import RejectionConfig
    from quads.data.corpus import read_corpus
    from quads.evaluation.rejection import calibrate_model
    from quads.quant.packing import rewrite_meta

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    result: dict = {"provenance": provenance(args.model)}
    result |= {"model": str(args.model), "data": str(args.data)}

    def save(stage: str) -> None:
        """Results so far (each stage is written as soon as it is measured)."""
        result["seconds"] = round(time.time() - t0)
        result["stages_done"] = [*result.get("stages_done", []), stage]
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "rejection.json").write_text(json.dumps(result, indent=2))
        (RESULTS / "rejection.md").write_text(markdown(result))
        print(f"[{result['seconds']} s] {stage} done", flush=True)

    # 1. calibrate on validation, in a copy of the model
    model = work / "model.quads"
    shutil.copyfile(args.model, model)
    loaded = load_model(model)
    layout = loaded.meta.get("layout", "fsc")
    quads = [sys.executable, "-m", "quads.cli", "predict", str(model)]

    # peak memory on a 1 Hz header (refused from its header: seconds)
    one_hz = work / "one-hz-header.wav"
    rng = np.random.default_rng(args.seed)
    sf.write(str(one_hz), (rng.standard_normal(40_000) * 0.1).astype(np.float32), 1, "PCM_16")
    mb_one_hz, code_one_hz = peak_rss_mb([*quads, str(one_hz)])
    result["memory"] = {
        "predict_1hz_header_wav_mb": round(mb_one_hz),
        "predict_1hz_exit_code": code_one_hz,
        "one_hz_file_bytes": one_hz.stat().st_size,
    }
    save("memory, 1 Hz header")

    valid = read_corpus(args.data, layout, "valid")
    cfg = RejectionConfig(max_accuracy_drop=args.max_drop)
    entry = calibrate_model(loaded, valid, cfg)
    rewrite_meta(model, {"rejection": entry})
    loaded = load_model(model)
    result["rejection"] = entry
    save("calibration")

    def answers(paths: list[Path], reject: bool = True) -> list:
        return loaded.predict(paths, 1, reject)

    # 2. in-domain test accuracy, without and with rejection
    test = read_corpus(args.data, layout, "test")
    paths, truth = [u.path for u in test.utterances], [u.label for u in test.utterances]
    guarded = answers(paths)
    plain = answers(paths, reject=False)
    acc = float(np.mean([q.best == t for q, t in zip(plain, truth)]))
    acc_rej = float(np.mean([q.intent == t for q, t in zip(guarded, truth)]))
    result["in_domain_test"] = {
        "n": len(paths),
        "accuracy": acc,
        "accuracy_with_rejection": acc_rej,
        "drop_points": 100 * (acc - acc_rej),
        "rejected": float(np.mean([q.intent is None for q in guarded])),
        "rejected_no_speech": float(np.mean([q.reason == "no speech" for q in guarded])),
        "median_confidence": float(np.median([q.confidence for q in plain])),
    }
    save("in-domain test")

    # 3. no speech
    result["no_speech"] = {}
    for name, clips in make_no_speech(work / "no-speech", args.seed).items():
        got = answers(clips)
        result["no_speech"][name] = {
            "n": len(clips),
            "intent_returned": sum(q.intent is not None for q in got),
            "without_gate_mean_confidence": float(
                np.mean([q.confidence for q in answers(clips[:3], reject=False)])
            ),
        }
    save("no speech")

    # 4. out-of-domain speech
    ood_paths = make_ood(work / "ood", args.ood_speakers, args.seed)
    got = answers(ood_paths)
    result["out_of_domain"] = {
        "n": len(ood_paths),
        "phrases": len(OUT_OF_DOMAIN),
        "rejected": float(np.mean([q.intent is None for q in got])),
        "rejected_no_speech": float(np.mean([q.reason == "no speech" for q in got])),
        "rejected_low_confidence": float(np.mean([q.reason == "low confidence" for q in got])),
        "median_confidence": float(np.median([q.confidence for q in got])),
    }
    # Phrases close to a sentence of the corpus's outlier set (data.outliers) were, in
    # effect, trained on: the share rejected among the others too.
    seen = close_to_outliers(Path(args.data))
    if seen:
        kept = [q for q, path in zip(got, ood_paths) if int(path.stem.split("-")[1]) not in seen]
        result["out_of_domain"]["close_to_training_outliers"] = [OUT_OF_DOMAIN[i] for i in seen]
        result["out_of_domain"]["rejected_other_phrases"] = float(
            np.mean([q.intent is None for q in kept])
        )
    save("out-of-domain")

    # 5. peak memory of `quads predict` on many clips in one call
    train = read_corpus(args.data, layout, "train")
    many = [str(u.path) for u in train.utterances[: args.clips]]
    mb_load, _ = peak_rss_mb([*quads, str(paths[0])])
    mb_many, code_many = peak_rss_mb([*quads, *many])
    result["memory"].update(
        predict_one_clip_mb=round(mb_load),
        predict_many_clips_mb=round(mb_many),
        predict_many_clips_exit_code=code_many,
        clips=len(many),
    )
    save("memory, many clips")
    print(markdown(result))


def markdown(r: dict) -> str:
    """The results so far as Markdown (stages not yet measured are left out)."""
    lines = ["# Rejection and bounded memory", ""]
    lines += [provenance_line(r["provenance"]), ""]
    lines.append(f"Model `{r['model']}`, corpus `{r['data']}`.")
    e, d, o, m = (r.get(k) for k in ("rejection", "in_domain_test", "out_of_domain", "memory"))
    if e:
        g = e["gate"]
        lines += [
            f"Threshold on the top probability: **{e['threshold']:.4f}**, chosen on the "
            f"validation split ({e['valid']['n']} clips) to reject at most "
            f"{100 * e['max_accuracy_drop']:.1f} % of them among those the model gets right; "
            f"speech gate: {g['min_speech_seconds']} s of 25 ms frames above "
            f"{g['energy_floor_db']} dBFS with spectral flatness under {g['max_flatness']}.",
        ]
    lines += ["", '| input | clips | answered "unknown" |', "| --- | --- | --- |"]
    if d:
        lines.append(f"| in-domain test speech | {d['n']} | {100 * d['rejected']:.1f} % |")
    for name, s in (r.get("no_speech") or {}).items():
        share = 100 * (s["n"] - s["intent_returned"]) / s["n"]
        lines.append(
            f"| {name} | {s['n']} | {share:.0f} % (without the gate: mean top probability "
            f"{s['without_gate_mean_confidence']:.2f}) |"
        )
    if o:
        lines.append(
            f"| out-of-domain commands ({o['phrases']} phrases) | {o['n']} | "
            f"**{100 * o['rejected']:.1f} %** (gate {100 * o['rejected_no_speech']:.1f} %, "
            f"threshold {100 * o['rejected_low_confidence']:.1f} %) |"
        )
        if "rejected_other_phrases" in o:
            near = o["close_to_training_outliers"]
            lines.append(
                f"| the {o['phrases'] - len(near)} phrases not close to a training outlier | "
                f"{o['n'] - len(near) * o['n'] // o['phrases']} | "
                f"**{100 * o['rejected_other_phrases']:.1f} %** |"
            )
    if d:
        lines += [
            "",
            f"In-domain test accuracy: {100 * d['accuracy']:.2f} % without rejection, "
            f"{100 * d['accuracy_with_rejection']:.2f} % with it (a rejection counts as "
            f"wrong): **{d['drop_points']:.2f} points** lower. Median top probability: "
            f"{d['median_confidence']:.2f} in-domain"
            + (f", {o['median_confidence']:.2f} out-of-domain." if o else "."),
        ]
    if m:
        lines += [
            "",
            "Peak memory (max RSS of the whole process) of `quads predict` (its default engine: "
            "ONNX Runtime for a .quads file when onnxruntime is installed):",
            "",
            "| call | peak RSS |",
            "| --- | --- |",
            f"| a {m['one_hz_file_bytes'] // 1000} KB wav whose header declares 1 Hz (refused, "
            f"exit {m['predict_1hz_exit_code']}) | {m['predict_1hz_header_wav_mb']} MiB |",
        ]
        if "clips" in m:
            lines += [
                f"| one clip | {m['predict_one_clip_mb']} MiB |",
                f"| {m['clips']} clips in one call (exit {m['predict_many_clips_exit_code']}) | "
                f"{m['predict_many_clips_mb']} MiB |",
            ]
    lines += [
        "",
        f"Measured in {r['seconds']} s by `benchmarks/rejection.py`; stages done: "
        f"{', '.join(r['stages_done'])}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
