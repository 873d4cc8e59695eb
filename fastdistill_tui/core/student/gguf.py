"""Convert a llama or qwen2 GGUF file (as llama.cpp writes it) into an mlx-lm model directory.

The file is read with the `gguf` package (llama.cpp's own reader), whose numpy dequantizers cover
every quant type llama.cpp writes: `mx.load` reads Q4_0/Q4_1/Q8_0 but fails on the k-quants
(Q4_K, Q6_K) and Q5_0 that Qwen2.5-Coder's Q4_K_M file holds. Every tensor becomes float32,
because on a Linux CPU only a float32 base with a fast BLAS trains and generates at a usable
speed (DESIGN §7). Rotary layout: llama.cpp interleaves the Q/K rows of llama models, which
mlx-lm's llama reads with `rope_traditional: true`; qwen2 rows are stored as Hugging Face has
them. The tokenizer is rebuilt as a byte-level BPE `tokenizer.json` from the GGUF vocabulary,
merges and pre-tokenizer name, with the GGUF's chat template.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4
ARCHITECTURES = ("llama", "qwen2")
#: Qwen2's pre-tokenizer split (its tokenizer.json; llama.cpp's "qwen2" pre-tokenizer)
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

#: llama.cpp tensor name parts -> mlx-lm llama/qwen2 parameter names
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm",
              "output": "lm_head"}


class GGUFError(ValueError):
    """The file is not a GGUF this converter understands."""


def mlx_name(gguf_name: str) -> str:
    """'blk.3.attn_q.bias' -> 'model.layers.3.self_attn.q_proj.bias'."""
    base, _, kind = gguf_name.rpartition(".")
    parts = base.split(".")
    if kind in ("weight", "bias"):
        if parts[0] == "blk" and len(parts) == 3 and parts[2] in _LAYER_NAMES:
            return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{kind}"
        if base in _TOP_NAMES and kind == "weight":
            return f"{_TOP_NAMES[base]}.weight"
    raise GGUFError(f"unexpected tensor '{gguf_name}' for a llama/qwen2 model")


def read_gguf(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(the reader, its metadata as plain Python values); a clear error for a non-GGUF file."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError, IndexError) as exc:
        raise GGUFError(f"{path}: cannot read as GGUF ({exc})") from None
    metadata = {name: field.contents() for name, field in reader.fields.items()
                if not name.startswith("GGUF.")}
    return reader, metadata


def convert_weights(reader: Any) -> dict[str, Any]:
    """mlx-lm weights, float32, renamed; quantized tensors dequantized by llama.cpp's rules."""
    import mlx.core as mx
    from gguf import dequantize

    out = {}
    for tensor in reader.tensors:
        try:
            values = dequantize(tensor.data, tensor.tensor_type)
        except NotImplementedError:
            raise GGUFError(f"tensor '{tensor.name}': quant type {tensor.tensor_type.name} "
                            "cannot be dequantized") from None
        shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF lists the fastest first
        out[mlx_name(tensor.name)] = mx.array(values.reshape(shape), dtype=mx.float32)
    return out


def _meta(metadata: dict[str, Any], key: str, default: Any = None) -> Any:
    value = metadata.get(key, default)
    if value is None:
        raise GGUFError(f"metadata '{key}' missing")
    return value


def model_config(metadata: dict[str, Any], has_output: bool) -> dict[str, Any]:
    arch = _meta(metadata, "general.architecture")
    if arch not in ARCHITECTURES:
        raise GGUFError(f"architecture '{arch}' is not supported ({' or '.join(ARCHITECTURES)})")
    heads = int(_meta(metadata, f"{arch}.attention.head_count"))
    width = int(_meta(metadata, f"{arch}.embedding_length"))
    tokens = _meta(metadata, "tokenizer.ggml.tokens")
    config = {
        "model_type": arch,
        "hidden_size": width,
        "num_hidden_layers": int(_meta(metadata, f"{arch}.block_count")),
        "intermediate_size": int(_meta(metadata, f"{arch}.feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_meta(metadata, f"{arch}.attention.head_count_kv", heads)),
        "rms_norm_eps": float(_meta(metadata, f"{arch}.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_meta(metadata, f"{arch}.rope.freq_base", 10000.0)),
        # llama.cpp permutes llama's Q/K rows into the interleaved layout, not qwen2's
        "rope_traditional": arch == "llama",
        "max_position_embeddings": int(_meta(metadata, f"{arch}.context_length", 2048)),
        "vocab_size": len(tokens),
        "tie_word_embeddings": not has_output,
        "bos_token_id": int(_meta(metadata, "tokenizer.ggml.bos_token_id", 1)),
        "eos_token_id": int(_meta(metadata, "tokenizer.ggml.eos_token_id")),
    }
    if arch == "llama":
        config["head_dim"] = int(_meta(metadata, "llama.rope.dimension_count", width // heads))
    return config


def _pre_tokenizer(name: str) -> Any:
    """The pre-tokenizer llama.cpp names in tokenizer.ggml.pre (SmolLM2's when absent)."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    if name == "qwen2":
        return normalizers.NFC(), pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if name in ("", "smollm", "default"):
        return None, pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False)])
    raise GGUFError(f"pre-tokenizer '{name}' is not supported (qwen2 or smollm)")


def build_tokenizer(metadata: dict[str, Any]) -> Any:
    """A transformers fast tokenizer from a gpt2-style (byte-level BPE) GGUF vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    # Only the tokenizer is needed: keep its "PyTorch was not found" advice off the user's screen.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers import PreTrainedTokenizerFast

    kind = _meta(metadata, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise GGUFError(f"tokenizer '{kind}' is not supported (gpt2-style BPE only)")
    tokens = list(_meta(metadata, "tokenizer.ggml.tokens"))
    merges = [tuple(m.split(" ", 1)) for m in _meta(metadata, "tokenizer.ggml.merges")]
    types = list(_meta(metadata, "tokenizer.ggml.token_type"))
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    normalizer, tokenizer.pre_tokenizer = _pre_tokenizer(metadata.get("tokenizer.ggml.pre", ""))
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.decoder = decoders.ByteLevel()
    # control tokens (<|im_end|>) are special; user-defined ones (<tool_call>) are whole words
    tokenizer.add_tokens([AddedToken(tokens[i], special=t == TOKEN_TYPE_CONTROL,
                                     normalized=False)
                          for i, t in enumerate(types)
                          if t in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)])
    eos = tokens[int(_meta(metadata, "tokenizer.ggml.eos_token_id"))]
    bos = tokens[int(_meta(metadata, "tokenizer.ggml.bos_token_id", 1))]
    pad_id = metadata.get("tokenizer.ggml.padding_token_id")
    unk_id = metadata.get("tokenizer.ggml.unknown_token_id")
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=eos, bos_token=bos,
        pad_token=tokens[int(pad_id)] if pad_id is not None else eos,
        unk_token=tokens[int(unk_id)] if unk_id is not None else None)
    template = metadata.get("tokenizer.chat_template")
    if template:
        wrapped.chat_template = template
    return wrapped


def convert_gguf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Write config.json, model.safetensors and the tokenizer files into out_dir (atomically:
    built beside it, then renamed, so a half-written directory never looks like a model)."""
    import mlx.core as mx

    out_dir = Path(out_dir)
    reader, metadata = read_gguf(gguf_path)
    config = model_config(metadata, has_output=any(t.name == "output.weight"
                                                   for t in reader.tensors))
    tokenizer = build_tokenizer(metadata)
    weights = convert_weights(reader)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
    del weights
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir
