"""Tables and plots for a finished run directory: `write_report(run_dir)` -> run_dir/report.md.

Input 1: run_dir/results.json, written by the training code in exactly this shape:

    {
      "dataset": "synthetic FSC",          # required, free text
      "layout": "fsc",                     # required: fsc, slurp, manifest, folders or null
      "teacher": "base",                   # optional, free text
      "student": "tiny.en",                # optional, free text
      "rows": [                            # required, a list (may be empty)
        {"name": "QUADS 4-bit",            # required, free text
         "strategy": "quads",              # required, one of STRATEGIES
         "init": "pretrained",             # required: "pretrained" | "random"
         "bits": 4,                        # required int; 32 = full precision
         "accuracy": 0.97,                 # required key, fraction in [0, 1] or null
         "f1": 0.96,                       # required key, macro-F1 fraction in [0, 1] or null
         "size_bytes": 3650000,            # optional int or null: packed model file
         "gmacs": 1.9,                     # optional float or null: at the student's context
         "gmacs_30s": 18.5,                # optional float or null: at a 30 s input
         "run": "quads-4bit",              # optional str or null: the log folder below
         "variant": "",                    # optional: an ablation variant (main table only)
         "best_val_acc": 0.96}             # optional: validation accuracy of the shipped epoch
      ],
      "reference": [ ...same row shape... ]   # optional: the paper's rows, shown apart
    }

Input 2 (optional, per row): run_dir/<row.run>/log.csv with header
`epoch,iteration,phase,train_loss,train_acc,val_acc,val_f1,lr,seconds`: one line per epoch;
`epoch` counts epochs across all phases (1, 2, ...), `iteration` is the MCT iteration,
`phase` is distill | quantize | finetune | qat, accuracies are fractions, an empty cell = not
measured.

Output: report.md with the main table (method x bits: accuracy %, F1 %, size MB, GMACs), the
init x strategy ablation table, the paper's rows if given, and PNG plots next to it:
accuracy_vs_size.png, accuracy_vs_bits.png and curve_<run>.png per logged run. Missing values
print as "—"; a plot without data is skipped with a note in the report. A malformed
results.json or log.csv raises ValueError naming the file and the missing key or column.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from quads.config import LAYOUTS

STRATEGIES = ("finetune", "distill", "ptq", "qat", "distill_ptq", "distill_qat", "quads")
INITS = ("pretrained", "random")
PHASES = ("distill", "quantize", "finetune", "qat")
PHASE_COLOURS = {
    "distill": "tab:blue",
    "quantize": "tab:orange",
    "finetune": "tab:green",
    "qat": "tab:red",
}
TOP_KEYS = ("dataset", "layout", "rows")
ROW_KEYS = ("name", "strategy", "init", "bits", "accuracy", "f1")
LOG_COLUMNS = (
    "epoch",
    "iteration",
    "phase",
    "train_loss",
    "train_acc",
    "val_acc",
    "val_f1",
    "lr",
    "seconds",
)
MB = 2**20  # the paper's "MB": 7.64 M params at 4 bits = 3.82e6 bytes = 3.65 MB
DASH = "—"


# ---------------------------------------------------------------- reading and validating


def _check_row(row: object, where: str, path: Path) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"{path}: {where} must be an object, got {type(row).__name__}")
    for key in ROW_KEYS:
        if key not in row:
            raise ValueError(f"{path}: {where} is missing key {key!r}")
    if row["strategy"] not in STRATEGIES:
        raise ValueError(f"{path}: {where} has strategy {row['strategy']!r}, not in {STRATEGIES}")
    if row["init"] not in INITS:
        raise ValueError(f"{path}: {where} has init {row['init']!r}, not in {INITS}")
    if not isinstance(row["bits"], int) or row["bits"] < 1:
        raise ValueError(f"{path}: {where} has bits {row['bits']!r}, expected an int >= 1")
    for key in ("accuracy", "f1"):
        value = row[key]
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: {where} has {key} {value!r}, expected a fraction in [0, 1]")
    return row


def load_results(path: Path) -> dict:
    """Read and validate results.json (schema in the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be an object")
    for key in TOP_KEYS:
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    if data["layout"] is not None and data["layout"] not in LAYOUTS:
        raise ValueError(f"{path}: layout must be one of {LAYOUTS} or null, got {data['layout']!r}")
    for key in ("rows", "reference"):
        rows = data.get(key) or []
        if not isinstance(rows, list):
            raise ValueError(f"{path}: {key!r} must be a list")
        for i, row in enumerate(rows):
            _check_row(row, f"{key}[{i}]", path)
    return data


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def load_log(path: Path) -> list[dict]:
    """Read a training log.csv (columns in the module docstring); empty cells become None."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in LOG_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column {missing[0]!r}")
        rows = []
        for line in reader:
            if line["phase"] not in PHASES:
                raise ValueError(f"{path}: unknown phase {line['phase']!r}, expected {PHASES}")
            row = {c: _number(line[c]) for c in LOG_COLUMNS if c != "phase"}
            row["phase"] = line["phase"]
            rows.append(row)
    return rows


# ---------------------------------------------------------------- tables


def _pct(x: float | None) -> str:
    return DASH if x is None else f"{100 * x:.2f}"


def _num(x: float | None, digits: int = 2) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def _mb(size_bytes: int | None) -> str:
    return DASH if size_bytes is None else f"{size_bytes / MB:.2f}"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def main_table(rows: list[dict]) -> str:
    """Paper-style table: one line per row (method x bits)."""
    header = ["Method", "Strategy", "Init", "Bits", "Acc %", "F1 %", "Val acc %", "Size MB"]
    header += ["GMACs", "GMACs (30 s)"]
    body = [
        [
            r["name"],
            r["strategy"],
            r["init"],
            str(r["bits"]),
            _pct(r["accuracy"]),
            _pct(r["f1"]),
            _pct(r.get("best_val_acc")),
            _mb(r.get("size_bytes")),
            _num(r.get("gmacs")),
            _num(r.get("gmacs_30s"), 1),
        ]
        for r in rows
    ]
    return _markdown(header, body)


def ablation_table(rows: list[dict]) -> str:
    """Init x strategy: one line per (strategy, bits) seen, accuracy and F1 per init."""
    found: dict[tuple[str, int, str], dict] = {}
    for r in rows:
        found.setdefault((r["strategy"], r["bits"], r["init"]), r)  # first row wins
    keys = sorted({(s, b) for s, b, _ in found}, key=lambda k: (STRATEGIES.index(k[0]), -k[1]))
    header = ["Strategy", "Bits"]
    for init in INITS:
        header += [f"{init} acc %", f"{init} F1 %"]
    body = []
    for strategy, bits in keys:
        cells = [strategy, str(bits)]
        for init in INITS:
            r = found.get((strategy, bits, init), {})
            cells += [_pct(r.get("accuracy")), _pct(r.get("f1"))]
        body.append(cells)
    return _markdown(header, body)


# ---------------------------------------------------------------- plots


def _series(rows: list[dict], x_key: str) -> dict[tuple[str, str], list[tuple[float, float, int]]]:
    """(x, accuracy %, bits) per (strategy, init), sorted by x; rows lacking either skipped."""
    series: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for r in rows:
        x = r.get(x_key)
        if x is None or r["accuracy"] is None:
            continue
        key = (r["strategy"], r["init"])
        series.setdefault(key, []).append((float(x), 100 * r["accuracy"], r["bits"]))
    return {k: sorted(v) for k, v in series.items()}


def _plot_series(ax, series: dict[tuple[str, str], list[tuple[float, float, int]]]) -> None:
    """One line per (strategy, init): a fixed colour per strategy, dashed for random init."""
    for (strategy, init), points in series.items():
        xs, ys, _ = zip(*points, strict=True)
        random = init == "random"
        ax.plot(
            xs,
            ys,
            marker="x" if random else "o",
            linestyle="--" if random else "-",
            linewidth=2.5 if strategy == "quads" else 1.2,
            color=f"C{STRATEGIES.index(strategy)}",
            label=strategy + (" (random init)" if random else ""),
        )


def plot_accuracy_vs_size(rows: list[dict], path: Path) -> bool:
    """Accuracy against packed size (MB, log x), one line per strategy. False if no data."""
    sized = [dict(r, size_mb=r["size_bytes"] / MB) for r in rows if r.get("size_bytes")]
    series = _series(sized, "size_mb")
    if not series:
        return False
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    _plot_series(ax, series)
    for points in series.values():
        for x, y, b in points:
            ax.annotate(f"{b}b", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ticks = sorted({x for points in series.values() for x, _, _ in points})
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])  # the sizes themselves, not 10^k
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("model size (MB, log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs size")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)  # Figure.savefig renders PNG with the Agg canvas, no pyplot
    return True


def plot_accuracy_vs_bits(rows: list[dict], path: Path) -> bool:
    """Accuracy against bit width, one line per strategy. False if no data."""
    series = _series(rows, "bits")
    if not series:
        return False
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    _plot_series(ax, series)
    ticks = sorted({x for points in series.values() for x, _, _ in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(int(t)) for t in ticks])
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs bits")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    return True


def _phase_spans(log: list[dict]) -> list[tuple[str, float, float]]:
    """Contiguous runs of one phase as (phase, first epoch - 0.5, last epoch + 0.5)."""
    spans: list[tuple[str, float, float]] = []
    for row in log:
        phase, epoch = row["phase"], row["epoch"]
        if spans and spans[-1][0] == phase:
            spans[-1] = (phase, spans[-1][1], epoch + 0.5)
        else:
            spans.append((phase, epoch - 0.5, epoch + 0.5))
    return spans


def plot_training_curve(log: list[dict], title: str, path: Path) -> bool:
    """val_acc per epoch with the distill / quantize / finetune spans shaded. False if no data."""
    points = [(r["epoch"], 100 * r["val_acc"]) for r in log if r["val_acc"] is not None]
    if not points:
        return False
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    shaded = set()
    for phase, start, end in _phase_spans(log):
        label = phase if phase not in shaded else None  # one legend entry per phase
        ax.axvspan(start, end, color=PHASE_COLOURS[phase], alpha=0.15, label=label)
        shaded.add(phase)
    xs, ys = zip(*points, strict=True)
    ax.plot(xs, ys, marker="o", color="black", label="val acc")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120)
    return True


# ---------------------------------------------------------------- the report


def _safe_name(run: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run)


def write_report(run_dir: Path) -> Path:
    """Write run_dir/report.md and its PNG plots from run_dir/results.json; return the path."""
    run_dir = Path(run_dir)
    results = load_results(run_dir / "results.json")
    rows = results["rows"]
    reference = results.get("reference") or []
    notes: list[str] = []

    md = [f"# QUADS report: {results['dataset']}", ""]
    facts = [f"layout: {results['layout'] or DASH}"]
    facts += [f"{k}: {results[k]}" for k in ("teacher", "student") if results.get(k)]
    md += [" · ".join(facts), ""]
    md += ["Accuracy and F1 (macro over intents) in %; size in MB of 2^20 bytes, as the paper.", ""]

    md += ["## Main results", ""]
    md += [main_table(rows) if rows else "No result rows.", ""]
    md += ["## Ablation: initialisation x strategy", ""]
    plain = [r for r in rows if not r.get("variant")]  # ablation variants: main table only
    md += [ablation_table(plain) if plain else "No result rows.", ""]
    if reference:
        md += ["## Paper reference", ""]
        md += ["The paper's numbers on the real corpora, for comparison.", ""]
        md += [main_table(reference), ""]

    md += ["## Plots", ""]
    plots = [
        ("accuracy_vs_size.png", "Accuracy vs size", plot_accuracy_vs_size, "sizes"),
        ("accuracy_vs_bits.png", "Accuracy vs bits", plot_accuracy_vs_bits, "accuracies"),
    ]
    for filename, title, plot, needs in plots:
        if plot(plain, run_dir / filename):
            md += [f"![{title}]({filename})", ""]
        else:
            notes.append(f"{title}: skipped, no rows with {needs} and accuracies.")

    md += ["## Training curves", ""]
    seen_runs = set()
    for r in rows:
        run = r.get("run")
        if not run or run in seen_runs:
            continue
        seen_runs.add(run)
        log_path = run_dir / run / "log.csv"
        if not log_path.is_file():
            notes.append(f"Training curve for {r['name']}: skipped, no {run}/log.csv.")
            continue
        filename = f"curve_{_safe_name(run)}.png"
        if plot_training_curve(load_log(log_path), r["name"], run_dir / filename):
            md += [f"![{r['name']}]({filename})", ""]
        else:
            notes.append(f"Training curve for {r['name']}: skipped, no val_acc in its log.")

    if notes:
        md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    out = run_dir / "report.md"
    out.write_text("\n".join(md))
    return out
