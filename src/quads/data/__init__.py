"""Corpora: the layouts' readers (one interface: `read_corpus`), splits, the training dataset
and augmentation. Speech synthesis lives in `quads.synth`."""

from quads.data.corpus import read_corpus
from quads.data.types import Corpus, CorpusError, Utterance, label_space

__all__ = ["Corpus", "CorpusError", "Utterance", "label_space", "read_corpus"]
