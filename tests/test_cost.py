import pytest
import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.evaluation.cost import (
    WHISPER_SIZES,
    cost_table,
    count_macs,
    format_cost_table,
    latency,
    model_size,
    params_count,
    whisper_config,
    whisper_encoder_gmacs,
)
from quads.models.student import SLUModel


@pytest.mark.parametrize("size,paper", [("tiny", 18.5), ("base", 43.7), ("large", 1136.6)])
def test_paper_gmacs_at_30s(size, paper):
    gmacs = whisper_encoder_gmacs(whisper_config(size), 30.0)
    assert gmacs == pytest.approx(paper, rel=0.02)
    assert gmacs == pytest.approx(paper, rel=0.002)  # in fact within 0.2 %


def test_hand_count_tiny_encoder():
    d, ffn, n_mels, T = 64, 128, 8, 20  # T positions = 2T mel frames
    cfg = WhisperConfig(
        d_model=d,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=ffn,
        num_mel_bins=n_mels,
        max_source_positions=T,
    )
    conv1 = (2 * T) * n_mels * d * 3  # k=3, stride 1, 2T output frames
    conv2 = T * d * d * 3  # k=3, stride 2, T output frames
    qkvo = 4 * T * d * d  # q, k, v, out projections
    attention = T * T * d + T * T * d  # QK^T and AV (summed over heads: d = heads x d_head)
    ffn_macs = 2 * T * d * ffn  # fc1 and fc2
    expected = conv1 + conv2 + qkvo + attention + ffn_macs
    gmacs = whisper_encoder_gmacs(cfg, context_seconds=T / 50)
    assert gmacs * 1e9 == pytest.approx(expected, abs=0.5)


def test_count_macs_linear_and_student_on_meta():
    with torch.device("meta"):
        lin = nn.Linear(10, 3)
    assert count_macs(lin, torch.empty(4, 10)) == 4 * 10 * 3  # CPU input moved to meta

    cfg = WhisperConfig(**WHISPER_SIZES["tiny"], max_source_positions=150)
    with torch.device("meta"):
        model = SLUModel(WhisperEncoder(cfg), labels=[f"i{k}" for k in range(31)])
        mel = torch.empty(1, 80, 300)
    encoder_macs = whisper_encoder_gmacs(cfg, 3.0) * 1e9
    assert count_macs(model, mel) == pytest.approx(encoder_macs + 384 * 31, abs=1)


def test_whisper_configs():
    assert whisper_config("tiny.en").d_model == 384
    assert whisper_config("large-v2").encoder_layers == 32
    assert whisper_config("large-v3").num_mel_bins == 128
    with pytest.raises(ValueError, match="unknown"):
        whisper_config("huge")


def test_params_size_and_paper_student_count(tmp_path):
    cfg = whisper_config("tiny")
    with torch.device("meta"):
        encoder = WhisperEncoder(cfg)
    # The paper's 7.64 M: tiny encoder without the frozen position table + Linear(384, 31).
    student = params_count(encoder, trainable_only=True) + 385 * 31
    assert student == pytest.approx(7.64e6, rel=1e-3)
    assert params_count(encoder) - params_count(encoder, trainable_only=True) == 1500 * 384

    f = tmp_path / "m.bin"
    f.write_bytes(b"x" * 1234)
    assert model_size(f) == 1234


def test_latency_restores_threads_and_mode():
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4)).train()
    before = torch.get_num_threads()
    out = latency(model, torch.randn(2, 16), threads=1, warmup=1, runs=5)
    assert out["threads"] == 1
    assert 0 < out["p50_ms"] <= out["p90_ms"]
    assert torch.get_num_threads() == before
    assert model.training


def test_cost_table():
    rows = cost_table(whisper_config("tiny"), whisper_config("base"), 3.0, n_labels=31)
    assert [r["name"] for r in rows] == ["student", "teacher", "whisper-large"]
    student, teacher, large = rows
    assert student["gmacs_30s"] == pytest.approx(18.5, rel=0.01)
    assert teacher["gmacs_30s"] == pytest.approx(43.7, rel=0.01)
    assert large["gmacs_30s"] == pytest.approx(1136.6, rel=0.01)
    assert student["gmacs"] < student["gmacs_30s"] / 9  # 3 s context: ~10x cheaper
    assert student["params"] == pytest.approx(7.64e6, rel=1e-3)
    text = format_cost_table(rows)
    assert "whisper-large" in text and "1136.3" in text
