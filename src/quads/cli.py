"""`quads` command line: synth, train, compare, eval, predict, calibrate, export, cost, report,
demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from quads.safe_io import printable

log = logging.getLogger("quads")

LAYOUTS = ["auto", "fsc", "slurp", "manifest", "folders", "hf"]


def _config(args: argparse.Namespace):
    """The preset with the command line's overrides. `--data` without `--layout` leaves the
    layout to be detected (a preset's layout is its own corpus's); training resolves what
    is left to the data (`quads.data.auto`)."""
    from quads.config import load_config

    overrides = list(args.set or [])
    layout_set = any(o.startswith("data.layout=") for o in overrides)
    if getattr(args, "out", None):
        overrides.append(f"out_dir={args.out}")
    if getattr(args, "data", None):
        overrides.append(f"data.root={args.data}")
        if not layout_set:
            overrides.append("data.layout=auto")
    if getattr(args, "layout", None):
        overrides.append(f"data.layout={args.layout}")
    return load_config(args.config, overrides)


def cmd_synth(args: argparse.Namespace) -> None:
    if args.intents:
        from quads.data.intents import build_intents_corpus

        if args.layout not in (None, "manifest"):
            raise ValueError(f"--intents builds a manifest corpus, not --layout {args.layout}")
        summary = build_intents_corpus(
            args.intents,
            args.out,
            utterances=args.utterances,
            preset=args.preset,
            seed=args.seed,
            workers=args.workers,
        )
    else:
        from quads.data.synth import build_corpus

        if args.layout == "manifest":
            raise ValueError("--layout manifest needs --intents FILE (the commands to voice)")
        splits = ("train", "valid", "test")
        sizes = dict(zip(splits, args.split_sizes)) if args.split_sizes else None
        summary = build_corpus(
            args.out,
            layout=args.layout or "fsc",
            utterances=args.utterances,
            preset=args.preset,
            seed=args.seed,
            workers=args.workers,
            shares=_engine_shares(args.engine_share),
            sizes=sizes,
            kokoro_holdout=args.kokoro_holdout,
            text=None if args.text == "templates" else args.text,
            voices_per_sentence=args.voices_per_sentence,
            outliers=args.outliers,
        )
    print(json.dumps(summary, indent=2, default=str))


def _engine_shares(pairs: list[str] | None) -> dict[str, float] | None:
    """`--engine-share kokoro=0.3` arguments as {"kokoro": 0.3} (None: the preset's)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        engine, _, share = pair.partition("=")
        try:
            out[engine] = float(share)
        except ValueError:
            raise ValueError(
                f"--engine-share {pair!r}: expected ENGINE=SHARE, e.g. kokoro=0.3"
            ) from None
    return out


def cmd_train(args: argparse.Namespace) -> None:
    from quads.train.mct import Trainer, init_distributed

    cfg = _config(args)
    checkpoint = Path(cfg.out_dir) / "checkpoint.pt"
    if args.resume and checkpoint.is_file():
        _refuse_unsafe(checkpoint)
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
    from quads.data.auto import note_audio, scan_audio
    from quads.data.corpus import GENERIC_LAYOUTS, read_corpus
    from quads.data.synth import engine_of
    from quads.evaluate.metrics import breakdown, evaluate_predictions, format_table
    from quads.evaluate.rejection import NO_SPEECH
    from quads.inference import classify_files, load_model
    from quads.safe_io import check_output_path

    if args.json:
        check_output_path(args.json)  # before the evaluation, not after
    loaded = load_model(args.model)
    # The data's layout is detected (or forced); the labels are the model's own.
    labels = loaded.labels
    corpus = read_corpus(args.data, args.layout, args.split, args.skip_bad_rows, labels=labels)
    note_audio(scan_audio(corpus.utterances), f"{args.data} ({args.split})")
    t0 = time.time()
    paths = [u.path for u in corpus.utterances]
    preds = list(classify_files(loaded, paths, 1, args.batch_size, reject=not args.no_reject))
    for p in preds:
        if p.error:
            raise ValueError(p.error)
    y_true = [u.label for u in corpus.utterances]
    # Plain metrics on the model's own top answer (a gated clip still runs the model).
    gated = [i for i, p in enumerate(preds) if p.reason == NO_SPEECH]
    if gated:
        again = classify_files(loaded, [paths[i] for i in gated], 1, args.batch_size, False)
        for i, p in zip(gated, again):
            preds[i].top = p.top
    y_pred = [p.top[0][0] for p in preds]
    layout = loaded.meta.get("layout")  # slot accuracies follow the model's label kind
    layout = None if layout in GENERIC_LAYOUTS else layout
    result = evaluate_predictions(y_true, y_pred, labels, layout)
    if not args.no_reject:
        n = len(preds)
        kept_right = sum(p.intent is not None and p.intent == t for p, t in zip(preds, y_true))
        result["rejection"] = {
            "threshold": loaded.rejection.get("threshold", 0.0),
            "rejected": sum(p.intent is None for p in preds) / n,
            "rejected_no_speech": len(gated) / n,
            "rejected_low_confidence": sum(p.reason == "low confidence" for p in preds) / n,
            "accuracy_with_rejection": kept_right / n,
        }
    result["model"], result["bytes"] = str(args.model), Path(args.model).stat().st_size
    result["seconds"] = round(time.time() - t0, 2)
    engines = [engine_of(u.speaker) for u in corpus.utterances]
    result["by_engine"] = breakdown(y_true, y_pred, engines, labels, layout)
    print(format_table(result))
    if len(result["by_engine"]) > 1:  # a synthetic corpus voiced by several TTS engines
        for engine, r in result["by_engine"].items():
            print(
                f"engine {engine:<8} {r['n']:5d} utterances  accuracy {100 * r['accuracy']:6.2f} %"
            )
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


def _runtime_predictions(session, paths: list[str], top: int, reject: bool):
    """`quads.inference.classify_files` on the lean runtime (numpy + onnxruntime): the same
    answers, speech gate and confidence threshold, one clip at a time."""
    from types import SimpleNamespace

    import numpy as np

    from quads.evaluate.rejection import Gate, has_speech, model_entry, rejected
    from quads.runtime.audio import AudioError

    entry = model_entry(session.meta) if reject else None
    gate = Gate.from_meta(entry) if entry else None
    for path in paths:
        pred = SimpleNamespace(path=str(path), intent=None, confidence=0.0, top=[], reason=None)
        pred.error = None
        try:
            audio = session.load(path)
        except AudioError as e:
            pred.error = str(e)
        except OSError as e:
            pred.error = f"{path}: {e.strerror or e}"
        if pred.error is None and gate is not None and not has_speech(audio, gate):
            pred.reason = rejected(0.0, False, entry)
        elif pred.error is None:
            logits = session.logits(session.inputs(audio[None])).astype(np.float64)[0]
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            order = np.argsort(-probs, kind="stable")[:top]
            pred.top = [(session.labels[i], float(probs[i])) for i in order]
            pred.confidence = pred.top[0][1]
            pred.reason = rejected(pred.confidence, True, entry)
            if pred.reason is None:
                pred.intent = pred.top[0][0]
        yield pred


def cmd_predict(args: argparse.Namespace) -> int:
    from quads.safe_io import printable

    engine = args.engine
    if engine == "auto":
        runtime = args.model.endswith(".onnx") or _runtime_available(args.model)
        engine = "onnxruntime" if runtime else "torch"
    if engine == "torch" and args.model.endswith(".onnx"):
        raise ValueError(f"{args.model}: an .onnx model needs --engine onnxruntime")

    t0 = time.perf_counter()
    if engine == "onnxruntime":
        from quads.runtime.session import IntentSession

        session = IntentSession(args.model, threads=args.threads)
        t1 = time.perf_counter()
        preds = _runtime_predictions(session, args.audio, args.top, not args.no_reject)
    else:
        from quads.inference import classify_files, load_model

        loaded = load_model(args.model)
        t1 = time.perf_counter()
        preds = classify_files(loaded, args.audio, args.top, args.batch_size, not args.no_reject)
    failed = 0
    for pred in preds:
        failed += pred.error is not None
        if args.jsonl:
            print(json.dumps(_prediction_record(pred)), flush=True)
        elif pred.error:
            print(f"quads predict: error: {printable(pred.error)}", file=sys.stderr, flush=True)
        else:
            print(_prediction_line(pred, printable), flush=True)
    t2 = time.perf_counter()
    n = len(args.audio)
    print(
        f"loaded in {1000 * (t1 - t0):.0f} ms ({engine}); predicted {n - failed} of {n} file(s) in "
        f"{1000 * (t2 - t1):.0f} ms" + (f"; {failed} could not be read" if failed else ""),
        file=sys.stderr if args.jsonl else sys.stdout,
    )
    return 1 if failed else 0


def _prediction_line(pred, printable) -> str:
    top = ", ".join(f"{printable(label)} ({p:.2f})" for label, p in pred.top)
    if pred.intent is not None:
        return f"{printable(pred.path)}: {top}"
    if pred.top:
        return f"{printable(pred.path)}: unknown ({pred.reason}; best: {top})"
    return f"{printable(pred.path)}: unknown ({pred.reason})"


def _prediction_record(pred) -> dict:
    """One JSON Lines record; intent is null for "unknown" and for a file in error."""
    return {
        "file": pred.path,
        "intent": pred.intent,
        "confidence": round(pred.confidence, 4),
        "reason": pred.reason,
        "top": [{"intent": label, "p": round(p, 4)} for label, p in pred.top],
        "error": pred.error,
    }


def cmd_calibrate(args: argparse.Namespace) -> None:
    import shutil

    from quads.config import RejectionConfig
    from quads.data.corpus import read_corpus
    from quads.evaluate.rejection import calibrate_model
    from quads.inference import load_model
    from quads.quant.packing import rewrite_meta
    from quads.safe_io import check_output_path

    target = Path(args.out or args.model)
    check_output_path(target)
    loaded = load_model(args.model)
    layout = args.layout or loaded.meta.get("layout", "fsc")
    corpus = read_corpus(args.data, layout, args.split, args.skip_bad_rows)
    cfg = RejectionConfig(max_accuracy_drop=args.max_drop)
    entry = calibrate_model(loaded.model, loaded.settings, corpus, cfg, args.batch_size, args.split)
    if target.resolve() != Path(args.model).resolve():
        shutil.copyfile(args.model, target)
    size = rewrite_meta(target, {"rejection": entry})
    print(json.dumps(entry, indent=2))
    print(f"wrote {target} ({size} bytes): threshold {entry['threshold']:.4f}")


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
    _refuse_unsafe(run / "best.pt")
    cfg = from_dict(Config, json.loads((run / "config.json").read_text()))
    cfg.out_dir = str(run)
    print(json.dumps(Trainer(cfg, progress=False).export(run / "best.pt"), indent=2))
    if args.onnx:
        _export_onnx(args, run / "model.quads")


def _export_onnx(args: argparse.Namespace, model: Path) -> None:
    from quads.runtime.export import choose_int8, corpus_accuracy, export_onnx

    if args.int8 and not args.data:
        raise ValueError("--int8 needs --data CORPUS: the int8 scheme is chosen on its valid split")
    scheme = False
    if args.int8:  # chosen on valid whatever --split reports
        scheme, _ = choose_int8(model, args.data, "valid", log=lambda line: print(line, flush=True))
    size = export_onnx(model, args.onnx, scheme, args.frontend)
    kind = scheme.name if args.int8 else "fp32"
    print(f"wrote {args.onnx} ({kind}, {size:,} bytes)")
    if args.data:
        rows = [("int8" if args.int8 else "fp32", args.onnx)]
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


def _refuse_unsafe(checkpoint: Path) -> None:
    """Load a run folder's checkpoint the safe way first (no code runs; a crafted, empty or
    truncated file is refused naming it), before the training code loads it."""
    from quads.safe_io import load_checkpoint

    load_checkpoint(checkpoint)


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

    layout = args.layout
    data = args.data or ("data/synth-fsc" if layout == "fsc" else "data/synth-slurp-demo")
    out = args.out or ("runs/demo" if layout == "fsc" else "runs/demo-slurp")
    run_demo(Path(data), Path(out), preset=args.preset or f"{layout}-demo")


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
        sp.add_argument("--data", help="corpus folder or manifest CSV (sets data.root)")
        sp.add_argument(
            "--layout",
            choices=LAYOUTS,
            help="corpus layout (default: the preset's; detected when --data is given)",
        )
        sp.add_argument("--out", help="output folder (sets out_dir)")

    s = sub.add_parser(
        "synth", help="build a synthetic corpus: FSC or SLURP layout, or your own --intents"
    )
    s.add_argument("--layout", choices=["fsc", "slurp", "manifest"], help="default: fsc")
    s.add_argument(
        "--intents", metavar="YAML", help="your commands (intents, phrasings, slot values)"
    )
    s.add_argument("--out", required=True, help="corpus folder to write")
    s.add_argument(
        "--preset",
        choices=["tiny", "small", "medium", "full"],
        default="small",
        help="corpus size (--intents: 6, 40, 120 or 300 clips per intent)",
    )
    s.add_argument("--utterances", type=int, help="number of clips (overrides the preset)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, help="parallel TTS jobs (default: 2 per core)")
    s.add_argument(
        "--engine-share",
        action="append",
        metavar="ENGINE=SHARE",
        help="share of clips voiced by an engine besides espeak-ng, which voices the rest: "
        "kokoro (neural) or flite, e.g. --engine-share kokoro=0.3 --engine-share flite=0.2 "
        "(default: the preset's: tiny none, small/medium kokoro=0.3, full kokoro=0.5)",
    )
    s.add_argument(
        "--split-sizes",
        type=int,
        nargs=3,
        metavar=("TRAIN", "VALID", "TEST"),
        help="clips per split (overrides --preset/--utterances)",
    )
    s.add_argument(
        "--kokoro-holdout",
        metavar="VOICE",
        help="a Kokoro base voice (e.g. jm_kumo) heard only in the test split",
    )
    s.add_argument(
        "--text",
        default="default",
        metavar="JSONL|templates",
        help="SLURP layout: a JSONL of requests (sentence, scenario, action) to voice, split "
        "sentence-disjointly (default: SLURP's 2,033 real devel sentences, built in); "
        "'templates' for the built-in templates",
    )
    s.add_argument(
        "--voices-per-sentence", type=int, default=3, help="voices saying each sentence of --text"
    )
    s.add_argument(
        "--outliers",
        type=int,
        default=0,
        metavar="N",
        help="FSC layout: N clips of speech that is none of the intents (SLURP requests of "
        "other domains), in <out>/outliers, for data.outliers (rejection of such speech)",
    )
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
    s.add_argument("data", help="corpus folder (any layout) or manifest CSV")
    s.add_argument("--layout", choices=LAYOUTS, default="auto", help="default: detected")
    s.add_argument("--split", default="test", choices=["train", "valid", "devel", "test"])
    s.add_argument("--json", help="also write the result as JSON here")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--skip-bad-rows", action="store_true", help="skip and count broken rows")
    s.add_argument("--no-reject", action="store_true", help="no 'unknown' answers")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("predict", help="top intents of audio files ('unknown' if unsure)")
    s.add_argument("model", help=".quads file")
    s.add_argument("audio", nargs="+", help="wav or flac files")
    s.add_argument("--top", type=int, default=3)
    s.add_argument("--batch-size", type=int, default=16, help="files per forward pass")
    s.add_argument("--jsonl", action="store_true", help="one JSON object per file on stdout")
    s.add_argument(
        "--no-reject", action="store_true", help="always answer an intent (no speech gate)"
    )
    s.add_argument(
        "--engine",
        choices=["auto", "onnxruntime", "torch"],
        default="auto",
        help="auto: the lean runtime (numpy + onnxruntime) when installed, else torch",
    )
    s.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("calibrate", help="choose a model's rejection threshold on validation data")
    s.add_argument("model", help=".quads file (rewritten unless --out)")
    s.add_argument("data", help="corpus folder in FSC or SLURP layout")
    s.add_argument("--split", default="valid", choices=["train", "valid", "devel", "test"])
    s.add_argument("--layout", choices=["fsc", "slurp"], help="default: the model's layout")
    s.add_argument(
        "--max-drop",
        type=float,
        default=0.005,
        help="share of validation clips the model gets right that may be rejected",
    )
    s.add_argument("--out", help="write the calibrated model here instead")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--skip-bad-rows", action="store_true", help="skip and count broken rows")
    s.set_defaults(func=cmd_calibrate)

    s = sub.add_parser(
        "export", help="(re)write model.quads from a run's best checkpoint; a .quads file to ONNX"
    )
    s.add_argument("run", help="training run folder, or a .quads file (with --onnx)")
    s.add_argument("--onnx", help="also write this ONNX model (fp32 codes + codebooks)")
    s.add_argument(
        "--int8",
        action="store_true",
        help="ONNX with dynamic int8 matrix products, the scheme chosen on --data's valid split",
    )
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
    s.add_argument("--layout", choices=["fsc", "slurp"], default="fsc")
    s.add_argument("--data", help="corpus folder (default: data/synth-fsc, data/synth-slurp-demo)")
    s.add_argument("--out", help="run folder (default: runs/demo, runs/demo-slurp)")
    s.add_argument("--preset", help="training preset (default: fsc-demo, slurp-demo)")
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
        print(f"quads {args.command}: error: {printable(e)}", file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
