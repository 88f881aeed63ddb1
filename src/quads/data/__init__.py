"""Corpora: readers of the FSC and SLURP layouts, the espeak-ng synthetic corpus builder,
augmentation and the training dataset."""

from quads.data.corpus import Corpus, CorpusError, Utterance, label_space, read_corpus

__all__ = ["Corpus", "CorpusError", "Utterance", "label_space", "read_corpus"]
