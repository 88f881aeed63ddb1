"""The page that listens, in headless Chromium with a fake microphone playing a known clip:
it shows the intent and probability that the Python runtime gives for the same audio."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from headless import Browser, chromium_binary
from helpers import tiny_slu_model

from quads.api import load_model
from quads.config import QuantConfig
from quads.data.types import label_space
from quads.models.student import SLUModel
from quads.quant.packing import save_quads
from quads.quant.surgery import quantize_model
from quads.runtime.web import ORT_FILES, WEB_DIR, build_site, make_server

pytestmark = pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed")

RESULT = "document.getElementById('result')"


def test_page_shows_the_runtime_intent_for_a_clip_from_the_microphone(fsc_tiny, tmp_path):
    if not (WEB_DIR / "node_modules/onnxruntime-web/dist" / ORT_FILES[0]).is_file():
        pytest.fail(f"onnxruntime-web is missing: run `npm install` in {WEB_DIR} (make web)")
    model = tiny_slu_model(label_space("fsc"), d_model=64, layers=2, positions=150)
    slots = {"size": ["small", "large"], "drink": ["tea", "coffee", "hot chocolate"]}
    model = SLUModel(model.encoder, model.labels, "mean", 80, slots).eval()
    quantize_model(model, QuantConfig(bits=4))
    packed = tmp_path / "m.quads"
    save_quads(packed, model, {"features": {"n_mels": 80, "context_seconds": 3.0}})
    site = build_site(packed, tmp_path / "site")
    assert sorted(p.name for p in site.iterdir()) == [
        "app.js",
        "index.html",
        "model.json",
        "model.onnx",
        "ort",
    ]

    # The microphone plays the clip, then silence: the page records the first 4 s and cuts
    # the silence around the speech, as the Python runtime does with the whole file.
    clip, rate = sf.read(sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[0], dtype="float32")
    heard = np.zeros(6 * rate, np.float32)
    heard[: min(len(clip), 3 * rate)] = clip[: 3 * rate]
    sf.write(tmp_path / "mic.wav", heard, rate, subtype="PCM_16")
    [pred] = load_model(packed).predict([heard], top=1, reject=False)
    label, p = pred.top[0]
    assert pred.slots  # the random heads say some slot

    server = make_server(site, 0)
    assert server.server_address[0] == "127.0.0.1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Browser(fake_audio=tmp_path / "mic.wav") as browser:
            browser.open(f"http://127.0.0.1:{server.server_address[1]}/?auto")
            shown = browser.wait_for(
                f"{RESULT}.dataset.intent ? [{RESULT}.dataset.intent, "
                f"{RESULT}.dataset.probability, {RESULT}.dataset.slots] : "
                f"({RESULT}.dataset.error ? ['error', "
                f"{RESULT}.dataset.error] : null)",
                timeout=90,
            )
            browser.screenshot(tmp_path / "page.png")
    finally:
        server.shutdown()
        server.server_close()
    assert shown is not None, "the page showed nothing within 90 s"
    assert shown[0] == label, shown
    assert abs(float(shown[1]) - p) < 0.01
    assert json.loads(shown[2]) == pred.slots
    assert Path(tmp_path / "page.png").stat().st_size > 1000
