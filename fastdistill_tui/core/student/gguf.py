"""Convert a llama-architecture GGUF file (as llama.cpp writes it) into an mlx-lm model directory.

Measured on SmolLM2-135M-Instruct (DESIGN §7): `mx.load` reads the GGUF as MLX-quantized tensors
(uint32 weights, float16 scales/biases, group size 32) plus its metadata. We dequantize to
float32, because on a Linux CPU only a float32 base with a fast BLAS trains and generates at a
usable speed (4-bit: > 50 s a LoRA iteration, f32 + OpenBLAS: 2.3-2.9 s). llama.cpp stores Q/K
rows in the interleaved rotary layout, which mlx-lm's llama reads with `rope_traditional: true`;
the tokenizer is rebuilt as a byte-level BPE `tokenizer.json` from the GGUF vocabulary and merges.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

GROUP_SIZE = 32
TOKEN_TYPE_CONTROL = 3

#: llama.cpp tensor name parts -> mlx-lm llama parameter names
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm",
              "output": "lm_head"}


class GGUFError(ValueError):
    """The file is not a llama GGUF this converter understands."""


def mlx_name(gguf_name: str) -> str:
    """'blk.3.attn_q' -> 'model.layers.3.self_attn.q_proj' (without the .weight suffix)."""
    parts = gguf_name.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}"
    if gguf_name in _TOP_NAMES:
        return _TOP_NAMES[gguf_name]
    raise GGUFError(f"unexpected tensor '{gguf_name}' for a llama model")


def convert_weights(tensors: dict[str, Any]) -> dict[str, Any]:
    """mlx-lm weights from `mx.load(gguf)` tensors: renamed, quantized ones dequantized (the bit
    width follows from the shapes: 32-bit words per row over groups per row)."""
    import mlx.core as mx

    out = {}
    for key, value in tensors.items():
        if not key.endswith(".weight"):
            continue
        base = key[: -len(".weight")]
        scales = tensors.get(base + ".scales")
        if scales is not None:
            bits = value.shape[-1] // scales.shape[-1]
            value = mx.dequantize(value, scales, tensors[base + ".biases"],
                                  group_size=GROUP_SIZE, bits=bits)
        out[mlx_name(base) + ".weight"] = value.astype(mx.float32)
    return out


def _meta(metadata: dict[str, Any], key: str, default: Any = None) -> Any:
    value = metadata.get(key, default)
    if value is None:
        raise GGUFError(f"metadata '{key}' missing")
    if hasattr(value, "item") and getattr(value, "size", 0) == 1:
        return value.item()
    return value


def model_config(metadata: dict[str, Any], has_output: bool) -> dict[str, Any]:
    arch = _meta(metadata, "general.architecture")
    if arch != "llama":
        raise GGUFError(f"architecture '{arch}' is not supported (llama only)")
    heads = int(_meta(metadata, "llama.attention.head_count"))
    width = int(_meta(metadata, "llama.embedding_length"))
    tokens = _meta(metadata, "tokenizer.ggml.tokens")
    return {
        "model_type": "llama",
        "hidden_size": width,
        "num_hidden_layers": int(_meta(metadata, "llama.block_count")),
        "intermediate_size": int(_meta(metadata, "llama.feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_meta(metadata, "llama.attention.head_count_kv", heads)),
        "head_dim": int(_meta(metadata, "llama.rope.dimension_count", width // heads)),
        "rms_norm_eps": float(_meta(metadata, "llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_meta(metadata, "llama.rope.freq_base", 10000.0)),
        "rope_traditional": True,  # llama.cpp's interleaved Q/K layout
        "max_position_embeddings": int(_meta(metadata, "llama.context_length", 2048)),
        "vocab_size": len(tokens),
        "tie_word_embeddings": not has_output,
        "bos_token_id": int(_meta(metadata, "tokenizer.ggml.bos_token_id", 1)),
        "eos_token_id": int(_meta(metadata, "tokenizer.ggml.eos_token_id")),
    }


def build_tokenizer(metadata: dict[str, Any]) -> Any:
    """A transformers fast tokenizer from a gpt2-style (byte-level BPE) GGUF vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    # Only the tokenizer is needed: keep its "PyTorch was not found" advice off the user's screen.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers import PreTrainedTokenizerFast

    kind = _meta(metadata, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise GGUFError(f"tokenizer '{kind}' is not supported (gpt2-style BPE only)")
    tokens = list(_meta(metadata, "tokenizer.ggml.tokens"))
    merges = [tuple(m.split(" ", 1)) for m in _meta(metadata, "tokenizer.ggml.merges")]
    types = _meta(metadata, "tokenizer.ggml.token_type").tolist()
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tokenizer.decoder = decoders.ByteLevel()
    special = [tokens[i] for i, t in enumerate(types) if t == TOKEN_TYPE_CONTROL]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t in special])
    eos = tokens[int(_meta(metadata, "tokenizer.ggml.eos_token_id"))]
    bos = tokens[int(_meta(metadata, "tokenizer.ggml.bos_token_id", 1))]
    pad_id = metadata.get("tokenizer.ggml.padding_token_id")
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=eos, bos_token=bos,
        pad_token=tokens[int(pad_id.item())] if pad_id is not None else eos,
        unk_token=tokens[int(_meta(metadata, "tokenizer.ggml.unknown_token_id", 0))])
    template = metadata.get("tokenizer.chat_template")
    if template:
        wrapped.chat_template = template
    return wrapped


def convert_gguf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Write config.json, model.safetensors and the tokenizer files into out_dir (atomically:
    built beside it, then renamed, so a half-written directory never looks like a model)."""
    import mlx.core as mx

    out_dir = Path(out_dir)
    try:
        tensors, metadata = mx.load(str(gguf_path), return_metadata=True)
    except (RuntimeError, ValueError) as exc:
        raise GGUFError(f"{gguf_path}: cannot read as GGUF ({exc})") from None
    weights = convert_weights(tensors)
    config = model_config(metadata, has_output="lm_head.weight" in weights)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    build_tokenizer(metadata).save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir
