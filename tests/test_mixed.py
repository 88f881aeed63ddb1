"""Mixed precision: bits per layer under a size budget (quant/mixed.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import tiny_slu_model
from test_mct import tiny_config
from torch import nn

from quads.config import ConfigError, QuantConfig, load_config
from quads.quant.layers import CodebookLayer
from quads.quant.mixed import (
    allocate_bits,
    input_energy,
    noise_to_signal,
)
from quads.quant.packing import size_breakdown
from quads.quant.surgery import quantize_model, quantized_size_bits
from quads.train.baselines import Job, _run_config, row_name
from quads.train.mct import Trainer


def _energy(model: nn.Module) -> dict[str, torch.Tensor]:
    mel = torch.randn(3, 80, 200)
    return input_energy(model, lambda: model(mel))


def test_input_energy_is_the_mean_square_of_each_input_channel():
    layer = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(5, 7, 4)
    energy = input_energy(layer, lambda: layer(x))
    torch.testing.assert_close(energy["0"], (x**2).reshape(-1, 4).mean(0))


def test_noise_to_signal_falls_with_bits_and_weighs_busy_inputs():
    w = torch.randn(16, 32)
    flat = torch.ones(32)
    nsr = [noise_to_signal(w, flat, b) for b in (1, 2, 4, 6)]
    assert nsr == sorted(nsr, reverse=True) and nsr[-1] < 1e-2 < nsr[0] < 1
    four = w.clone()
    four[:, 0] = torch.tensor([-1.0, 1.0]).repeat(8)  # input 0: two values, no error at 1 bit
    busy = torch.zeros(32)
    busy[0] = 1.0  # ... and the only input that carries energy
    assert noise_to_signal(four, busy, 1) > 0  # k-means still spends centroids on the rest
    assert noise_to_signal(four, busy, 1) < noise_to_signal(four, flat, 1)


def test_allocation_fits_the_budget_and_spends_it_where_the_error_is():
    model = tiny_slu_model(d_model=64, layers=2)
    cfg = QuantConfig(bits=4)
    energy = _energy(model)
    with torch.no_grad():  # a layer whose weights take 4 values needs no more than 2 bits
        model.encoder.layers[0].fc1.weight.copy_(
            torch.tensor([-0.2, -0.1, 0.1, 0.2]).repeat(128 * 64 // 4).view(128, 64)
        )
    sizes = {}
    for mb in (0.03, 0.045, 0.06):
        bits = allocate_bits(model, cfg, round(mb * 8e6), energy)
        assert min(bits.values()) >= 2 and max(bits.values()) <= 8
        assert bits["encoder.layers.0.fc1"] == 2
        assert len(set(bits.values())) > 1
        q = quantize_model(tiny_slu_model(d_model=64, layers=2), QuantConfig(bits_per_module=bits))
        assert {n: m.bits for n, m in q.named_modules() if isinstance(m, CodebookLayer)} == bits
        sizes[mb] = quantized_size_bits(q)
        assert sizes[mb] <= mb * 8e6  # the size figure fits the budget
        assert sizes[mb] > 0.9 * mb * 8e6  # ... and spends it
    with pytest.raises(ValueError, match="size_budget_mb: the model needs .* at 2 bits, more"):
        allocate_bits(model, cfg, 1000, energy)


def test_budget_and_a_bit_map_are_one_choice():
    with pytest.raises(ConfigError, match="size_budget_mb"):
        load_config(None, ["quant.size_budget_mb=2.5", "quant.bits_per_module={'head': 8}"])
    with pytest.raises(ConfigError, match="size_budget_mb"):
        load_config(None, ["quant.size_budget_mb=0"])
    with pytest.raises(ConfigError, match="bits_choices"):
        load_config(None, ["quant.bits_choices=[2, 16]"])


def test_a_run_under_a_budget_trains_and_ships_mixed_bits(whispers, fsc_tiny, tmp_path):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "run")
    cfg.quant.size_budget_mb = 0.012
    result = Trainer(cfg, progress=False).run()
    saved = json.loads((Path(cfg.out_dir) / "config.json").read_text())["quant"]
    assert saved["size_budget_mb"] is None and len(set(saved["bits_per_module"].values())) > 1
    parts = size_breakdown(Path(cfg.out_dir) / "model.quads")
    assert set(parts["quantized_weights_by_bits"]) == {
        str(b) for b in saved["bits_per_module"].values()
    }
    assert parts["codes_packed"] + parts["codebooks"] + parts["fp16"] + parts["fp32"] <= 0.012e6
    assert min(saved["bits_per_module"].values()) < result["mean_bits"]
    assert result["mean_bits"] < max(saved["bits_per_module"].values())

    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "fp", strategy="distill")
    cfg.quant.size_budget_mb = 0.012
    with pytest.raises(ValueError, match="does not apply to train.strategy 'distill'"):
        Trainer(cfg, progress=False)


def test_the_mixed_row_of_the_method_table_sets_the_budget(tmp_path):
    cfg = load_config(None, [])
    run = _run_config(cfg, tmp_path, Job("quads", True, 3, "mixed-2.5MB"))
    assert run.quant.size_budget_mb == 2.5 and run.out_dir == str(tmp_path / "quads-mixed-2.5MB")
    assert row_name("quads", True, 3, "mixed-2.5MB") == "quads-mixed-2.5MB"
