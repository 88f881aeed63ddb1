"""Speech synthesis for training corpora: grammars and wordings in, voiced clips out.

corpus.py    plan and render FSC-, SLURP- and manifest-layout corpora (build_corpus)
intents.py   your own commands (our intents YAML) as a manifest corpus
phrases.py   the built-in FSC and SLURP phrase templates
wordings.py  real SLURP wordings (texts/slurp_devel.jsonl) for SLURP-layout corpora
kokoro.py    Kokoro-82M (neural voices, ONNX) driven from espeak-ng phonemes
flite.py     Flite voices
"""
