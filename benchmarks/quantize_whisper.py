"""Codebook (k-means) vs uniform quantization of the pretrained Whisper tiny.en encoder.

For b = 2, 3, 4, 8 bits, with the QUADS student (tiny.en encoder at Whisper's full 30 s context
+ Linear(384, 31) FSC head, seeded random): the packed .quads size, the time to quantize, and per
layer the relative Frobenius error ||W - Q(W)|| / ||W|| of k-means codebooks (2^b centroids, one
codebook per layer) next to per-tensor min/max round-to-nearest uniform quantization at the same
bits. Writes benchmarks/results/quantize_whisper.{md,json}.

    .venv/bin/python benchmarks/quantize_whisper.py [--bits 2 3 4 8] [--iters 25]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from provenance import provenance, provenance_line, sha256_file
from torch import Tensor, nn

if TYPE_CHECKING:
    from quads.models.student import SLUModel

RESULTS = Path(__file__).parent / "results"
LABELS = Path(__file__).parents[1] / "src/quads/data/labels/fsc_intents.txt"


def uniform_quantize_(weight: Tensor, bits: int) -> Tensor:
    """Round-to-nearest on 2^b evenly spaced levels between the tensor's min and max, in place."""
    lo, hi = weight.min(), weight.max()
    scale = (hi - lo).clamp(min=1e-12) / (2**bits - 1)
    return weight.sub_(lo).div_(scale).round_().mul_(scale).add_(lo)


def rel_error(w: Tensor, q: Tensor) -> float:
    return float((w - q).norm() / w.norm())


def student() -> SLUModel:
    from quads.models.student import SLUModel, encoder_from_state
    from quads.models.whisper_weights import load_whisper

    w = load_whisper("tiny.en")
    encoder = encoder_from_state(w.config, w.encoder_state)
    labels = [line.strip() for line in LABELS.read_text().splitlines() if line.strip()]
    torch.manual_seed(0)
    return SLUModel(encoder, labels).eval()


def run(bits_list: list[int], iters: int) -> dict:
    from quads.config import QuantConfig
    from quads.quant import CodebookLayer, quantize_model, quantized_size_bits, save_quads
    from quads.quant.packing import size_breakdown

    base = student()
    dense = {n: m.weight.detach().clone() for n, m in base.named_modules() if _is_layer(m)}
    results: dict = {"provenance": provenance()}  # no model file: each is hashed below
    results |= {"model": "tiny.en encoder + Linear(384, 31)", "kmeans_iters": iters}
    results["params_quantized"] = sum(w.numel() for w in dense.values())
    results["torch"] = torch.__version__
    results["cpu"] = f"{platform.machine()}, {torch.get_num_threads()} threads"
    results["bits"] = {}
    for bits in bits_list:
        model = copy.deepcopy(base)
        start = time.perf_counter()
        quantize_model(model, QuantConfig(bits=bits, kmeans_iters=iters))
        seconds = time.perf_counter() - start
        layers = {}
        num_k = den = num_u = 0.0
        for name, m in model.named_modules():
            if not isinstance(m, CodebookLayer):
                continue
            w = dense[name]
            q_k = m.weight.detach()
            q_u = uniform_quantize_(w.clone(), bits)
            e_k, e_u = rel_error(w, q_k), rel_error(w, q_u)
            layers[name] = {
                "shape": list(w.shape),
                "kmeans": e_k,
                "uniform": e_u,
                "ratio": e_k / e_u,
            }
            num_k += float((w - q_k).norm() ** 2)
            num_u += float((w - q_u).norm() ** 2)
            den += float(w.norm() ** 2)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"tiny.en-{bits}bit.quads"
            size = save_quads(path, model, {"labels": model.labels, "bits": bits})
            parts = size_breakdown(path)
            sha256 = sha256_file(path)
        ratios = [v["ratio"] for v in layers.values()]
        results["bits"][str(bits)] = {
            "file_bytes": size,
            "file_mib": size / 2**20,
            "file_sha256": sha256,
            "codes_bytes": parts["codes"],
            "overhead_bytes": parts["overhead"],
            "breakdown": parts,
            "paper_size_bits": quantized_size_bits(model),
            "quantize_seconds": seconds,
            "kmeans_error_all": (num_k / den) ** 0.5,
            "uniform_error_all": (num_u / den) ** 0.5,
            "ratio_all": (num_k / num_u) ** 0.5,
            "ratio_mean": sum(ratios) / len(ratios),
            "ratio_max": max(ratios),
            "layers": layers,
        }
        print(f"{bits} bits: {size:,} bytes, {seconds:.2f} s", flush=True)
    return results


def _is_layer(m: nn.Module) -> bool:
    return isinstance(m, (nn.Linear, nn.Conv1d))


def markdown(r: dict) -> str:
    bits = list(r["bits"])
    out = [
        "# Codebook vs uniform quantization of Whisper tiny.en",
        "",
        provenance_line(r["provenance"])
        + " The sha256 of each .quads file: quantize_whisper.json.",
        "",
        f"Model: {r['model']} ({r['params_quantized']:,} quantized weights; biases, LayerNorms in"
        f" fp16; the sinusoidal position table regenerated). k-means: k-means++ init, at most"
        f" {r['kmeans_iters']} Lloyd iterations, one codebook per layer. Uniform: per-tensor"
        " min/max round-to-nearest on 2^b levels. Error: ||W - Q(W)||_F / ||W||_F; ratio ="
        " k-means error / uniform error (< 1: k-means is better). MB = 2^20 bytes."
        f" torch {r['torch']}, {r['cpu']}.",
        "",
        "| bits | .quads bytes | MB | params x b / 8 | overhead | quantize s |"
        " k-means err | uniform err | ratio (all) | ratio mean / max per layer |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in bits:
        x = r["bits"][b]
        out.append(
            f"| {b} | {x['file_bytes']:,} | {x['file_mib']:.3f} | {x['codes_bytes']:,} |"
            f" {x['overhead_bytes']:,} | {x['quantize_seconds']:.2f} |"
            f" {x['kmeans_error_all']:.4f} | {x['uniform_error_all']:.4f} |"
            f" {x['ratio_all']:.3f} | {x['ratio_mean']:.3f} / {x['ratio_max']:.3f} |"
        )
    out += [
        "",
        "Uniform errors above 1 at 2-3 bits are real: min/max levels are set by a few outlier"
        " weights, so the many small weights land on levels far from zero. The head is random"
        " (uniformly initialised), where evenly spaced levels are already near-optimal.",
        "",
        "Per layer: k-means error / uniform error (ratio).",
        "",
        "| layer | shape | " + " | ".join(f"{b} bits" for b in bits) + " |",
        "|---|---|" + "---:|" * len(bits),
    ]
    for name, first in r["bits"][bits[0]]["layers"].items():
        cells = []
        for b in bits:
            e = r["bits"][b]["layers"][name]
            cells.append(f"{e['kmeans']:.4f} / {e['uniform']:.4f} ({e['ratio']:.2f})")
        shape = "x".join(map(str, first["shape"]))
        out.append(f"| {name} | {shape} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4, 8])
    ap.add_argument(
        "--iters", type=int, help="Lloyd iterations at most (default: QuantConfig's kmeans_iters)"
    )
    args = ap.parse_args()
    if args.iters is None:
        from quads.config import QuantConfig

        args.iters = QuantConfig().kmeans_iters
    results = run(args.bits, args.iters)
    text = markdown(results)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quantize_whisper.md").write_text(text)
    (RESULTS / "quantize_whisper.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
