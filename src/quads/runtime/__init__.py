"""The device path: prediction with numpy + onnxruntime only (no torch, no transformers).

    quadsfile.py  read a .quads file into numpy arrays; the entropy codec of its codes
    audio.py      load a clip and compute Whisper's log-mel in numpy (as `quads.audio` does)
    graph.py      build the ONNX graph of a student from those arrays (needs `onnx`)
    session.py    an onnxruntime session over a .onnx or .quads file: clips in, intents out

Install alone with `pip install quads[runtime]`. Nothing in this package imports torch.
"""
