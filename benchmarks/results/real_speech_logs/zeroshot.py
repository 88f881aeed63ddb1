"""Whisper itself as a zero-shot keyword classifier on a real half (docs/robustness.md,
"Real people"): how much the teacher knows about these recordings.

    python zeroshot.py base data/kw-rv valid SHARD SHARDS

For each clip of the split (every SHARDS-th from SHARD), the decoder's log-likelihood of
each word of examples/speech_commands.yaml (" Word." then end of text); a keyword's score
wins its class, any other word's "_unknown_". Slow on a CPU (the encoder output is
repeated for every word): about 8 s a clip for base.
"""

from __future__ import annotations

import csv
import sys

import soundfile as sf
import torch
import yaml
from tokenizers import Tokenizer
from transformers import WhisperFeatureExtractor

from quads.models.whisper_weights import load_whisper, tokens_info

torch.set_num_threads(1)
name, corpus, split, shard, shards = sys.argv[1:6]
grammar = yaml.safe_load(open("examples/speech_commands.yaml"))["intents"]
cands = [(str(label), str(word)) for label, words in grammar.items() for word in words]
w = load_whisper(name)
model = w.full_model().eval()
tok = Tokenizer.from_file(str(w.tokenizer_file))
prompt, eot = tokens_info(w.tokenizer_file, w.config.vocab_size >= 51865)
seqs = [
    prompt + tok.encode(f" {word.capitalize()}.", add_special_tokens=False).ids + [eot]
    for _, word in cands
]
ids = torch.full((len(seqs), max(map(len, seqs))), eot)
mask = torch.zeros(ids.shape)
for i, s in enumerate(seqs):
    ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
features = WhisperFeatureExtractor(feature_size=w.n_mels)
rows = list(csv.DictReader(open(f"{corpus}/{split}.csv")))[int(shard) :: int(shards)]
right = 0
with torch.inference_mode():
    for n, r in enumerate(rows, 1):
        audio, _ = sf.read(f"{corpus}/{r['path']}", dtype="float32")
        mel = features(audio, sampling_rate=16000, return_tensors="pt").input_features
        enc = model.model.encoder(mel).last_hidden_state.expand(len(seqs), -1, -1)
        logits = model(encoder_outputs=(enc,), decoder_input_ids=ids[:, :-1]).logits
        lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
        score = (lp * mask[:, 1:])[:, len(prompt) - 1 :].sum(1)
        right += cands[int(score.argmax())][0] == r["label"]
        print(f"{n}/{len(rows)}: {right / n * 100:.2f} %", flush=True)
