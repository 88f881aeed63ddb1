"""The page that listens, in headless Chromium, on a trained model: a test clip plays into a
fake microphone; the page's intent, probability and browser time are printed and a
screenshot is written to benchmarks/results/web_page.png (the README shows it).

    python benchmarks/web_page.py [--model runs/demo/quads-4bit/model.quads]
                                  [--data data/synth-fsc] [--clips 10]
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf
from headless import Browser
from provenance import provenance

RESULTS = Path(__file__).parent / "results"
RESULT = "document.getElementById('result')"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/demo/quads-4bit/model.quads")
    p.add_argument("--data", default="data/synth-fsc")
    p.add_argument("--clips", type=int, default=10, help="test clips played to the page")
    args = p.parse_args()
    from quads.data.corpus import read_corpus
    from quads.runtime.web import build_site, make_server

    tmp = Path(tempfile.mkdtemp(prefix="quads-web-"))
    atexit.register(shutil.rmtree, tmp, True)  # the ONNX files and clips made here
    site = build_site(args.model, tmp / "site")
    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/?auto"
    info = json.loads((site / "model.json").read_text())
    utterances = read_corpus(args.data, "fsc", "test").utterances[: args.clips]
    rows = []
    for i, u in enumerate(utterances):
        clip, rate = sf.read(u.path, dtype="float32")
        heard = np.zeros(int((info["context_seconds"] + 1) * rate), np.float32)
        n = min(len(clip), int(info["context_seconds"] * rate))
        heard[:n] = clip[:n]
        mic = tmp / f"mic{i}.wav"
        sf.write(mic, heard, rate, subtype="PCM_16")
        with Browser(fake_audio=mic) as browser:
            browser.open(url)
            shown = browser.wait_for(
                f"{RESULT}.dataset.intent && [{RESULT}.dataset.intent, "
                f"{RESULT}.dataset.probability, document.getElementById('status').textContent]",
                timeout=120,
            )
            if i == 0:
                browser.screenshot(RESULTS / "web_page.png")
        label, prob, status = shown
        rows.append(
            {
                "clip": u.path.name,
                "truth": u.label,
                "page": label,
                "p": float(prob),
                "status": status,
            }
        )
        print(rows[-1], flush=True)
    server.shutdown()
    right = sum(r["truth"] == r["page"] for r in rows)
    parts = Path(args.model).resolve().parts  # shown from its runs/ folder on, as in any clone
    summary = {
        "provenance": provenance(args.model),
        "model": "/".join(parts[parts.index("runs") :]) if "runs" in parts else args.model,
        "model_bytes": info["bytes"],
        "clips": rows,
        "page_accuracy": right / len(rows),
    }
    (RESULTS / "web_page.json").write_text(json.dumps(summary, indent=2))
    print(
        f"the page got {right}/{len(rows)} test clips right; screenshot: {RESULTS / 'web_page.png'}"
    )


if __name__ == "__main__":
    main()
