"""Trained codebook quantization and the packed `.quads` file.

kmeans: 1-D k-means; layers: codebook layers (centroids + codes + latent weights);
surgery: whole-model quantize / dequantize / size; packing: the `.quads` format.
"""

from quads.quant.kmeans import kmeans
from quads.quant.layers import CodebookConv1d, CodebookLayer, CodebookLinear
from quads.quant.packing import QuadsFormatError, load_quads, save_quads, size_breakdown
from quads.quant.surgery import (
    dequantize,
    drop_latents,
    extract_codebooks,
    is_quantized,
    post_training_quantize,
    quantize_model,
    quantized_size_bits,
)

__all__ = [
    "CodebookConv1d",
    "CodebookLayer",
    "CodebookLinear",
    "QuadsFormatError",
    "dequantize",
    "drop_latents",
    "extract_codebooks",
    "is_quantized",
    "kmeans",
    "load_quads",
    "post_training_quantize",
    "quantize_model",
    "quantized_size_bits",
    "save_quads",
    "size_breakdown",
]
