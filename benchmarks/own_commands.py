"""Your own commands, run as a user would: intents YAML -> synth -> train -> eval.

    python benchmarks/own_commands.py [--intents examples/my_commands.yaml]

1. `quads synth --intents` voices the YAML into a manifest corpus (espeak-ng; train,
   valid and test speakers never overlap).
2. An 8 kHz copy of that corpus, as a manifest of its own: this machine has no recorded
   speech, so it stands in for telephone-rate recordings. It is NOT real speech; it checks
   that 8 kHz audio trains and evaluates with the same commands.
3. `quads train --config commands-demo --data CORPUS` on each corpus (the same command; a
   demo-sized budget, smaller for the 8 kHz copy), then `quads eval` on the test splits
   (held-out voices): each model on its own, and the synthetic-trained one at 8 kHz.

Every step is a `quads` command run in a subprocess; finished steps are reused. Figures go
to benchmarks/results/own_commands.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import soundfile as sf
from provenance import provenance, provenance_line, sha256_file

RESULTS = Path(__file__).parent / "results"
SPLITS = ("train", "valid", "test")


def quads(*args: str) -> float:
    """Run `quads ARGS` (this interpreter); return its wall-clock seconds."""
    print("$ quads " + " ".join(args), flush=True)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "quads.cli", *args], check=True)
    return round(time.time() - t0, 1)


def copy_at_8k(src: Path, dst: Path) -> int:
    """A manifest at `dst` whose clips are `src`'s resampled to 8 kHz (16-bit WAV)."""
    from quads.audio import load_audio, resample

    n = 0
    for split in SPLITS:
        with (src / f"{split}.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            out = dst / row["path"]
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                audio = resample(load_audio(src / row["path"]), 16000, 8000)
                sf.write(str(out), audio, 8000, subtype="PCM_16")
            n += 1
        with (dst / f"{split}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return n


def evaluate(model: Path, data: Path, out: Path) -> dict:
    seconds = quads("eval", str(model), str(data), "--json", str(out))
    r = json.loads(out.read_text())
    return {"n": r["n"], "accuracy": r["accuracy"], "f1": r["f1"], "seconds": seconds}


def train(data: Path, out: Path, budget: list[str]) -> dict:
    """`quads train --config commands-demo` unless `out` holds a model already (a run that
    was stopped early and exported with `quads export` counts: its epochs are reported)."""
    seconds = None
    if not (out / "model.quads").is_file():
        resume = ["--resume"] if (out / "checkpoint.pt").is_file() else []
        args = ["train", "--config", "commands-demo", "--data", str(data), "--out", str(out)]
        seconds = quads(*args, *budget, *resume)
    config = json.loads((out / "config.json").read_text())
    t = config["train"]
    with (out / "log.csv").open(newline="") as f:
        epochs = list(csv.DictReader(f))
    return {
        "command_seconds": seconds,
        "epochs_done": len(epochs),
        "epochs_planned": t["iterations"] * 2 * t["epochs_per_phase"] + t["final_quant_epochs"],
        "phases_done": [e["phase"] for e in epochs],
        "epoch_seconds": round(sum(float(e["seconds"]) for e in epochs), 1),
        "best_val_acc": max(float(e["val_acc"]) for e in epochs if e["phase"] == "quantize"),
        "context_seconds": config["audio"]["context_seconds"],
        "layout": config["data"]["layout"],
        "train_clips": t["max_train_utterances"],
        "bits": config["quant"]["bits"],
    }


def markdown(r: dict) -> str:
    pct = "{:.1%}".format
    lines = [
        "# Your own commands, run as a user would",
        "",
        provenance_line(r["provenance"]),
        "",
        f"`python benchmarks/own_commands.py` on {r['cpus']} CPU cores (shared with other jobs):",
        f"{r['intents']} intents from `{r['intents_file']}`, voiced by espeak-ng "
        f"({r['synth']['splits']['train']['speakers']} training voices, "
        f"{r['synth']['splits']['test']['speakers']} held-out test voices); QUADS 4-bit, "
        "base -> tiny.en, `quads train --config commands-demo` with the budgets below.",
        "",
        "The 8 kHz corpus is the same synthetic clips resampled to 8 kHz, standing in for "
        "telephone-rate recordings: this machine has no recorded speech.",
        "",
        "| trained on | tested on (held-out voices) | clips | accuracy | macro-F1 | model |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['trained_on']} | {row['tested_on']} | {row['n']} | {pct(row['accuracy'])} "
            f"| {pct(row['f1'])} | {row['size_bytes'] / 1e6:.2f} MB |"
        )
    lines.append("")
    for name, t in r["training"].items():
        stopped = ""
        if t["epochs_done"] < t["epochs_planned"]:
            stopped = f" (stopped early: {t['epochs_done']} of {t['epochs_planned']} epochs)"
        lines.append(
            f"- trained on the {name}: `{' '.join(r['budgets'][name])}`{stopped}; phases "
            f"{', '.join(t['phases_done'])}; context {t['context_seconds']} s (picked from the "
            f"data); {t['train_clips']} training clips; {t['epoch_seconds'] / 60:.1f} min of "
            f"training epochs; best valid accuracy {pct(t['best_val_acc'])}."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--intents", default="examples/my_commands.yaml")
    p.add_argument("--data", default="data/my-commands")
    p.add_argument("--out", default="runs/my-commands")
    p.add_argument("--preset", default="medium", help="synth preset (clips per intent)")
    p.add_argument(
        "--budget",
        default="--set train.iterations=1 --set train.max_train_utterances=560",
        help="extra `quads train` arguments for the synthetic corpus",
    )
    p.add_argument(
        "--budget-8k",
        default="--set train.iterations=1 --set train.epochs_per_phase=1 "
        "--set train.final_quant_epochs=0 --set train.max_train_utterances=160",
        help="extra `quads train` arguments for the 8 kHz copy",
    )
    args = p.parse_args()
    data, data8k, out = Path(args.data), Path(args.data + "-8k"), Path(args.out)

    quads("synth", "--intents", args.intents, "--out", str(data), "--preset", args.preset)
    synth = json.loads((data / "synth.json").read_text())
    copy_at_8k(data, data8k)

    budgets = {"synthetic 16 kHz": args.budget.split(), "8 kHz copy": args.budget_8k.split()}
    training = {
        "synthetic 16 kHz": train(data, out, budgets["synthetic 16 kHz"]),
        "8 kHz copy": train(data8k, Path(args.out + "-8k"), budgets["8 kHz copy"]),
    }
    rows = []
    runs = {"synthetic 16 kHz": out, "8 kHz copy": Path(args.out + "-8k")}
    corpora = {"synthetic 16 kHz": data, "8 kHz copy": data8k}
    pairs = [  # (trained on, tested on)
        ("synthetic 16 kHz", "synthetic 16 kHz"),
        ("synthetic 16 kHz", "8 kHz copy"),
        ("8 kHz copy", "8 kHz copy"),
    ]
    for trained_on, tested_on in pairs:
        model = runs[trained_on] / "model.quads"
        name = tested_on.split()[0]
        m = evaluate(model, corpora[tested_on], runs[trained_on] / f"eval-{name}.json")
        rows.append(
            {"trained_on": trained_on, "tested_on": tested_on, **m}
            | {"size_bytes": model.stat().st_size, "model_sha256": sha256_file(model)}
        )
    result = {
        # the model trained on the synthetic 16 kHz corpus; each row names its own
        "provenance": provenance(runs["synthetic 16 kHz"] / "model.quads"),
        "intents_file": args.intents,
        "intents": synth["intents"],
        "synth": synth,
        "budgets": budgets,
        "cpus": os.cpu_count(),
        "training": training,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "own_commands.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "own_commands.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
