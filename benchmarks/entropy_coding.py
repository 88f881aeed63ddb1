"""What entropy coding the codes saves: a .quads model rewritten with its codes packed at b
bits (codec "none") and DEFLATE-coded (codec "deflate", the default), per layer, beside
LZMA2 on the same streams and the entropy of each layer's codes (the bound for any coder of
independent codes), and the load time of each file.

    python benchmarks/entropy_coding.py [--model runs/demo/quads-4bit/model.quads]
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from provenance import provenance, provenance_line

RESULTS = Path(__file__).parent / "results"
LZMA = {"format": lzma.FORMAT_RAW, "filters": [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 0}]}


def load_ms(fn, path: Path, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()  # CPU time: on a shared machine the wall clock counts others
        fn(path)
        times.append(1000 * (time.process_time() - t0))
    return statistics.median(times)


def with_codebooks(path: Path) -> tuple[torch.nn.Module, dict]:
    """The model of a .quads file with its codebook layers as stored (load_quads makes
    them dense): each rebuilt from the file's codes and centroids."""
    from quads.quant.layers import CodebookConv1d, CodebookLinear
    from quads.quant.packing import load_quads
    from quads.runtime.quadsfile import Codebook, read_quads

    model, meta = load_quads(path)
    _, tensors = read_quads(path)
    for name, t in tensors.items():
        if not isinstance(t, Codebook):
            continue
        owner, _, _ = name.rpartition(".")
        parent, _, leaf = owner.rpartition(".")
        dense = model.get_submodule(owner)
        args = (torch.from_numpy(t.centroids), torch.from_numpy(t.codes), dense.bias)
        if isinstance(dense, torch.nn.Conv1d):
            layer = CodebookConv1d(*args, stride=dense.stride, padding=dense.padding)
        else:
            layer = CodebookLinear(*args)
        setattr(model.get_submodule(parent) if parent else model, leaf, layer)
    return model, meta


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/demo/quads-4bit/model.quads")
    args = p.parse_args()
    from quads.quant.packing import load_quads, save_quads, size_breakdown
    from quads.runtime.quadsfile import decode_codes, pack_bits, parse, read_quads

    model, meta = with_codebooks(Path(args.model))
    bits = int(meta.get("bits", 4))
    tmp = Path(tempfile.mkdtemp(prefix="quads-entropy-"))
    files = {codec: tmp / f"{codec}.quads" for codec in ("none", "deflate")}
    for codec, path in files.items():
        save_quads(path, model, meta, codec=codec)

    header, payload = parse(files["deflate"].read_bytes(), str(files["deflate"]))
    _, tensors = read_quads(files["deflate"])
    layers = []
    for entry in header["tensors"]:
        if entry["kind"] != "codebook":
            continue
        codes = tensors[entry["name"]].codes
        freq = np.bincount(codes.ravel(), minlength=2 ** entry["bits"]) / codes.size
        entropy = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())
        packed = -(-codes.size * entry["bits"] // 8)
        layers.append(
            {
                "layer": entry["name"].removesuffix(".weight"),
                "weights": int(codes.size),
                "packed_bytes": packed,
                "deflate_bytes": entry["codes"][1],
                "lzma_bytes": len(lzma.compress(pack_bits(codes, entry["bits"]), **LZMA)),
                "bits_per_weight": round(8 * entry["codes"][1] / codes.size, 3),
                "entropy_bits": round(entropy, 3),
            }
        )
    sizes = {codec: size_breakdown(path) for codec, path in files.items()}
    coded = [
        (bytes(payload[e["codes"][0] : sum(e["codes"])]), e)
        for e in header["tensors"]
        if e["kind"] == "codebook"
    ]
    streams = [
        lzma.compress(pack_bits(tensors[e["name"]].codes, e["bits"]), **LZMA) for _, e in coded
    ]

    def decode_all_deflate() -> None:
        for data, e in coded:
            decode_codes(data, e["bits"], tensors[e["name"]].codes.size, e.get("codec", "none"))

    def decode_all_lzma() -> None:
        for data in streams:
            lzma.decompress(data, **LZMA)

    result = {
        "provenance": provenance(args.model),
        "model": args.model,
        "original_bytes": Path(args.model).stat().st_size,
        "bytes": {codec: s["total"] for codec, s in sizes.items()},
        "codes_bytes": {codec: s["codes"] for codec, s in sizes.items()},
        "deflate_decode_ms": round(load_ms(lambda _: decode_all_deflate(), None), 1),
        "lzma_decode_ms": round(load_ms(lambda _: decode_all_lzma(), None), 1),
        "entropy_bound_bytes": round(sum(r["weights"] * r["entropy_bits"] / 8 for r in layers)),
        "load_ms": {
            f"load_quads ({codec})": round(load_ms(load_quads, path), 1)
            for codec, path in files.items()
        }
        | {
            f"read_quads, numpy ({codec})": round(load_ms(read_quads, path), 1)
            for codec, path in files.items()
        },
        "layers": layers,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "entropy_coding.json").write_text(json.dumps(result, indent=2))
    cols = list(layers[0])
    lines = [
        f"# Entropy coding of the codes: `{args.model}`",
        "",
        provenance_line(result["provenance"]),
        "",
        f"- packed at {bits} bits (codec none): {result['bytes']['none']:,} bytes "
        f"(codes {result['codes_bytes']['none']:,})",
        f"- DEFLATE per layer (codec deflate, the default): {result['bytes']['deflate']:,} "
        f"bytes (codes {result['codes_bytes']['deflate']:,}; LZMA2 would take "
        f"{sum(r['lzma_bytes'] for r in layers):,} and decode "
        f"{result['lzma_decode_ms']} ms vs {result['deflate_decode_ms']} ms; "
        f"the entropy of the codes, layer by layer, "
        f"bounds an order-0 coder at {result['entropy_bound_bytes']:,})",
        "- load, CPU time, median of 5: "
        + ", ".join(f"{k} {v} ms" for k, v in result["load_ms"].items()),
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
        *["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in layers],
    ]
    (RESULTS / "entropy_coding.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
