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


def _model(tmp_path: Path, rejection: dict | None = None) -> Path:
    """A tiny random 4-bit model with slots, packed (with `rejection` settings if given)."""
    model = tiny_slu_model(label_space("fsc"), d_model=64, layers=2, positions=150)
    slots = {"size": ["small", "large"], "drink": ["tea", "coffee", "hot chocolate"]}
    model = SLUModel(model.encoder, model.labels, "mean", 80, slots).eval()
    quantize_model(model, QuantConfig(bits=4))
    packed = tmp_path / "m.quads"
    meta = {"features": {"n_mels": 80, "context_seconds": 3.0}}
    save_quads(packed, model, meta | ({"rejection": rejection} if rejection else {}))
    return packed


def _microphone(fsc_tiny: Path, tmp_path: Path, speech: bool = True) -> np.ndarray:
    """What the fake microphone plays (a clip, then silence; or silence alone): 6 s."""
    clip, rate = sf.read(sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[0], dtype="float32")
    heard = np.zeros(6 * rate, np.float32)
    if speech:
        heard[: min(len(clip), 3 * rate)] = clip[: 3 * rate]
    sf.write(tmp_path / "mic.wav", heard, rate, subtype="PCM_16")
    return heard


def _page_answer(site: Path, tmp_path: Path) -> dict:
    """Open the page with the fake microphone; what it shows (its result's data)."""
    server = make_server(site, 0)
    assert server.server_address[0] == "127.0.0.1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Browser(fake_audio=tmp_path / "mic.wav") as browser:
            browser.open(f"http://127.0.0.1:{server.server_address[1]}/?auto")
            shown = browser.wait_for(
                f"({RESULT}.dataset.intent || {RESULT}.dataset.error) ? "
                f"Object.assign({{}}, {RESULT}.dataset) : null",
                timeout=90,
            )
            browser.screenshot(tmp_path / "page.png")
    finally:
        server.shutdown()
        server.server_close()
    assert shown is not None, "the page showed nothing within 90 s"
    assert "error" not in shown, shown
    assert Path(tmp_path / "page.png").stat().st_size > 1000
    return shown


def _need_ort() -> None:
    if not (WEB_DIR / "node_modules/onnxruntime-web/dist" / ORT_FILES[0]).is_file():
        pytest.fail(f"onnxruntime-web is missing: run `npm install` in {WEB_DIR} (make web)")


def test_page_shows_the_runtime_intent_for_a_clip_from_the_microphone(fsc_tiny, tmp_path):
    _need_ort()
    packed = _model(tmp_path)
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
    [pred] = load_model(packed).predict([_microphone(fsc_tiny, tmp_path)], top=1)
    assert pred.reason is None and pred.slots  # the random heads say some slot
    shown = _page_answer(site, tmp_path)
    assert shown["intent"] == pred.intent and shown["reason"] == ""
    assert abs(float(shown["probability"]) - pred.confidence) < 0.01
    assert json.loads(shown["slots"]) == pred.slots


@pytest.mark.parametrize("speech", [True, False])
def test_page_rejects_as_the_runtime_does(fsc_tiny, tmp_path, speech):
    """Under the model's threshold the page says "unknown" (low confidence), and silence
    does not pass its speech gate (no speech): the answers of the Python runtime."""
    _need_ort()
    gate = {"min_speech_seconds": 0.15, "energy_floor_db": -50.0, "max_flatness": 0.35}
    packed = _model(tmp_path, {"threshold": 0.99, "gate": gate})
    site = build_site(packed, tmp_path / "site")
    [pred] = load_model(packed).predict([_microphone(fsc_tiny, tmp_path, speech)], top=1)
    record = pred.to_json()
    assert record["intent"] == "unknown"
    assert record["reason"] == ("low confidence" if speech else "no speech")
    shown = _page_answer(site, tmp_path)
    assert (shown["intent"], shown["reason"]) == (record["intent"], record["reason"])
    assert shown["best"] == pred.best and json.loads(shown["slots"]) == {} == pred.slots
