"""`quads` command line: a thin layer over the Python API (`quads.api`).

Every command takes -v/--verbose and --version, shows its defaults and an example in --help,
and writes its output where -o/--out says.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from quads import __version__
from quads.api import ENGINES, SIZES
from quads.config import LAYOUTS
from quads.runtime.gate import NO_SPEECH
from quads.safe_io import printable

log = logging.getLogger("quads")

SPLITS = ("train", "valid", "test")


def cmd_synth(args: argparse.Namespace) -> None:
    from quads.api import synth

    options: dict = {
        "utterances": args.utterances,
        "seed": args.seed,
        "workers": args.workers,
        "shares": _engine_shares(args.engine_share),
        "sizes": dict(zip(SPLITS, args.split_sizes)) if args.split_sizes else None,
    }
    if args.intents:
        # The corpus-layout options have no meaning for your own commands: refuse, not ignore.
        layout_only = {
            "--kokoro-holdout": args.kokoro_holdout,
            "--text": args.text,
            "--voices-per-sentence": args.voices_per_sentence,
            "--outliers": args.outliers,
        }
        given = [flag for flag, value in layout_only.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} does not apply to --intents corpora")
    else:
        options |= {
            "kokoro_holdout": args.kokoro_holdout,
            "text": None if args.text == "templates" else (args.text or "default"),
            "voices_per_sentence": args.voices_per_sentence or 3,
            "outliers": args.outliers or 0,
        }
    summary = synth(args.out, args.intents, args.layout, args.size, **options)
    print(json.dumps(summary, indent=2, default=str))


def _engine_shares(pairs: list[str] | None) -> dict[str, float] | None:
    """`--engine-share kokoro=0.3` arguments as {"kokoro": 0.3} (None: the size's own)."""
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
    from quads.api import train

    result = train(args.config, args.data, args.out, args.layout, args.set, args.resume)
    print(json.dumps(result, indent=2))


def cmd_compare(args: argparse.Namespace) -> None:
    from quads.api import make_config
    from quads.report import write_report
    from quads.train.baselines import compare, paper_jobs

    cfg = make_config(args.config, args.data, args.out, args.layout, args.set)
    out = Path(cfg.out_dir)
    compare(cfg, out, paper_jobs(args.bits, args.baseline_bits))
    print(f"report: {write_report(out)}")


def cmd_eval(args: argparse.Namespace) -> None:
    from quads.api import evaluate
    from quads.evaluation.metrics import format_table
    from quads.safe_io import check_output_path

    if args.out:
        check_output_path(args.out)  # before the evaluation, not after
    result = evaluate(
        args.model,
        args.data,
        args.split,
        args.layout,
        not args.no_reject,
        args.batch_size,
        args.skip_bad_rows,
        args.engine,
    )
    print(format_table(result))
    if len(result["by_engine"]) > 1:  # a synthetic corpus voiced by several TTS engines
        for engine, r in result["by_engine"].items():
            print(
                f"engine {engine:<8} {r['n']:5d} utterances  accuracy {100 * r['accuracy']:6.2f} %"
            )
    if result["skipped_rows"]:
        print(f"skipped {result['skipped_rows']} bad rows (see the warnings above)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


def cmd_predict(args: argparse.Namespace) -> int:
    from quads.api import load_model

    t0 = time.perf_counter()
    model = load_model(args.model, args.engine, args.threads)
    t1 = time.perf_counter()
    preds = model.predict_iter(args.audio, args.top, not args.no_reject, args.batch_size)
    failed = 0
    for pred in preds:
        failed += pred.error is not None
        if args.jsonl:
            print(json.dumps(pred.to_json()), flush=True)
        elif pred.error:
            print(f"quads predict: error: {printable(pred.error)}", file=sys.stderr, flush=True)
        else:
            print(_prediction_line(pred), flush=True)
    t2 = time.perf_counter()
    n = len(args.audio)
    print(
        f"loaded in {1000 * (t1 - t0):.0f} ms ({model.engine}); predicted {n - failed} of {n} "
        f"file(s) in {1000 * (t2 - t1):.0f} ms"
        + (f"; {failed} could not be read" if failed else ""),
        file=sys.stderr if args.jsonl else sys.stdout,
    )
    return 1 if failed else 0


def _prediction_line(pred) -> str:
    top = ", ".join(f"{printable(label)} ({p:.2f})" for label, p in pred.top)
    if pred.intent is not None:
        return f"{printable(pred.path)}: {top}"
    if pred.reason == NO_SPEECH:  # the model's guess on silence or noise says nothing
        return f"{printable(pred.path)}: unknown ({pred.reason})"
    return f"{printable(pred.path)}: unknown ({pred.reason}; best: {top})"


def cmd_calibrate(args: argparse.Namespace) -> None:
    from quads.api import calibrate

    entry = calibrate(
        args.model,
        args.data,
        args.split,
        args.layout,
        args.out,
        args.max_drop,
        args.batch_size,
        args.skip_bad_rows,
    )
    size = entry.pop("bytes")
    print(json.dumps(entry, indent=2))
    print(f"wrote {args.out or args.model} ({size} bytes): threshold {entry['threshold']:.4f}")


def cmd_export(args: argparse.Namespace) -> None:
    run = Path(args.run)
    if run.is_file():  # a .quads file: to ONNX
        if not args.out:
            raise ValueError(f"{run}: exporting a .quads file needs -o OUT.onnx")
        _export_onnx(args, run)
        return
    from quads.config import Config, from_dict
    from quads.safe_io import load_checkpoint
    from quads.train.mct import Trainer

    if not (run / "config.json").is_file() or not (run / "best.pt").is_file():
        raise FileNotFoundError(f"{run}: not a training run folder (needs config.json, best.pt)")
    load_checkpoint(run / "best.pt")  # refused, naming it, before the training code loads it
    cfg = from_dict(Config, json.loads((run / "config.json").read_text()))
    cfg.out_dir = str(run)
    print(json.dumps(Trainer(cfg, progress=False).export(run / "best.pt"), indent=2))
    if args.out:
        _export_onnx(args, run / "model.quads")


def _export_onnx(args: argparse.Namespace, model: Path) -> None:
    from quads.evaluation.int8 import choose_int8, corpus_accuracy
    from quads.runtime.export import export_onnx

    if args.int8 and not args.data:
        raise ValueError("--int8 needs --data CORPUS: the int8 scheme is chosen on its valid split")
    scheme = False
    if args.int8:  # chosen on valid whatever --split reports
        scheme, _ = choose_int8(model, args.data, "valid", log=lambda line: print(line, flush=True))
    size = export_onnx(model, args.out, scheme, args.frontend)
    kind = scheme.name if args.int8 else "fp32"
    print(f"wrote {args.out} ({kind}, {size:,} bytes)")
    if args.data:
        rows = [("int8" if args.int8 else "fp32", args.out)]
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
    from quads.evaluation.cost import cost_table, format_cost_table
    from quads.models.whisper_weights import load_whisper

    student = load_whisper(args.student).config
    teacher = load_whisper(args.teacher).config
    print(format_cost_table(cost_table(student, teacher, args.context, args.labels)))


def cmd_report(args: argparse.Namespace) -> None:
    from quads.report import write_report

    print(f"report: {write_report(Path(args.run))}")


def cmd_demo(args: argparse.Namespace) -> None:
    from quads.demo import run_demo

    if args.context:
        from quads.demo import run_grammar_demo

        if args.layout:
            raise ValueError("--layout does not apply to --context (a grammar's own corpus)")
        name = Path(args.context).stem
        data, out = args.data or f"data/{name}", args.out or f"runs/{name}"
        run_grammar_demo(Path(args.context), Path(data), Path(out), args.config)
        return
    layout = args.layout or "fsc"
    data = args.data or ("data/synth-fsc" if layout == "fsc" else "data/synth-slurp-demo")
    out = args.out or ("runs/demo" if layout == "fsc" else "runs/demo-slurp")
    run_demo(Path(data), Path(out), preset=args.config or f"{layout}-demo")


class _Parser(argparse.ArgumentParser):
    """A bad command line gets one line, not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option that takes a value (one whose default depends on
    others says so in its help instead of "None"); the example in the epilog kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0 or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


# Resumable commands: an interruption can be continued where the work was saved.
RESUMABLE = {"train": "rerun with --resume", "compare": "rerun it", "demo": "rerun it"}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own default must not undo a -v given before it.
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    common.add_argument("--version", action="version", version=f"quads {__version__}")
    p = _Parser(
        prog="quads",
        description="QUADS: distil and quantize Whisper into a tiny on-device intent model.",
        parents=[common],
        formatter_class=_Help,
        epilog="example: quads predict runs/demo/quads-4bit/model.quads clip.wav",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            formatter_class=_Help,
            epilog=f"example:\n  {example}",
        )

    def training_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default="fsc-demo", help="training preset name or YAML file")
        sp.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set train.alpha=0.3",
        )
        sp.add_argument("--data", help="corpus folder or manifest CSV (its layout is detected)")
        sp.add_argument(
            "--layout",
            choices=("auto",) + LAYOUTS,
            help="corpus layout (default: the preset's; detected when --data is given)",
        )
        sp.add_argument("-o", "--out", help="run folder (default: the preset's out_dir)")

    s = command(
        "synth",
        "build a synthetic corpus: FSC or SLURP layout, or your own --intents",
        "quads synth --intents examples/commands.yaml --size medium -o data/mine",
    )
    s.add_argument("-o", "--out", required=True, help="corpus folder to write")
    s.add_argument("--layout", choices=["fsc", "slurp", "manifest"], help="default: fsc")
    s.add_argument(
        "--intents",
        metavar="YAML",
        help="your commands: our intents YAML or a Picovoice Rhino context (intents, slots)",
    )
    s.add_argument(
        "--size",
        choices=SIZES,
        default="small",
        help="corpus size (--intents: 6, 40, 120 or 300 clips per intent and per 4 slot values)",
    )
    s.add_argument("--utterances", type=int, help="number of clips (overrides --size)")
    s.add_argument("--seed", type=int, default=0, help="voices, wordings and splits")
    s.add_argument("--workers", type=int, help="parallel TTS jobs (default: 2 per core)")
    s.add_argument(
        "--engine-share",
        action="append",
        metavar="ENGINE=SHARE",
        help="share of clips voiced by an engine besides espeak-ng, which voices the rest: "
        "kokoro (neural, Japanese style tables), kokoro-en (neural, 28 English speakers; "
        "`make voices` fetches them), flite or pico, e.g. --engine-share kokoro-en=0.3 "
        "--engine-share flite=0.2 "
        "(default: the size's: tiny none, small/medium kokoro-en=0.3, full kokoro-en=0.5)",
    )
    s.add_argument(
        "--split-sizes",
        type=int,
        nargs=3,
        metavar=("TRAIN", "VALID", "TEST"),
        help="clips per split (overrides --size/--utterances)",
    )
    s.add_argument(
        "--kokoro-holdout",
        metavar="VOICE",
        help="a Kokoro style table (jm_kumo, or an English one such as af_heart) heard only in "
        "the test split",
    )
    s.add_argument(
        "--text",
        metavar="JSONL|templates",
        help="SLURP layout: a JSONL of requests (sentence, scenario, action) to voice, split "
        "sentence-disjointly (default: SLURP's 2,033 real devel sentences, built in); "
        "'templates' for the built-in templates",
    )
    s.add_argument(
        "--voices-per-sentence", type=int, help="voices saying each sentence of --text (default 3)"
    )
    s.add_argument(
        "--outliers",
        type=int,
        metavar="N",
        help="FSC layout: N clips of speech that is none of the intents (SLURP requests of "
        "other domains), in <out>/outliers, for data.outliers (default 0)",
    )
    s.set_defaults(func=cmd_synth)

    s = command(
        "train",
        "train one model (QUADS or a baseline), export its .quads file, test it once",
        "quads train --config commands-demo --data data/mine -o runs/mine",
    )
    training_options(s)
    s.add_argument("--resume", action="store_true", help="continue an interrupted run")
    s.set_defaults(func=cmd_train)

    s = command(
        "compare",
        "QUADS at several bit widths against the baselines, with a report",
        "quads compare --config fsc-bench --bits 8 4 2 -o runs/table",
    )
    training_options(s)
    s.add_argument("--bits", type=int, nargs="+", default=[32, 16, 8, 4, 2], help="QUADS rows")
    s.add_argument(
        "--baseline-bits", type=int, nargs="+", default=[4, 2], help="baseline rows' bit widths"
    )
    s.set_defaults(func=cmd_compare)

    s = command(
        "eval",
        "accuracy, macro-F1, per-intent scores and rejection of a model on a corpus split",
        "quads eval runs/demo/quads-4bit/model.quads data/synth-fsc -o metrics.json",
    )
    s.add_argument("model", help=".quads or .onnx file")
    s.add_argument("data", help="corpus folder (any layout) or manifest CSV")
    s.add_argument("--layout", choices=("auto",) + LAYOUTS, default="auto", help="corpus layout")
    s.add_argument("--split", default="test", choices=SPLITS, help="split to score")
    s.add_argument("-o", "--out", help="also write the result as JSON here")
    s.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    s.add_argument("--skip-bad-rows", action="store_true", help="skip and count broken rows")
    s.add_argument("--no-reject", action="store_true", help="no 'unknown' answers")
    s.add_argument("--engine", choices=ENGINES, default="auto", help="auto: onnxruntime if there")
    s.set_defaults(func=cmd_eval)

    s = command(
        "predict",
        "the intents of audio files ('unknown' when there is no speech or the model is unsure)",
        "quads predict runs/demo/quads-4bit/model.quads clip.wav --jsonl",
    )
    s.add_argument("model", help=".quads or .onnx file")
    s.add_argument("audio", nargs="+", help="wav or flac files")
    s.add_argument("--top", type=int, default=3, help="best intents to show")
    s.add_argument("--batch-size", type=int, default=16, help="files per forward pass")
    s.add_argument("--jsonl", action="store_true", help="one JSON object per file on stdout")
    s.add_argument("--no-reject", action="store_true", help="always answer an intent")
    s.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: the lean runtime (numpy + onnxruntime) when installed, else torch",
    )
    s.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    s.set_defaults(func=cmd_predict)

    s = command(
        "calibrate",
        "choose a model's rejection threshold on validation data",
        "quads calibrate model.quads data/mine --split valid -o calibrated.quads",
    )
    s.add_argument("model", help=".quads file (rewritten unless -o)")
    s.add_argument("data", help="corpus folder (any layout) or manifest CSV")
    s.add_argument("--split", default="valid", choices=SPLITS, help="split to choose on")
    s.add_argument("--layout", choices=("auto",) + LAYOUTS, default="auto", help="corpus layout")
    s.add_argument(
        "--max-drop",
        type=float,
        default=0.005,
        help="share of validation clips the model gets right that may be rejected",
    )
    s.add_argument("-o", "--out", help="write the calibrated model here instead")
    s.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    s.add_argument("--skip-bad-rows", action="store_true", help="skip and count broken rows")
    s.set_defaults(func=cmd_calibrate)

    s = command(
        "export",
        "(re)write model.quads from a run's best checkpoint; a .quads file to ONNX",
        "quads export runs/demo/quads-4bit/model.quads -o model.onnx --int8 --data data/synth-fsc",
    )
    s.add_argument("run", help="training run folder, or a .quads file (with -o)")
    s.add_argument("-o", "--out", help="write this ONNX model (fp32: codes + codebooks)")
    s.add_argument(
        "--int8",
        action="store_true",
        help="ONNX with dynamic int8 matrix products, the scheme chosen on --data's valid split",
    )
    s.add_argument("--frontend", action="store_true", help="log-mel inside the graph (audio in)")
    s.add_argument("--data", help="corpus: measure the ONNX model's accuracy on --split")
    s.add_argument("--split", default="valid", choices=SPLITS, help="split --data is scored on")
    s.set_defaults(func=cmd_export)

    s = command(
        "serve-web",
        "the page that listens, for a model, on 127.0.0.1",
        "quads serve-web runs/demo/quads-4bit/model.quads --port 8000",
    )
    s.add_argument("model", help=".quads file (or an .onnx exported with --frontend)")
    s.add_argument("--port", type=int, default=8000, help="0: any free port")
    s.add_argument("-o", "--out", help="build the site in this folder (default: a temporary one)")
    s.set_defaults(func=cmd_serve_web)

    s = command(
        "cost",
        "parameters and GMACs of student, teacher and Whisper large",
        "quads cost --context 3",
    )
    s.add_argument("--student", default="tiny.en", help="Whisper size or folder")
    s.add_argument("--teacher", default="base", help="Whisper size or folder")
    s.add_argument("--context", type=float, default=4.0, help="seconds of audio context")
    s.add_argument("--labels", type=int, default=31, help="intents in the head")
    s.set_defaults(func=cmd_cost)

    s = command(
        "report", "Markdown tables and PNG plots of a compare folder", "quads report runs/table"
    )
    s.add_argument("run", help="folder holding results.json")
    s.set_defaults(func=cmd_report)

    s = command(
        "demo",
        "the whole job on built-in synthetic data: corpus, training, export, evaluation",
        "quads demo --context examples/coffee_maker.yaml",
    )
    s.add_argument("--layout", choices=["fsc", "slurp"], help="built-in corpus (default: fsc)")
    s.add_argument(
        "--context",
        metavar="GRAMMAR",
        help="a grammar of intents and slots instead (our intents YAML or a Rhino context), "
        "e.g. examples/coffee_maker.yaml",
    )
    s.add_argument(
        "--data", help="corpus folder (default: data/synth-fsc, data/synth-slurp-demo, data/NAME)"
    )
    s.add_argument(
        "-o", "--out", help="run folder (default: runs/demo, runs/demo-slurp, runs/NAME)"
    )
    s.add_argument("--config", help="training preset (default: fsc-demo, slurp-demo, slots-demo)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        how = RESUMABLE.get(args.command)
        print("quads: interrupted" + (f"; {how} to continue" if how else ""), file=sys.stderr)
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
