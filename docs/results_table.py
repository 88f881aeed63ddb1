"""Regenerate the README's results table from the results files.

    python docs/results_table.py          # rewrites README.md between the markers
    python docs/results_table.py --check  # exit 1 if README.md is out of date

Each row reads its numbers from one results file under benchmarks/results/; a row whose
file is missing is left out. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "benchmarks/results"
START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
REAL_START, REAL_END = "<!-- real-table:start -->", "<!-- real-table:end -->"

# (grammar, results file of benchmarks/real_speech.py) for the real-people table
REAL_ROWS = [
    ("`examples/speech_commands.yaml`: 10 keywords + unknown", "real-speech-commands-kw-en.json"),
    ("`examples/wake_words.yaml`: 6 wake words + unknown", "real-wake-words-far.json"),
]


def _method_row(name: str) -> tuple[float, float, int]:
    """Accuracy and macro-F1 (means over the seeds) and size of a method-table row."""
    r = json.loads((ROOT / RESULTS / "fsc/method_table.json").read_text())["rows"][name]
    return r["mean"], sum(r["f1"]) / len(r["f1"]), r["size_bytes"]


# (recipe / model, data, results file, how to read accuracy, macro-F1 and size from it)
ROWS = [
    (
        "`make demo` (`fsc-demo`): QUADS 4-bit",
        "synthetic FSC, 31 intents; 300 test clips, 16 unseen voices",
        "demo_run.json",
        lambda d: (d["accuracy"], d["f1"], d["size_bytes"]),
    ),
    (
        "`quads demo --layout slurp` (`slurp-demo`): QUADS 4-bit",
        "synthetic SLURP, real SLURP sentences, 60 intents; 225 test clips, unseen sentences",
        "slurp_demo/run.json",
        lambda d: (d["accuracy"], d["f1"], d["size_bytes"]),
    ),
    (
        "FSC method table (`fsc-bench`): QUADS 4-bit, mean of 3 seeds",
        "synthetic FSC `small`; 900 fresh test clips, voices of no other split",
        "fsc/method_table.json",
        lambda d: _method_row("quads-4bit"),
    ),
    (
        "FSC method table: distill -> QAT 4-bit, mean of 3 seeds",
        "the same",
        "fsc/method_table.json",
        lambda d: _method_row("distill_qat-4bit"),
    ),
    (
        "FSC method table: distill -> PTQ 4-bit, mean of 3 seeds",
        "the same",
        "fsc/method_table.json",
        lambda d: _method_row("distill_ptq-4bit"),
    ),
    (
        "own commands (`commands-demo`, 1 MCT iteration, stopped after 3 of 5 epochs)",
        "`examples/my_commands.yaml`, 10 intents; 180 test clips, 6 unseen voices",
        "own_commands.json",
        lambda d: (d["test"]["accuracy"], d["test"]["f1"], d["size_bytes"]),
    ),
]

NOTES = {
    "own_commands.json": " (version-1 format: codes not entropy-coded)",
}


def table() -> str:
    lines = [
        "| recipe / model | data | test accuracy | macro-F1 | size (bytes) | results |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for recipe, data, file, read in ROWS:
        path = ROOT / RESULTS / file
        if not path.exists():
            continue
        acc, f1, size = read(json.loads(path.read_text()))
        link = f"[{file}]({RESULTS}/{file})"
        size_text = f"{size:,}{NOTES.get(file, '')}"
        lines.append(
            f"| {recipe} | {data} | {100 * acc:.2f} % | {100 * f1:.2f} % | {size_text} | {link} |"
        )
    return "\n".join(lines)


def real_table() -> str:
    lines = [
        "| trained on synthetic speech of | real clips | synthetic test | real top-1 "
        "| real, answered right | results |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for grammar, file in REAL_ROWS:
        path = ROOT / RESULTS / file
        if not path.exists():
            continue
        d = json.loads(path.read_text())
        r, synthetic = d["real"], d.get("synthetic_test_accuracy")
        lines.append(
            f"| {grammar} | {r['n']:,} | "
            + ("-" if synthetic is None else f"{100 * synthetic:.1f} %")
            + f" | {100 * r['top1_accuracy']:.1f} % | {100 * r['answered_right']:.1f} % "
            f"| [{file}]({RESULTS}/{file}) |"
        )
    return "\n".join(lines)


def fill(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check that README.md is current")
    args = p.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = fill(fill(text, START, END, table()), REAL_START, REAL_END, real_table())
    if args.check:
        if new != text:
            print("README.md: the results table is out of date (python docs/results_table.py)")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
