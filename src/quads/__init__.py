"""QUADS: quantized distillation of Whisper into tiny spoken-language-understanding models.

    import quads
    model = quads.load_model("model.quads")
    print(model.predict(["clip.wav"]))

See `quads.api` for `load_model`, `train`, `evaluate`, `calibrate` and `synth`.
"""

from quads.api import calibrate, evaluate, load_model, make_config, synth, train
from quads.runtime.predict import Model, Prediction

__version__ = "0.1.0"

__all__ = [
    "Model",
    "Prediction",
    "calibrate",
    "evaluate",
    "load_model",
    "make_config",
    "synth",
    "train",
]
