"""Pretrained Whisper weights load offline and are *right*: they transcribe speech."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly
from transformers import WhisperFeatureExtractor

from quads.models.whisper_weights import (
    WeightsError,
    load_whisper,
    read_ct2,
    transcribe,
)

pytestmark = pytest.mark.integration


def speak(text: str, path: Path, rate: int = 140) -> np.ndarray:
    subprocess.run(["espeak-ng", "-s", str(rate), "-w", str(path), text], check=True)
    audio, sr = sf.read(path, dtype="float32")
    return resample_poly(audio, 16000, sr).astype(np.float32)


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory) -> np.ndarray:
    return speak("turn on the lights in the kitchen", tmp_path_factory.mktemp("tts") / "k.wav")


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_builtin_weights_transcribe_speech(name, kitchen):
    text = transcribe(load_whisper(name), kitchen).lower()
    for word in ("turn", "light", "kitchen"):
        assert word in text, text


def test_builtin_shapes():
    tiny, base = load_whisper("tiny.en"), load_whisper("base")
    assert (tiny.config.d_model, tiny.config.encoder_layers, tiny.n_mels) == (384, 4, 80)
    assert (base.config.d_model, base.config.encoder_layers, base.n_mels) == (512, 6, 80)
    assert tiny.config.vocab_size == 51864 and base.config.vocab_size == 51865
    # Whisper-tiny encoder: 7.63 M parameters without the fixed position table.
    enc = tiny.encoder()
    n = sum(p.numel() for n_, p in enc.named_parameters() if "embed_positions" not in n_)
    assert 7.5e6 < n < 7.7e6


def test_short_context_matches_30s_encoder(kitchen):
    """A 3 s encoder (sliced positions) stays close to the 30 s encoder on the speech frames."""
    w = load_whisper("tiny.en")
    mel30 = WhisperFeatureExtractor(feature_size=80)(
        kitchen, sampling_rate=16000, return_tensors="pt"
    ).input_features
    speech = slice(0, len(kitchen) * 50 // 16000)  # 50 encoder frames per second
    with torch.no_grad():
        short = w.encoder(context_seconds=3.0)(mel30[..., :300]).last_hidden_state
        full = w.encoder()(mel30).last_hidden_state[:, :150]
    assert short.shape == (1, 150, 384)
    a, b = full[0, speech], short[0, speech]
    # Measured here on this clip: mean cosine 0.952, relative L2 error 0.31. They cannot
    # agree exactly: the 30 s encoder also attends to 27 s of padding.
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).mean() > 0.93
    assert (a - b).norm() / a.norm() < 0.35


def test_fewer_layers_and_bad_context():
    w = load_whisper("tiny.en")
    enc = w.encoder(context_seconds=2.0, num_layers=2)
    assert len(enc.layers) == 2 and enc.embed_positions.weight.shape == (100, 384)
    torch.testing.assert_close(enc.layers[1].fc1.weight, w.encoder_state["layers.1.fc1.weight"])
    with pytest.raises(ValueError, match="context_seconds"):
        w.encoder(context_seconds=31)
    with pytest.raises(ValueError, match="num_layers"):
        w.encoder(num_layers=9)


def test_openai_checkpoint_and_hf_folder_load_the_same_weights(tmp_path):
    """The same tiny.en weights, saved as an openai-whisper .pt and as an HF folder,
    load back identical."""
    w = load_whisper("tiny.en")
    to_openai = [
        ("layers.", "blocks."),
        ("encoder_attn.q_proj", "cross_attn.query"),
        ("encoder_attn.k_proj", "cross_attn.key"),
        ("encoder_attn.v_proj", "cross_attn.value"),
        ("encoder_attn.out_proj", "cross_attn.out"),
        ("encoder_attn_layer_norm", "cross_attn_ln"),
        ("self_attn.q_proj", "attn.query"),
        ("self_attn.k_proj", "attn.key"),
        ("self_attn.v_proj", "attn.value"),
        ("self_attn.out_proj", "attn.out"),
        ("self_attn_layer_norm", "attn_ln"),
        ("fc1", "mlp.0"),
        ("fc2", "mlp.2"),
        ("final_layer_norm", "mlp_ln"),
        ("encoder.layer_norm", "encoder.ln_post"),
        ("decoder.layer_norm", "decoder.ln"),
        ("embed_tokens", "token_embedding"),
        ("embed_positions.weight", "positional_embedding"),
    ]
    sd = {}
    for k, v in w.state.items():
        for new, old in to_openai:
            k = k.replace(new, old)
        sd[k] = v.half()
    c = w.config
    dims = dict(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=384,
        n_audio_head=6,
        n_audio_layer=4,
        n_vocab=c.vocab_size,
        n_text_ctx=448,
        n_text_state=384,
        n_text_head=6,
        n_text_layer=4,
    )
    torch.save({"dims": dims, "model_state_dict": sd}, tmp_path / "tiny.en.pt")
    from_pt = load_whisper(str(tmp_path / "tiny.en.pt"))
    assert from_pt.state.keys() == w.state.keys()
    for k in w.state:
        torch.testing.assert_close(from_pt.state[k], w.state[k], atol=0, rtol=0, msg=k)

    w.full_model().save_pretrained(tmp_path / "hf")
    from_hf = load_whisper(str(tmp_path / "hf"))
    for k in w.state:
        torch.testing.assert_close(from_hf.state[k], w.state[k], msg=k)


def test_bad_references_say_what_is_wrong(tmp_path):
    with pytest.raises(WeightsError, match="not a built-in name"):
        load_whisper("no-such-whisper-model")
    with pytest.raises(WeightsError, match="file not found"):
        load_whisper(str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt"):
        load_whisper(str(tmp_path / "junk.pt"))
    bad = tmp_path / "ct2"
    bad.mkdir()
    from quads.models.whisper_weights import builtin_parts

    (bad / "model.bin").write_bytes(builtin_parts("tiny.en")[0].read_bytes()[:5000])
    with pytest.raises(WeightsError, match="truncated inside variable"):
        read_ct2([bad / "model.bin"])
