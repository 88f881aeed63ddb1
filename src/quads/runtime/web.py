"""`quads serve-web MODEL`: build the page that listens (`web/`) for a model and serve it on
127.0.0.1 only.

The site is a folder: the page (`index.html`, `app.js`), onnxruntime-web's wasm build (from
npm: `npm install` in `web/`, or `make web`), `model.onnx` (the model with Whisper's log-mel
inside the graph, so the page feeds raw 16 kHz audio) and `model.json` (labels, context).
The page records from the microphone and classifies in the browser; the server only hands
out these static files.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import asdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from quads.runtime.audio import Trim
from quads.runtime.gate import Gate, model_entry

WEB_DIR = Path(__file__).resolve().parents[3] / "web"  # the checkout's web/ folder
PAGE_FILES = ("index.html", "app.js")
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
HOST = "127.0.0.1"
LEAD_SECONDS = 1.0


def build_site(model: str | os.PathLike, out: str | os.PathLike, web_dir: Path = WEB_DIR) -> Path:
    """Write the page, onnxruntime-web and the model (a .quads file, or an .onnx exported
    with --frontend) into `out`; returns `out`."""
    from quads.runtime.export import export_onnx
    from quads.runtime.session import IntentSession

    model, out, web_dir = Path(model), Path(out), Path(web_dir)
    dist = web_dir / "node_modules" / "onnxruntime-web" / "dist"
    missing = [p for p in PAGE_FILES if not (web_dir / p).is_file()]
    if missing:
        raise FileNotFoundError(f"{web_dir}: not the web/ folder of quads (no {missing[0]})")
    if not all((dist / f).is_file() for f in ORT_FILES):
        raise FileNotFoundError(
            f"{dist}: onnxruntime-web is not installed; run `npm install` in {web_dir} "
            "(or `make web`)"
        )
    (out / "ort").mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        shutil.copyfile(web_dir / name, out / name)
    for name in ORT_FILES:
        shutil.copyfile(dist / name, out / "ort" / name)
    target = out / "model.onnx"
    if model.suffix == ".onnx":
        shutil.copyfile(model, target)
    else:
        export_onnx(model, target, frontend=True)
    session = IntentSession(target)
    if session.input != "audio":
        raise ValueError(f"{model}: the page needs a model with the log-mel inside (--frontend)")
    info = {
        "labels": session.labels,
        "slots": session.meta.get("slots", {}),
        "context_seconds": session.context_seconds,
        # A second more than the context, for the pause before a person speaks (trimmed).
        "listen_seconds": session.context_seconds + LEAD_SECONDS,
        "trim": Trim.from_meta(session.meta.get("features", {}).get("trim")).to_meta(),
        "rejection": _rejection(session.meta),
        "bytes": target.stat().st_size,
        "source": model.name,
    }
    (out / "model.json").write_text(json.dumps(info, indent=1))
    return out


def _rejection(meta: dict) -> dict:
    """The model's speech gate (every setting) and confidence threshold, for the page."""
    entry = model_entry(meta)
    return {"threshold": float(entry.get("threshold", 0.0)), "gate": asdict(Gate.from_meta(entry))}


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (quiet)
        pass


def make_server(site: str | os.PathLike, port: int = 8000) -> ThreadingHTTPServer:
    """A static file server of `site` on 127.0.0.1:port (port 0: any free port)."""
    handler = functools.partial(_Handler, directory=str(site))
    return ThreadingHTTPServer((HOST, port), handler)
