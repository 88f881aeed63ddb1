"""Codebook quantization: k-means, trainable centroids, whole-model swaps and MCT cycling."""

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_slu_model
from torch import nn

from quads.config import QuantConfig
from quads.models.student import SLUModel
from quads.quant import (
    CodebookConv1d,
    CodebookLayer,
    CodebookLinear,
    dequantize,
    extract_codebooks,
    kmeans,
    post_training_quantize,
    quantize_model,
)


def tiny_model(seed: int = 0) -> SLUModel:
    return tiny_slu_model(seed=seed)


def dense_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d))}


# --------------------------------------------------------------------------- kmeans


def test_kmeans_one_centroid_per_distinct_value_reproduces_the_weight_exactly():
    torch.manual_seed(0)
    levels = torch.randn(8)
    w = levels[torch.randint(8, (64, 64))]
    for k in (8, 16):
        centroids, codes = kmeans(w.flatten(), k)
        assert centroids.shape == (k,)
        assert torch.equal(centroids[codes].view_as(w), w)


def test_kmeans_assigns_nearest_centroid_and_centroids_are_cluster_means():
    torch.manual_seed(0)
    x = torch.randn(50_000) * 0.05
    for init in ("kmeans++", "linear"):
        c, codes = kmeans(x, 16, init=init, iters=2000)  # 1-D Lloyd converges slowly
        nearest = (x[:, None] - c[None, :]).abs().argmin(dim=1)
        dist = (x - c[codes]).abs()
        assert torch.allclose(dist, (x - c[nearest]).abs())  # ties aside, codes are nearest
        for j in range(16):
            assert torch.allclose(c[j], x[codes == j].mean(), atol=1e-6)
        # Lloyd-Max beats evenly spaced levels on a bell-shaped distribution.
        levels = torch.linspace(float(x.min()), float(x.max()), 16)
        uniform = levels[(x[:, None] - levels).abs().argmin(dim=1)]
        assert (x - c[codes]).pow(2).mean() < 0.7 * (x - uniform).pow(2).mean()


def test_kmeans_reseeds_empty_clusters():
    torch.manual_seed(0)
    x = torch.rand(10_000) * 2 - 1
    # Every value starts in the first cluster (all centroids far to the right, or identical).
    for init in (torch.tensor([10.0, 11.0, 12.0, 13.0]), torch.zeros(4)):
        c, codes = kmeans(x, 4, init_centroids=init, iters=50)
        assert torch.bincount(codes, minlength=4).min() > 0
        assert torch.allclose(c, torch.tensor([-0.75, -0.25, 0.25, 0.75]), atol=0.05)


def test_kmeans_with_more_centroids_than_values_uses_only_valid_codes():
    x = torch.tensor([0.5, -1.0, 0.5, 2.0])
    c, codes = kmeans(x, 16)
    assert c.shape == (16,) and int(codes.max()) < 16
    assert torch.equal(c[codes], x)


def test_kmeans_warm_start_from_a_converged_codebook_stays_put():
    torch.manual_seed(0)
    x = torch.randn(20_000)
    c, codes = kmeans(x, 8, iters=200)
    c2, codes2 = kmeans(x, 8, init_centroids=c, iters=1)
    assert torch.allclose(c, c2) and torch.equal(codes, codes2)


def test_kmeans_is_fast_on_a_whisper_tiny_ffn_matrix():
    import time

    w = torch.randn(1536 * 384) * 0.02
    start = time.perf_counter()
    kmeans(w, 256)
    assert time.perf_counter() - start < 5.0  # ~0.3 s here; an N x k matrix would be far slower


# --------------------------------------------------------------------------- layers


def test_centroid_gradient_is_the_sum_of_its_weights_gradients():
    torch.manual_seed(0)
    layer = CodebookLinear(torch.randn(8), torch.randint(8, (6, 5)), torch.randn(6))
    x = torch.randn(3, 5)
    layer(x).pow(2).sum().backward()

    w = layer.weight.detach().requires_grad_()
    F.linear(x, w, layer.bias.detach()).pow(2).sum().backward()
    expected = torch.stack([w.grad[layer.codes.long() == k].sum() for k in range(8)])
    assert torch.allclose(layer.centroids.grad, expected, atol=1e-6)


def test_training_centroids_lowers_the_loss_and_keeps_codes_fixed():
    torch.manual_seed(0)
    teacher = nn.Linear(16, 4)
    student = quantize_model(nn.Sequential(nn.Linear(16, 4)), QuantConfig(bits=2))
    layer = student[0]
    codes = layer.codes.clone()
    x = torch.randn(256, 16)
    y = teacher(x).detach()
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = F.mse_loss(student(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(layer.codes, codes)
    assert {n for n, _ in student.named_parameters()} == {"0.centroids", "0.bias"}


def test_codebook_conv1d_matches_a_dense_conv_with_whisper_padding_and_stride():
    torch.manual_seed(0)
    conv = nn.Conv1d(8, 6, kernel_size=3, stride=2, padding=1)
    layer = quantize_model(nn.Sequential(conv), QuantConfig(bits=3))[0]
    assert isinstance(layer, CodebookConv1d) and layer.stride == (2,)
    x = torch.randn(2, 8, 20)
    expected = F.conv1d(x, layer.weight, layer.bias, stride=2, padding=1)
    assert torch.equal(layer(x), expected)
    dense = layer.to_dense()
    assert torch.allclose(dense(x), expected)


# --------------------------------------------------------------------------- whole models


def test_quantize_model_swaps_linear_and_conv_and_leaves_norms_and_positions_alone():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = set(dense_layers(model))
    quantize_model(model, QuantConfig(bits=3))
    books = {n: m for n, m in model.named_modules() if isinstance(m, CodebookLayer)}
    assert set(books) == names  # every Linear/Conv1d, head and convs included
    assert not dense_layers(model)
    for name, m in books.items():
        assert m.centroids.numel() == 8 and m.weight.unique().numel() <= 8
        if m.bias is not None:  # (k_proj has none)
            assert torch.equal(m.bias, before[f"{name}.bias"])
    for key, value in model.state_dict().items():
        if "layer_norm" in key or "embed_positions" in key:
            assert torch.equal(value, before[key])
    assert model(torch.randn(2, 80, 200)).shape == (2, 5)


def test_bits_per_module_head_and_conv_switches_and_fp16_layers():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = QuantConfig(
        bits=4,
        bits_per_module={"encoder.layers.*.fc1": 8, "encoder.layers.1.*": 16},
        quantize_conv=False,
        quantize_head=False,
    )
    post_training_quantize(model, cfg)
    enc = model.encoder
    assert type(enc.conv1) is nn.Conv1d and torch.equal(
        enc.conv1.weight, before["encoder.conv1.weight"]
    )
    assert type(model.head) is nn.Linear and torch.equal(model.head.weight, before["head.weight"])
    assert enc.layers[0].fc1.bits == 8 and enc.layers[1].fc1.bits == 8  # first match wins
    assert enc.layers[0].fc2.bits == 4
    q = enc.layers[1].self_attn.q_proj  # 16 bits: dense, rounded to fp16
    assert type(q) is nn.Linear
    w = before["encoder.layers.1.self_attn.q_proj.weight"]
    assert torch.equal(q.weight, w.half().float())


@pytest.mark.parametrize("bits", [0, 9, 12, 24, 33, -4])
def test_invalid_bits_raise_a_clear_value_error(bits):
    with pytest.raises(ValueError, match="not a valid bit width"):
        quantize_model(tiny_model(), QuantConfig(bits=bits))
    with pytest.raises(ValueError, match=r"bits_per_module\['head'\]"):
        quantize_model(tiny_model(), QuantConfig(bits=4, bits_per_module={"head": bits}))


def test_mct_cycle_dequantize_then_recluster_warm_started():
    model = tiny_model()
    cfg = QuantConfig(bits=4)
    quantize_model(model, cfg)
    books = extract_codebooks(model)
    fc1 = model.encoder.layers[0].fc1
    w_q = fc1.weight.detach().clone()

    dequantize(model)  # distillation phase: plain layers holding centroids[codes]
    dense = model.encoder.layers[0].fc1
    assert type(dense) is nn.Linear and torch.equal(dense.weight, w_q)
    assert not any(isinstance(m, CodebookLayer) for m in model.modules())
    with torch.no_grad():  # stand-in for a distillation phase moving the weights
        for m in dense_layers(model).values():
            m.weight.add_(0.001 * torch.randn_like(m.weight))
    w_trained = dense.weight.detach().clone()

    quantize_model(model, cfg, previous=books)
    fc1 = model.encoder.layers[0].fc1
    expected, codes = kmeans(
        w_trained.flatten(),
        16,
        iters=cfg.kmeans_iters,
        init_centroids=books["encoder.layers.0.fc1"],
    )
    assert isinstance(fc1, CodebookLinear)
    assert torch.equal(fc1.centroids.detach(), expected)
    assert torch.equal(fc1.codes.long().flatten(), codes)
