"""What Whisper tiny.en hears on the first 14 Kokoro valid clips the robust-final espeak
student gets wrong. Run from the repository root (data/ and runs/ paths are relative to it).

    python benchmarks/experiments/2026-11-27-voices/asr.py
"""

import torch
from robustness_26dcfd5 import predict  # benchmarks/robustness.py at 26dcfd5

from quads.audio import load_audio
from quads.data.corpus import read_corpus
from quads.inference import load_model
from quads.models.whisper_weights import load_whisper, transcribe

torch.set_num_threads(1)
utts = read_corpus("data/robust-kokoro-valid", "fsc", "valid").utterances
pred = predict(load_model("runs/robust-final/espeak/quads-4bit/model.quads"), utts, None)
w = load_whisper("tiny.en")
n = 0
for u, p in zip(utts, pred):
    if p != u.label and n < 14:
        n += 1
        heard = transcribe(w, load_audio(u.path, 16000))
        print(u.label, "->", p, "| said:", u.transcript, "| heard:", heard, "|", u.speaker)
