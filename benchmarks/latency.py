"""Every way to run the packed student, side by side, and the cost of the teacher and of
Whisper large beside them.

    python benchmarks/latency.py [--model runs/demo/quads-4bit/model.quads]
                                 [--data data/synth-fsc] [--runs 60] [--no-baselines]
                                 [--accuracy-only --out latency_medium]

Paths (batch 1, the model's context):
  torch             the .quads file loaded by `quads.inference.load_student` (dense fp32, PyTorch)
  ort-fp32          ONNX Runtime, fp32 (codes + codebooks folded into dense weights at start)
  ort-int8          ONNX Runtime dynamic int8 (weights int8 per tensor, activations per call)
  ort-int8-channel  the same with a weight scale per output channel
  ort-int8-grid     each layer's centroids first rounded onto an int8 grid (multiples of
                    max|c| / 127), so the int8 weights are exactly the model's weights and
                    only activations are quantized
  ort-int8-...+fp32xK  mixed precision, when the plain schemes change predictions on valid:
                    the K weight MatMuls whose int8 error moves the logits most stay fp32
  ort-fp32-trim     ort-fp32 on the clip with its leading and trailing silence cut (the
                    encoder runs on the frames left: cost per clip varies; mean reported)

The int8 schemes are `quads.runtime.export`'s (the recipe `quads export --onnx --int8`
ships), and the scheme to ship is chosen there, by `choose_int8` on the valid split only:
fewest predictions changed against fp32, then fewest fp32 MatMuls, then logit error.

Latency: every (path, threads) pair timed in turn, round after round, on one real clip, so
a busy machine slows all of them alike; p50 / p90 over the rounds of the wall clock, and
the p50 of the CPU time of 1-thread calls (what an idle core would take: on a shared
machine the wall clock counts the time other jobs hold the core). Compute floor: 2 x MACs /
the fp32 matmul peak of this CPU at that thread count (measured here); "floor %" is the
floor over p50. Accuracy: the valid split chooses (the int8 variant to ship, the trimming
threshold), the test split is read once per reported number. Cold start: `quads predict` on
one clip in a fresh process (wall time and peak RSS), per engine and file. --accuracy-only:
the int8 choice and accuracy of each path, no timing (results/<--out>.{json,md}).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from provenance import provenance, provenance_line

RESULTS = Path(__file__).parent / "results"
TRIM_THRESHOLDS_DB = (-30.0, -45.0)


def shown_path(path: str | Path) -> str:
    """A path as results show it: from its `runs/` or `data/` folder on (the same in any
    clone of the repository), else as given."""
    parts = Path(path).resolve().parts
    for anchor in ("runs", "data"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return str(path)


def onnx_paths(model: Path, folder: Path, chosen) -> dict[str, Path]:
    """Write the fp32 ONNX model and every int8 scheme (the plain ones and the chosen one)
    into `folder`."""
    from quads.runtime.export import PLAIN_SCHEMES, export_onnx

    schemes = {None: None, **{s: s for s in PLAIN_SCHEMES}, chosen: chosen}
    out = {}
    for scheme in schemes:
        name = "ort-fp32" if scheme is None else f"ort-{scheme.name}"
        out[name] = folder / f"{name}.onnx"
        export_onnx(model, out[name], scheme or False)
    return out


class Runner:
    """One way to run the model: `logits(batch of mel)` with a thread count."""

    def __init__(self, name: str, file: Path | None, torch_model=None) -> None:
        self.name, self.file, self.torch_model = name, file, torch_model
        self.sessions: dict[int, ort.InferenceSession] = {}

    def run(self, mel: np.ndarray, threads: int) -> np.ndarray:
        if self.torch_model is not None:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return self.torch_model(torch.from_numpy(mel)).numpy()
        if threads not in self.sessions:
            from quads.runtime.session import session_options

            self.sessions[threads] = ort.InferenceSession(
                str(self.file), session_options(threads), providers=["CPUExecutionProvider"]
            )
        return self.sessions[threads].run(["logits"], {"mel": mel})[0]


def matmul_peak_gflops(threads: int, clock=time.perf_counter) -> float:
    """fp32 GFLOP/s of a large matrix product on this CPU, by wall clock or, with
    clock=time.thread_time, per second of this thread's CPU time: the best of several
    products by PyTorch and by ONNX Runtime (whose MLAS kernels run faster here)."""
    from onnx import TensorProto, helper

    from quads.runtime.session import session_options

    n = 2048
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    session = ort.InferenceSession(
        proto.SerializeToString(),
        session_options(threads),
        providers=["CPUExecutionProvider"],
    )
    feeds = {"a": a.numpy(), "b": b.numpy()}
    best = float("inf")
    for product in (lambda: a @ b, lambda: session.run(["c"], feeds)):
        for _ in range(8):
            t0 = clock()
            product()
            best = min(best, clock() - t0)
    return 2 * n**3 / best / 1e9


def all_logits(path: Runner, mels: np.ndarray) -> np.ndarray:
    return np.concatenate([path.run(mels[i : i + 16], 1) for i in range(0, len(mels), 16)])


def trimmed_eval(path: Runner, audios, labels, truth, threshold_db: float, n_mels: int) -> dict:
    """Accuracy and mean cost per clip with silence trimmed (1 thread, one clip at a time)."""
    from quads.runtime.audio import log_mel, trim_silence

    right, times, cpu, frames = 0, [], [], []
    for audio, t in zip(audios, truth):
        mel = log_mel(trim_silence(audio, threshold_db), n_mels)[None]
        start, start_cpu = time.perf_counter(), time.thread_time()
        logits = path.run(mel, 1)
        times.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.thread_time() - start_cpu))
        frames.append(mel.shape[-1])
        right += labels[int(logits.argmax())] == t
    return {
        "accuracy": right / len(truth),
        "mean_ms_1t": statistics.mean(times),
        "mean_cpu_ms_1t": statistics.mean(cpu),
        "mean_seconds": statistics.mean(frames) / 100,
    }


# Runs `quads` in a fresh interpreter and reports its peak RSS (VmHWM: the high-water mark of
# this process's own memory; ru_maxrss would count the benchmark's memory copied at fork).
_COLD = (
    "import atexit, sys\n"
    "def hwm():\n"
    "    kb = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
    "    print(f'VmHWM_kB={kb}', file=sys.stderr)\n"
    "atexit.register(hwm)\n"
    "from quads.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def cold_start(argv: list[str], repeats: int = 2) -> dict:
    """Median wall time and peak RSS of a fresh `quads ...` process."""
    walls, cpus, rss = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _COLD, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if status != 0:
            raise RuntimeError(f"quads {' '.join(argv)} failed: {err[-500:]}")
        rss.append(int(err.split("VmHWM_kB=")[1].split()[0]) / 1024)
    return {
        "seconds": round(statistics.median(walls), 2),
        "cpu_seconds": round(statistics.median(cpus), 2),
        "peak_mb": round(max(rss)),
    }


def baselines(ctx: float, runs: int) -> list[dict]:
    """The teacher and Whisper large at the student's context (PyTorch), as before."""
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from quads.evaluation.cost import latency, whisper_config, whisper_encoder_gmacs
    from quads.models.student import short_context_config
    from quads.models.whisper_weights import load_whisper

    models = {
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
    rows = []
    for name, (model, config) in models.items():
        row = {
            "model": name,
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "gmacs": round(whisper_encoder_gmacs(config, ctx), 2),
            "gmacs_30s": round(whisper_encoder_gmacs(config, 30.0), 1),
        }
        for threads in (1, 2):
            n = runs if "large" not in name else 3
            lat = latency(model, mel, threads=threads, warmup=2, runs=n)
            row[f"p50_ms_{threads}t"] = round(lat["p50_ms"], 1)
        rows.append(row)
        print(row, flush=True)
    return rows


def table(rows: list[dict]) -> list[str]:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]


def measure_timing(paths: list[Runner], mel: np.ndarray, runs: int, block: int = 4) -> tuple:
    """Every (path, threads) pair timed in turn, round after round -> (matmul peak per thread
    count, peak per CPU second, wall ms and CPU ms per pair).

    Each turn makes one untimed call and then `block` timed ones: the thread pool of the
    previous pair (ONNX Runtime's workers, PyTorch's OpenMP team) spins for a while after
    its call, and that would be charged to the first call of the next pair. CPU time is
    the calling thread's (`time.thread_time`), which is all the work of a 1-thread call."""
    peak = {t: matmul_peak_gflops(t) for t in (1, 2)}
    peak_cpu = matmul_peak_gflops(1, time.thread_time)
    pairs = [(path, t) for t in (1, 2) for path in paths]
    times: dict[tuple[str, int], list[float]] = {(p.name, t): [] for p, t in pairs}
    cpu: dict[tuple[str, int], list[float]] = {(p.name, t): [] for p, t in pairs}
    for path, t in pairs:  # warm-up (and session start)
        for _ in range(3):
            path.run(mel, t)
    for _ in range(-(-runs // block)):
        for path, t in pairs:
            path.run(mel, t)
            for _ in range(block):
                start, start_cpu = time.perf_counter(), time.thread_time()
                path.run(mel, t)
                times[(path.name, t)].append(1000 * (time.perf_counter() - start))
                cpu[(path.name, t)].append(1000 * (time.thread_time() - start_cpu))
    return peak, peak_cpu, times, cpu


def measure_cold_start(model: Path, files: dict[str, Path], data: str, int8: str) -> dict:
    """Cold start of `quads predict` on one clip, per engine and file (`int8`: the name of
    the chosen int8 path in `files`)."""
    from quads.data.corpus import read_corpus

    clip_path = str(read_corpus(data, "fsc", "test").utterances[0].path)
    cold = {
        "torch (.quads)": cold_start(["predict", str(model), clip_path, "--engine", "torch"]),
        "onnxruntime (.quads)": cold_start(
            ["predict", str(model), clip_path, "--engine", "onnxruntime"]
        ),
        "onnxruntime (.onnx fp32)": cold_start(["predict", str(files["ort-fp32"]), clip_path]),
        f"onnxruntime (.onnx {int8.removeprefix('ort-')})": cold_start(
            ["predict", str(files[int8]), clip_path]
        ),
    }
    print(cold, flush=True)
    return cold


def timing_only(
    args, model: Path, paths: list[Runner], files: dict, settings, gmacs, int8: str
) -> None:
    """--timing-only: latency (wall and CPU) and cold start, no accuracy."""
    from quads.data.corpus import read_corpus
    from quads.runtime.audio import fit_to_context, load_audio, log_mel

    clip = fit_to_context(
        load_audio(read_corpus(args.data, "fsc", "test").utterances[0].path), settings.n_samples
    )
    peak, peak_cpu, times, cpu = measure_timing(
        paths, log_mel(clip, settings.n_mels)[None], args.runs
    )
    cold = measure_cold_start(model, files, args.data, int8)
    rows = []
    for path in paths:
        row = {"path": path.name}
        for t in (1, 2):
            p50 = statistics.median(times[(path.name, t)])
            row[f"p50_ms_{t}t"] = round(p50, 1)
            row[f"p90_ms_{t}t"] = round(float(np.percentile(times[(path.name, t)], 90)), 1)
        row["cpu_ms_1t"] = round(statistics.median(cpu[(path.name, 1)]), 1)
        row["cpu_p90_ms_1t"] = round(float(np.percentile(cpu[(path.name, 1)], 90)), 1)
        row["cpu_floor_pct_1t"] = round(100 * (2 * gmacs / peak_cpu * 1000) / row["cpu_ms_1t"])
        rows.append(row)
    result = {
        "provenance": provenance(model),
        "model": shown_path(model),
        "gmacs": round(gmacs, 3),
        "int8_chosen_on_valid": int8,
        "matmul_peak_gflops_wall": {t: round(v, 1) for t, v in peak.items()},
        "matmul_peak_gflops_per_cpu_second": round(peak_cpu, 1),
        "compute_floor_ms_1t": round(2 * gmacs / peak_cpu * 1000, 1),
        "load_average": os.getloadavg(),
        "paths": rows,
        "cold_start": cold,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latency_timing.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Latency and cold start, batch 1, {settings.context_seconds:g} s context, "
        f"{gmacs:.2f} GMACs (`--timing-only`)",
        "",
        provenance_line(result["provenance"]),
        "",
        f"Load average during the run {', '.join(f'{x:.1f}' for x in result['load_average'])}"
        " on 2 cores: the wall clock counts the time other jobs held the core; cpu_ms_1t (CPU "
        "time of a 1-thread call) is what an idle core takes. Compute floor at 1 thread: "
        f"{result['compute_floor_ms_1t']} ms (fp32 matmul peak {peak_cpu:.0f} GFLOP/s per CPU "
        "second).",
        "",
        *table(rows),
        "",
        "Cold start of `quads predict MODEL clip.wav` (fresh process, median of 2):",
        "",
        *table([{"engine": k, **v} for k, v in cold.items()]),
    ]
    (RESULTS / "latency_timing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/demo/quads-4bit/model.quads")
    p.add_argument("--data", default="data/synth-fsc", help="corpus for accuracy")
    p.add_argument("--runs", type=int, default=60, help="latency rounds")
    p.add_argument("--no-baselines", action="store_true", help="skip teacher and Whisper large")
    p.add_argument("--note", default="", help="what the model is, for the results' header")
    p.add_argument(
        "--timing-only",
        action="store_true",
        help="latency and cold start only (no accuracy, no trimming): latency_timing.{json,md}",
    )
    p.add_argument(
        "--accuracy-only",
        action="store_true",
        help="the int8 choice and each path's accuracy only (no timing, trimming, baselines)",
    )
    p.add_argument("--out", default="latency", help="results/<OUT>.{json,md}")
    args = p.parse_args()
    from quads.audio import featurize
    from quads.data.corpus import read_corpus
    from quads.evaluation.cost import whisper_encoder_gmacs
    from quads.evaluation.int8 import choose_int8
    from quads.inference import load_student
    from quads.runtime.audio import fit_to_context, load_audio, log_mel

    model = Path(args.model)
    torch.set_num_threads(1)

    student, settings, meta = load_student(model)
    labels = student.labels
    ctx, n_mels = settings.context_seconds, settings.n_mels
    gmacs = whisper_encoder_gmacs(student.encoder.config, ctx)
    # The int8 scheme to ship, chosen on valid (1 thread), by the export's own rule.
    chosen, candidates = choose_int8(model, args.data, "valid", log=print)
    tmp = Path(tempfile.mkdtemp(prefix="quads-latency-"))
    atexit.register(shutil.rmtree, tmp, True)  # the ONNX files and clips made here
    files = onnx_paths(model, tmp, chosen)
    int8 = f"ort-{chosen.name}"
    paths = [Runner("torch", None, student)] + [Runner(n, f) for n, f in files.items()]
    if args.timing_only:
        timing_only(args, model, paths, files, settings, gmacs, int8)
        return

    # Accuracy: valid and test, each path as it ships (the torch path with the training
    # featurizer, the runtime paths with the numpy one).
    acc: dict[str, dict] = {path.name: {} for path in paths}
    agree: dict[str, dict] = {}  # test split, every path on the training featurizer's mel
    audios: dict[str, list[np.ndarray]] = {}
    for split in ("valid", "test"):
        corpus = read_corpus(args.data, meta.get("layout", "fsc"), split)
        truth = [u.label for u in corpus.utterances]
        audios[split] = [load_audio(u.path) for u in corpus.utterances]
        fitted = np.stack([fit_to_context(a, settings.n_samples) for a in audios[split]])
        mel_np = log_mel(fitted, n_mels)
        if split == "test":
            mel_torch = torch.stack([featurize(u.path, settings) for u in corpus.utterances])
            mel_torch = mel_torch.numpy()
        for path in paths:
            if split == "valid" and path.name == "torch":
                continue  # valid chooses among the runtime's variants only
            mels = mel_torch if path.name == "torch" else mel_np
            logits = all_logits(path, mels)
            preds = logits.argmax(-1)
            acc[path.name][split] = float(np.mean([labels[i] == t for i, t in zip(preds, truth)]))
            if split == "test":  # against fp32 on the same (numpy) log-mel
                acc[path.name]["test_logits"] = logits
            print(f"{split} {path.name}: {100 * acc[path.name][split]:.2f} %", flush=True)
            if split == "test":
                agree[path.name] = {"logits": all_logits(path, mel_torch)}
        if split == "test":
            ref = agree["torch"]["logits"]
            for a in agree.values():
                a["max_logit_diff"] = float(np.abs(a["logits"] - ref).max())
                a["changed"] = int((a["logits"].argmax(-1) != ref.argmax(-1)).sum())
        acc.setdefault("_truth", {})[split] = truth
    fp32_test = acc["ort-fp32"]["test_logits"].argmax(-1)
    valid_rows = {f"ort-{c['scheme'].name}": c for c in candidates}

    rows = []
    for path in paths:
        cand = valid_rows.get(path.name)
        row = {
            "path": path.name,
            "file_bytes": model.stat().st_size if path.file is None else path.file.stat().st_size,
            "valid_acc": round(100 * acc[path.name].get("valid", float("nan")), 2),
            "valid_changed_vs_fp32": "" if cand is None else cand["changed"],
            "valid_logit_err": "" if cand is None else f"{cand['mean_logit_err']:.4f}",
            "test_acc": round(100 * acc[path.name]["test"], 2),
            "test_changed_vs_fp32": int(
                (acc[path.name]["test_logits"].argmax(-1) != fp32_test).sum()
            ),
            "max_logit_diff_vs_torch": f"{agree[path.name]['max_logit_diff']:.1e}",
        }
        rows.append(row)
    result = {
        "provenance": provenance(model),
        "model": shown_path(model),
        "note": args.note,
        "data": shown_path(args.data),
        "context_seconds": ctx,
        "gmacs": round(gmacs, 3),
        "int8_chosen_on_valid": {"path": int8, **chosen.to_json()},
        "int8_candidates_valid": [
            {
                "path": f"ort-{c['scheme'].name}",
                **{k: v for k, v in c.items() if k != "scheme"},
                "fp32": list(c["scheme"].fp32),
            }
            for c in candidates
        ],
        "paths": rows,
        "onnxruntime": ort.__version__,
    }
    header = [
        f"# Every path of the student, batch 1, {ctx:g} s context, {gmacs:.2f} GMACs",
        "",
        provenance_line(result["provenance"]),
        "",
        f"Model `{result['model']}`{f' ({args.note})' if args.note else ''}; accuracy on the "
        f"valid / test splits of `{result['data']}`. valid_changed_vs_fp32 and valid_logit_err "
        "(mean |logit - fp32 logit| over the fp32 logits' standard deviation) are what chose "
        "the int8 scheme; test_changed_vs_fp32 counts test predictions that differ from "
        "ort-fp32's; max_logit_diff_vs_torch is on the training featurizer's log-mel.",
        "",
    ]
    choice = [
        f"int8 scheme chosen on valid: `{int8}`"
        + (f" (fp32 MatMuls: {', '.join(f'`{n}`' for n in chosen.fp32)})" if chosen.fp32 else "")
        + ".",
    ]
    if args.accuracy_only:
        write(args.out, result, header + table(rows) + [""] + choice)
        return

    # Trimming: the threshold chosen on valid, then test read once.
    fp32 = next(p for p in paths if p.name == "ort-fp32")
    trim_valid = {
        db: trimmed_eval(fp32, audios["valid"], labels, acc["_truth"]["valid"], db, n_mels)
        for db in TRIM_THRESHOLDS_DB
    }
    best_db = max(TRIM_THRESHOLDS_DB, key=lambda db: trim_valid[db]["accuracy"])
    trim_test = trimmed_eval(fp32, audios["test"], labels, acc["_truth"]["test"], best_db, n_mels)
    print("trim valid", trim_valid, "chosen", best_db, "test", trim_test, flush=True)

    # Latency, interleaved; cold start.
    clip = fit_to_context(audios["test"][0], settings.n_samples)
    timing = measure_timing(paths, log_mel(clip, n_mels)[None], args.runs)
    peak, peak_cpu, times, cpu = timing
    cold = measure_cold_start(model, files, args.data, int8)

    for path, row in zip(paths, rows):
        for t in (1, 2):
            ms = times[(path.name, t)]
            p50 = statistics.median(ms)
            row[f"p50_ms_{t}t"] = round(p50, 1)
            row[f"p90_ms_{t}t"] = round(float(np.percentile(ms, 90)), 1)
            row[f"floor_pct_{t}t"] = round(100 * (2 * gmacs / peak[t] * 1000) / p50)
        row["cpu_ms_1t"] = round(statistics.median(cpu[(path.name, 1)]), 1)
        row["cpu_floor_pct_1t"] = round(100 * (2 * gmacs / peak_cpu * 1000) / row["cpu_ms_1t"])

    fixed = next(r for r in rows if r["path"] == "ort-fp32")
    result.update(
        {
            "matmul_peak_gflops": {t: round(v, 1) for t, v in peak.items()},
            "matmul_peak_gflops_per_cpu_second": round(peak_cpu, 1),
            "compute_floor_ms": {t: round(2 * gmacs / v * 1000, 1) for t, v in peak.items()},
            "load_average": os.getloadavg(),
            "trim": {
                "valid": {str(db): r for db, r in trim_valid.items()},
                "threshold_db_chosen_on_valid": best_db,
                "test": trim_test,
                "fixed_context_test_acc": round(100 * acc["ort-fp32"]["test"], 2),
                "fixed_context_p50_ms_1t": fixed["p50_ms_1t"],
                "fixed_context_cpu_ms_1t": fixed["cpu_ms_1t"],
            },
            "cold_start": cold,
            "cpu_threads": os.cpu_count(),
        }
    )
    if not args.no_baselines:
        result["baselines"] = baselines(ctx, 10)
    lines = header + [
        f"fp32 matmul peak {peak[1]:.0f} / {peak[2]:.0f} GFLOP/s at 1 / 2 threads (compute "
        f"floor {result['compute_floor_ms'][1]} / {result['compute_floor_ms'][2]} ms); load "
        f"average during the run {', '.join(f'{x:.1f}' for x in result['load_average'])}. "
        f"cpu_ms_1t: CPU time of a 1-thread call; its floor uses the matmul peak per CPU "
        f"second ({peak_cpu:.0f} GFLOP/s).",
        "",
        *table(rows),
        "",
        *choice,
        "",
        f"Trimming silence (threshold chosen on valid: {best_db:g} dB): test accuracy "
        f"{100 * trim_test['accuracy']:.2f} % vs {result['trim']['fixed_context_test_acc']} % "
        f"at the fixed context; mean {trim_test['mean_seconds']:.2f} s of audio per clip, "
        f"{trim_test['mean_ms_1t']:.1f} ms per clip on 1 thread (wall; CPU "
        f"{trim_test['mean_cpu_ms_1t']:.1f} ms) vs {fixed['p50_ms_1t']} ms p50 (CPU "
        f"{fixed['cpu_ms_1t']} ms) at the fixed context.",
        "",
        "Cold start of `quads predict MODEL clip.wav` (fresh process, median of 2; CPU seconds "
        "= user + system):",
        "",
        *table([{"engine": k, **v} for k, v in cold.items()]),
    ]
    if "baselines" in result:
        lines += ["", "Teacher and Whisper large at the same context (PyTorch):", ""]
        lines += table(result["baselines"])
    write(args.out, result, lines)


def write(name: str, result: dict, lines: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
