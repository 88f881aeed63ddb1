"""WiSE-FT probe: interpolate a trained student's encoder with the pretrained one.

    python benchmarks/experiments/2026-11-27-voices/wise.py MODEL ALPHA [ALPHA ...]

Run from the repository root (data/ paths are relative to it).
"""

import sys

import torch

from quads.audio import load_audio, log_mel
from quads.data.corpus import read_corpus
from quads.data.dataset import fit
from quads.inference import load_model
from quads.models.whisper_weights import load_whisper

torch.set_num_threads(1)
loaded = load_model(sys.argv[1])
model = loaded.model
s = loaded.settings
pre = load_whisper("tiny.en").encoder_state
fin = {k: v.clone() for k, v in model.encoder.state_dict().items()}
sets = {
    "espeak valid": read_corpus("data/robust-espeak", "fsc", "valid").utterances,
    "kokoro valid": read_corpus("data/robust-kokoro-valid", "fsc", "valid").utterances,
}


def mel_of(path):
    return log_mel(fit(load_audio(path, s.sample_rate)[: s.n_samples], s.n_samples), s.n_mels)


mels = {k: torch.stack([mel_of(u.path) for u in v]) for k, v in sets.items()}
for a in [float(x) for x in sys.argv[2:]]:
    st = {}
    for k, v in fin.items():
        p = pre.get(k)
        st[k] = v if p is None or p.shape != v.shape else (1 - a) * p.to(v.dtype) + a * v
    model.encoder.load_state_dict(st)
    out = []
    with torch.inference_mode():
        for k, m in mels.items():
            pred = torch.cat([model(m[i : i + 64]).argmax(-1) for i in range(0, len(m), 64)])
            acc = sum(model.labels[int(p)] == u.label for p, u in zip(pred, sets[k])) / len(pred)
            out.append(f"{k} {100 * acc:.1f}")
    print("alpha", a, *out, flush=True)
