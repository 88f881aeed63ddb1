"""QUADS: quantized distillation of Whisper into tiny spoken-language-understanding models."""

__version__ = "0.1.0"
