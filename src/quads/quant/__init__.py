"""Trained codebook quantization (`codebook`) and the packed `.quads` file (`packing`)."""

from quads.quant.codebook import (
    CodebookConv1d,
    CodebookLayer,
    CodebookLinear,
    dequantize,
    extract_codebooks,
    kmeans,
    post_training_quantize,
    quantize_model,
    quantized_size_bits,
    recluster,
)
from quads.quant.packing import QuadsFormatError, load_quads, save_quads, size_breakdown

__all__ = [
    "CodebookConv1d",
    "CodebookLayer",
    "CodebookLinear",
    "QuadsFormatError",
    "dequantize",
    "extract_codebooks",
    "kmeans",
    "load_quads",
    "post_training_quantize",
    "quantize_model",
    "quantized_size_bits",
    "recluster",
    "save_quads",
    "size_breakdown",
]
