"""`quads` command line: synth, train, compare, eval, predict, export, cost, report, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("quads")


def _config(args: argparse.Namespace):
    from quads.config import load_config

    overrides = list(args.set or [])
    if getattr(args, "out", None):
        overrides.append(f"out_dir={args.out}")
    if getattr(args, "data", None):
        overrides.append(f"data.root={args.data}")
    return load_config(args.config, overrides)


def cmd_synth(args: argparse.Namespace) -> None:
    from quads.data.synth import build_corpus

    summary = build_corpus(
        args.out,
        layout=args.layout,
        utterances=args.utterances,
        preset=args.preset,
        seed=args.seed,
        workers=args.workers,
    )
    print(json.dumps(summary, indent=2, default=str))


def cmd_train(args: argparse.Namespace) -> None:
    from quads.train.mct import Trainer, init_distributed

    cfg = _config(args)
    init_distributed()  # a no-op unless started by torchrun
    result = Trainer(cfg).run(resume=args.resume)
    print(json.dumps(result, indent=2))


def cmd_compare(args: argparse.Namespace) -> None:
    from quads.report import write_report
    from quads.train.baselines import compare, paper_jobs

    cfg = _config(args)
    out = Path(cfg.out_dir)
    compare(cfg, out, paper_jobs(args.bits, args.baseline_bits))
    print(f"report: {write_report(out)}")


def cmd_eval(args: argparse.Namespace) -> None:
    from quads.data.corpus import read_corpus
    from quads.evaluate.metrics import evaluate_predictions, format_table
    from quads.inference import load_model, predict_corpus

    loaded = load_model(args.model)
    layout = args.layout or loaded.meta.get("layout", "fsc")
    corpus = read_corpus(args.data, layout, args.split, args.skip_bad_rows)
    t0 = time.time()
    y_pred = predict_corpus(loaded.model, corpus, loaded.settings, args.batch_size)
    y_true = [u.label for u in corpus.utterances]
    result = evaluate_predictions(y_true, y_pred, loaded.labels, layout)
    result["model"], result["bytes"] = str(args.model), Path(args.model).stat().st_size
    result["seconds"] = round(time.time() - t0, 2)
    print(format_table(result))
    if corpus.skipped:
        print(f"skipped {len(corpus.skipped)} bad rows (see the warnings above)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")


def _runtime_available(model: str) -> bool:
    """Whether the lean runtime (numpy + onnxruntime, + onnx for a .quads file) is installed."""
    import importlib.util

    needed = ["onnxruntime", "soundfile"] + ([] if model.endswith(".onnx") else ["onnx"])
    return all(importlib.util.find_spec(name) is not None for name in needed)


def _predict_runtime(args: argparse.Namespace) -> int:
    """`quads predict` with the lean runtime: no torch, no transformers."""
    from quads.runtime.audio import AudioError
    from quads.runtime.session import IntentSession

    t0 = time.perf_counter()
    session = IntentSession(args.model, threads=args.threads)
    t1 = time.perf_counter()
    failed = 0
    for path in args.audio:  # one clip at a time: a bad file costs only its own line
        try:
            top = session.predict_files([path], args.top)[0]
        except AudioError as e:
            print(f"quads predict: error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: " + ", ".join(f"{label} ({p:.2f})" for label, p in top))
    t2 = time.perf_counter()
    print(
        f"loaded in {1000 * (t1 - t0):.0f} ms (onnxruntime); predicted "
        f"{len(args.audio) - failed} file(s) in {1000 * (t2 - t1):.0f} ms"
    )
    return 1 if failed else 0


def cmd_predict(args: argparse.Namespace) -> int | None:
    engine = args.engine
    if engine == "auto":
        runtime = args.model.endswith(".onnx") or _runtime_available(args.model)
        engine = "onnxruntime" if runtime else "torch"
    if engine == "onnxruntime":
        return _predict_runtime(args)
    if args.model.endswith(".onnx"):
        raise ValueError(f"{args.model}: an .onnx model needs --engine onnxruntime")
    from quads.inference import load_model, predict_files

    t0 = time.perf_counter()
    loaded = load_model(args.model)
    t1 = time.perf_counter()
    results = predict_files(loaded, args.audio, args.top)
    t2 = time.perf_counter()
    for path, top in zip(args.audio, results):
        print(f"{path}: " + ", ".join(f"{label} ({p:.2f})" for label, p in top))
    print(
        f"loaded in {1000 * (t1 - t0):.0f} ms; predicted {len(args.audio)} file(s) in "
        f"{1000 * (t2 - t1):.0f} ms"
    )


def cmd_export(args: argparse.Namespace) -> None:
    run = Path(args.run)
    if run.is_file():  # a .quads file: to ONNX
        if not args.onnx:
            raise ValueError(f"{run}: exporting a .quads file needs --onnx OUT.onnx")
        _export_onnx(args, run)
        return
    from quads.config import Config, from_dict
    from quads.train.mct import Trainer

    if not (run / "config.json").is_file() or not (run / "best.pt").is_file():
        raise FileNotFoundError(f"{run}: not a training run folder (needs config.json, best.pt)")
    cfg = from_dict(Config, json.loads((run / "config.json").read_text()))
    cfg.out_dir = str(run)
    print(json.dumps(Trainer(cfg, progress=False).export(run / "best.pt"), indent=2))
    if args.onnx:
        _export_onnx(args, run / "model.quads")


def _export_onnx(args: argparse.Namespace, model: Path) -> None:
    from quads.runtime.export import corpus_accuracy, export_onnx

    if args.int8 and not args.data:
        raise ValueError("--int8 needs --data CORPUS: its accuracy is measured against fp32's")
    size = export_onnx(model, args.onnx, args.int8, args.per_channel, args.frontend)
    kind = "int8" if args.int8 else "fp32"
    print(f"wrote {args.onnx} ({kind}, {size:,} bytes)")
    if args.data:
        rows = [(kind, args.onnx)]
        if args.int8:
            rows.insert(0, ("fp32", str(model)))
        for name, path in rows:
            r = corpus_accuracy(path, args.data, args.split)
            print(
                f"{name}: {args.split} accuracy {100 * r['accuracy']:.2f} %, "
                f"macro-F1 {100 * r['f1']:.2f} % ({r['n']} clips)"
            )


def cmd_serve_web(args: argparse.Namespace) -> None:
    import tempfile

    from quads.runtime.web import build_site, make_server

    with tempfile.TemporaryDirectory(prefix="quads-web-") as tmp:
        site = build_site(args.model, args.out or tmp)
        server = make_server(site, args.port)
        host, port = server.server_address[:2]
        print(f"serving {site} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


def cmd_cost(args: argparse.Namespace) -> None:
    from quads.evaluate.cost import cost_table, format_cost_table
    from quads.models.whisper_weights import load_whisper

    student = load_whisper(args.student).config
    teacher = load_whisper(args.teacher).config
    print(format_cost_table(cost_table(student, teacher, args.context, args.labels)))


def cmd_report(args: argparse.Namespace) -> None:
    from quads.report import write_report

    print(f"report: {write_report(Path(args.run))}")


def cmd_demo(args: argparse.Namespace) -> None:
    from quads.demo import run_demo

    run_demo(Path(args.data), Path(args.out), preset=args.preset)


class _Parser(argparse.ArgumentParser):
    """A bad command line gets one line, not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="quads",
        description="QUADS: distil and quantize Whisper into a tiny on-device intent model.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default="fsc-demo", help="preset name or YAML file")
        sp.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set train.alpha=0.3",
        )
        sp.add_argument("--data", help="corpus folder (sets data.root)")
        sp.add_argument("--out", help="output folder (sets out_dir)")

    s = sub.add_parser("synth", help="build a synthetic corpus in FSC or SLURP layout")
    s.add_argument("--layout", choices=["fsc", "slurp"], default="fsc")
    s.add_argument("--out", required=True, help="corpus folder to write")
    s.add_argument("--preset", choices=["tiny", "small", "medium", "full"], default="small")
    s.add_argument("--utterances", type=int, help="number of clips (overrides the preset)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, help="parallel espeak-ng processes (default: all cores)")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("train", help="train one model (QUADS or a baseline) and export it")
    with_config(s)
    s.add_argument("--resume", action="store_true", help="continue an interrupted run")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("compare", help="QUADS at several bit widths vs the baselines + report")
    with_config(s)
    s.add_argument("--bits", type=int, nargs="+", default=[32, 16, 8, 4, 2])
    s.add_argument("--baseline-bits", type=int, nargs="+", default=[4, 2])
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("eval", help="accuracy, macro-F1, per-intent scores of a .quads model")
    s.add_argument("model", help=".quads file")
    s.add_argument("data", help="corpus folder in FSC or SLURP layout")
    s.add_argument("--layout", choices=["fsc", "slurp"], help="default: the model's layout")
    s.add_argument("--split", default="test", choices=["train", "valid", "devel", "test"])
    s.add_argument("--json", help="also write the result as JSON here")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--skip-bad-rows", action="store_true", help="skip and count broken rows")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("predict", help="top intents of audio files")
    s.add_argument("model", help=".quads file")
    s.add_argument("audio", nargs="+", help="wav or flac files")
    s.add_argument("--top", type=int, default=3)
    s.add_argument(
        "--engine",
        choices=["auto", "onnxruntime", "torch"],
        default="auto",
        help="auto: the lean runtime (numpy + onnxruntime) when installed, else torch",
    )
    s.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser(
        "export", help="(re)write model.quads from a run's best checkpoint; a .quads file to ONNX"
    )
    s.add_argument("run", help="training run folder, or a .quads file (with --onnx)")
    s.add_argument("--onnx", help="also write this ONNX model (fp32 codes + codebooks)")
    s.add_argument("--int8", action="store_true", help="ONNX with dynamic int8 matrix products")
    s.add_argument("--per-channel", action="store_true", help="int8 weight scales per channel")
    s.add_argument("--frontend", action="store_true", help="log-mel inside the graph (audio in)")
    s.add_argument("--data", help="corpus: measure the ONNX model's accuracy on --split")
    s.add_argument("--split", default="valid", choices=["train", "valid", "devel", "test"])
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("serve-web", help="the page that listens, for a model, on 127.0.0.1")
    s.add_argument("model", help=".quads file (or an .onnx exported with --frontend)")
    s.add_argument("--port", type=int, default=8000, help="0: any free port")
    s.add_argument("--out", help="build the site in this folder (default: a temporary one)")
    s.set_defaults(func=cmd_serve_web)

    s = sub.add_parser("cost", help="parameters and GMACs of student, teacher, Whisper large")
    s.add_argument("--student", default="tiny.en")
    s.add_argument("--teacher", default="base")
    s.add_argument("--context", type=float, default=4.0, help="seconds of audio context")
    s.add_argument("--labels", type=int, default=31, help="intents in the head")
    s.set_defaults(func=cmd_cost)

    s = sub.add_parser("report", help="Markdown tables and PNG plots of a compare folder")
    s.add_argument("run", help="folder holding results.json")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="the whole job on built-in synthetic data")
    s.add_argument("--data", default="data/synth-fsc")
    s.add_argument("--out", default="runs/demo")
    s.add_argument("--preset", default="fsc-demo")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("quads: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        # Our errors (config, audio, corpus, weights, .quads format, training) all say
        # which file and what is wrong; show that line, not a traceback.
        if args.verbose:
            raise
        print(f"quads {args.command}: error: {e}", file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
