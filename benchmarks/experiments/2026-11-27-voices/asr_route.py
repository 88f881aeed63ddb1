"""Whisper tiny.en's own decoder as an SLU route: transcribe, then the intent of the closest
training transcript (difflib). Trained on nothing but the espeak-ng corpus's transcripts.
Run from the repository root (data/ paths are relative to it)."""

import difflib

import torch

from quads.audio import load_audio
from quads.data.corpus import read_corpus
from quads.models.whisper_weights import load_whisper, transcribe

torch.set_num_threads(2)
train = read_corpus("data/robust-espeak", "fsc", "train").utterances
known = {}
for u in train:
    known.setdefault(u.transcript.lower().strip(" .?!"), u.label)
phrases = list(known)
w = load_whisper("tiny.en")
for root, split, n in (
    ("data/robust-kokoro-valid", "valid", 300),
    ("data/robust-mixed", "valid", 300),
):
    utts = read_corpus(root, "fsc", split).utterances[:n]
    right = {}
    for u in utts:
        heard = transcribe(w, load_audio(u.path, 16000)).lower().strip(" .?!")
        best = difflib.get_close_matches(heard, phrases, n=1, cutoff=0.0)
        e = u.speaker.split("-")[0] if u.speaker.startswith("kokoro") else "espeak"
        right.setdefault(e, []).append(bool(best) and known[best[0]] == u.label)
    for e, r in right.items():
        print(root, split, e, f"{100 * sum(r) / len(r):.1f} % of {len(r)}", flush=True)
