import sys
sys.path.insert(0,'benchmarks')
from robustness import predict
from quads.inference import load_model
from quads.audio import load_audio
from quads.data.corpus import read_corpus
from quads.models.whisper_weights import load_whisper, transcribe
import torch; torch.set_num_threads(1)
utts = read_corpus('data/robust-kokoro-valid', 'fsc', 'valid').utterances
pred = predict(load_model('runs/robust-final/espeak/quads-4bit/model.quads'), utts, None)
w = load_whisper('tiny.en')
n=0
for u, p in zip(utts, pred):
    if p != u.label and n < 14:
        n += 1
        print(u.label, '->', p, '| said:', u.transcript, '| heard:', transcribe(w, load_audio(u.path, 16000)), '|', u.speaker)
