"""CPU latency per utterance (batch 1) of the packed QUADS student, the teacher and a
Whisper-large encoder at the student's short context, with one thread and with all threads;
parameters and GMACs (at that context and at Whisper's 30 s window) beside them.

    python benchmarks/latency.py [--model runs/demo/quads-4bit/model.quads]

The student is the .quads file loaded as it ships (dense weights rebuilt from codebooks);
Whisper large has random weights (latency does not depend on their values). All rows run in
one process, one after another, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.evaluate.cost import latency, whisper_config, whisper_encoder_gmacs
from quads.inference import load_model
from quads.models.student import short_context_config
from quads.models.whisper_weights import load_whisper

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/demo/quads-4bit/model.quads")
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()

    student = load_model(args.model)
    ctx = student.model.context_seconds
    models = {
        f"QUADS student (.quads, {Path(args.model).stat().st_size / 2**20:.2f} MiB)": (
            student.model,
            student.model.encoder.config,
        ),
        "teacher (Whisper base encoder)": (
            load_whisper("base").encoder(ctx).eval(),
            load_whisper("base").config,
        ),
        "Whisper large encoder (random weights)": (
            WhisperEncoder(short_context_config(whisper_config("large"), ctx)).eval(),
            whisper_config("large"),
        ),
    }
    mel = torch.randn(1, 80, int(ctx * 100))
    all_threads = torch.get_num_threads()
    rows = []
    for name, (model, config) in models.items():
        row = {
            "model": name,
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "gmacs": round(whisper_encoder_gmacs(config, ctx), 2),
            "gmacs_30s": round(whisper_encoder_gmacs(config, 30.0), 1),
        }
        for threads in sorted({1, all_threads}):
            runs = args.runs if "large" not in name else max(3, args.runs // 3)
            lat = latency(model, mel, threads=threads, warmup=2, runs=runs)
            row[f"p50_ms_{threads}t"] = round(lat["p50_ms"], 1)
            row[f"p90_ms_{threads}t"] = round(lat["p90_ms"], 1)
        rows.append(row)
        print(row)
    base = rows[0]
    for row in rows:
        row["latency_vs_student"] = round(
            row[f"p50_ms_{all_threads}t"] / base[f"p50_ms_{all_threads}t"], 1
        )

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latency.json").write_text(
        json.dumps({"context_seconds": ctx, "rows": rows}, indent=2)
    )
    cols = list(rows[0])
    lines = [
        f"# CPU latency per utterance, batch 1, {ctx:g} s context ({all_threads} threads max)",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (RESULTS / "latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
