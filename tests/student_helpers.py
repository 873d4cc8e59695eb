"""Tiny students the tests build themselves (no network): a random llama written as a GGUF file
the way llama.cpp lays it out (Q/K rows permuted for interleaved rotary, byte-level BPE vocabulary
and merges in the metadata), and chat data in mlx-lm's `messages` format."""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] "
                 "+ '<|im_end|>' + '\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CORPUS = [
    "SELECT name FROM singer WHERE age > 30 ORDER BY name",
    "SELECT COUNT(*) FROM concert GROUP BY year HAVING COUNT(*) > 1",
    "How many singers are there? Answer with one SQLite SELECT statement only.",
    "Database: concert_singer Schema: singer(name text, age integer) Question: ",
    "system user assistant 0123456789 the a of what which list",
]
CONFIG = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
          "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
          "rope_theta": 10000.0, "max_position_embeddings": 512}


def train_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    return tokenizer


def _permute(weight, heads: int):
    """HF row order -> llama.cpp's (interleaved rotary pairs), as convert_hf_to_gguf does."""
    rows, cols = weight.shape
    return weight.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def write_tiny_gguf(path: Path, seed: int = 0):
    """A random llama (HF layout, tied embeddings) saved as GGUF; returns (model, tokenizer)
    of the original, to compare the conversion against."""
    import mlx.core as mx
    from mlx_lm.models.llama import Model, ModelArgs

    tokenizer = train_bpe()
    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    mx.random.seed(seed)
    args = dict(CONFIG, model_type="llama", vocab_size=len(tokens), tie_word_embeddings=True)
    model = Model(ModelArgs.from_dict(args))
    mx.eval(model.parameters())
    heads, kv_heads = CONFIG["num_attention_heads"], CONFIG["num_key_value_heads"]
    inner = model.model
    tensors = {"token_embd.weight": inner.embed_tokens.weight,
               "output_norm.weight": inner.norm.weight}
    for i, layer in enumerate(inner.layers):
        attn, mlp = layer.self_attn, layer.mlp
        tensors.update({
            f"blk.{i}.attn_q.weight": _permute(attn.q_proj.weight, heads),
            f"blk.{i}.attn_k.weight": _permute(attn.k_proj.weight, kv_heads),
            f"blk.{i}.attn_v.weight": attn.v_proj.weight,
            f"blk.{i}.attn_output.weight": attn.o_proj.weight,
            f"blk.{i}.ffn_gate.weight": mlp.gate_proj.weight,
            f"blk.{i}.ffn_up.weight": mlp.up_proj.weight,
            f"blk.{i}.ffn_down.weight": mlp.down_proj.weight,
            f"blk.{i}.attn_norm.weight": layer.input_layernorm.weight,
            f"blk.{i}.ffn_norm.weight": layer.post_attention_layernorm.weight})
    u32 = lambda v: mx.array(v, dtype=mx.uint32)  # noqa: E731
    metadata = {
        "general.architecture": "llama", "llama.block_count": u32(CONFIG["num_hidden_layers"]),
        "llama.embedding_length": u32(CONFIG["hidden_size"]),
        "llama.feed_forward_length": u32(CONFIG["intermediate_size"]),
        "llama.attention.head_count": u32(heads), "llama.attention.head_count_kv": u32(kv_heads),
        "llama.rope.dimension_count": u32(CONFIG["hidden_size"] // heads),
        "llama.attention.layer_norm_rms_epsilon": mx.array(1e-5, dtype=mx.float32),
        "llama.rope.freq_base": mx.array(CONFIG["rope_theta"], dtype=mx.float32),
        "llama.context_length": u32(CONFIG["max_position_embeddings"]),
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.token_type": mx.array([3 if t in SPECIAL else 1 for t in tokens],
                                              dtype=mx.int32),
        "tokenizer.ggml.bos_token_id": u32(vocab["<|im_start|>"]),
        "tokenizer.ggml.eos_token_id": u32(vocab["<|im_end|>"]),
        "tokenizer.ggml.unknown_token_id": u32(vocab["<|endoftext|>"]),
        "tokenizer.chat_template": CHAT_TEMPLATE,
    }
    mx.save_gguf(str(path), tensors, metadata)
    return model, tokenizer


def tiny_student(directory: Path) -> Path:
    """The tiny GGUF converted into an mlx-lm model directory (what `models get` makes)."""
    from fastdistill_tui.core.student.gguf import convert_gguf

    directory.mkdir(parents=True, exist_ok=True)
    write_tiny_gguf(directory / "tiny.gguf")
    return convert_gguf(directory / "tiny.gguf", directory / "model")


def chat_rows(n: int, answer: str = "SELECT name FROM singer") -> list[dict]:
    return [{"messages": [
        {"role": "system", "content": "Answer with one SQLite SELECT statement only."},
        {"role": "user", "content": f"Question: list the singers {i}"},
        {"role": "assistant", "content": answer}]} for i in range(n)]


def write_chat_data(directory: Path, train: int = 16, valid: int = 4) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", train), ("valid", valid)):
        with open(directory / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in chat_rows(n):
                handle.write(json.dumps(row) + "\n")
    return directory


# --- a tiny qwen2 GGUF (biases, untied output, one Q4_K tensor), written with llama.cpp's gguf

#: Qwen2's pre-tokenizer regex, as its tokenizer.json has it
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_CONFIG = dict(CONFIG, intermediate_size=256, rope_theta=1000000.0)  # a Q4_K row: 256
USER_DEFINED = ["<tool_call>"]


def train_qwen2_bpe():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=SPECIAL + USER_DEFINED,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 5 + ["Wie viele Sänger? Größe café it's"], trainer)
    return tokenizer


def q4_k_rows(rng, rows: int, cols: int):
    """(the Q4_K bytes of a rows x cols matrix, the float32 values they stand for), by
    llama.cpp's block layout (ggml-quants.c): per 256 values, f16 d and dmin, eight 6-bit
    scales and mins packed into 12 bytes, 256 4-bit quants; value = d*sc*q - dmin*m."""
    import numpy as np

    blocks = rows * cols // 256
    d = rng.uniform(0.001, 0.01, blocks).astype(np.float16)
    dmin = rng.uniform(0.001, 0.01, blocks).astype(np.float16)
    sc = rng.integers(0, 64, (blocks, 8))
    m = rng.integers(0, 64, (blocks, 8))
    q = rng.integers(0, 16, (blocks, 256))
    packed = np.zeros((blocks, 12), dtype=np.uint8)
    packed[:, 0:4] = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    packed[:, 4:8] = (m[:, :4] & 63) | ((m[:, 4:] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)
    quads = q.reshape(blocks, 4, 2, 32)  # pairs of 32-value sub-blocks share 32 bytes
    qs = (quads[:, :, 0] | (quads[:, :, 1] << 4)).reshape(blocks, 128).astype(np.uint8)
    raw = np.concatenate([d[:, None].view(np.uint8), dmin[:, None].view(np.uint8), packed, qs],
                         axis=1)
    group = np.repeat(np.arange(8), 32)
    values = (d.astype(np.float32)[:, None] * sc[:, group] * q
              - dmin.astype(np.float32)[:, None] * m[:, group])
    return raw.reshape(rows, -1), values.astype(np.float32).reshape(rows, cols)


def write_tiny_qwen2_gguf(path: Path, seed: int = 0):
    """A random qwen2 (q/k/v biases, untied output) as llama.cpp writes it, with blk.0.ffn_down
    stored as Q4_K; returns (model, tokenizer) of the original to compare against."""
    import mlx.core as mx
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter, TokenType
    from mlx.utils import tree_flatten
    from mlx_lm.models.qwen2 import Model, ModelArgs

    tokenizer = train_qwen2_bpe()
    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    for added in data["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    mx.random.seed(seed)
    args = dict(QWEN_CONFIG, model_type="qwen2", vocab_size=len(tokens),
                tie_word_embeddings=False)
    model = Model(ModelArgs.from_dict(args))
    raw, values = q4_k_rows(np.random.default_rng(seed), QWEN_CONFIG["hidden_size"],
                            QWEN_CONFIG["intermediate_size"])
    model.model.layers[0].mlp.down_proj.weight = mx.array(values)
    mx.eval(model.parameters())
    layer_names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                   "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                   "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                   "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
                   "post_attention_layernorm": "ffn_norm"}
    writer = GGUFWriter(str(path), "qwen2")
    for name, value in tree_flatten(model.parameters()):
        parts = name.split(".")
        if name.startswith("model.layers."):
            gguf = f"blk.{parts[2]}.{layer_names['.'.join(parts[3:-1])]}.{parts[-1]}"
        else:
            gguf = {"model.embed_tokens.weight": "token_embd.weight",
                    "model.norm.weight": "output_norm.weight",
                    "lm_head.weight": "output.weight"}[name]
        if gguf == "blk.0.ffn_down.weight":
            writer.add_tensor(gguf, raw, raw_dtype=GGMLQuantizationType.Q4_K)
        else:
            writer.add_tensor(gguf, np.array(value, dtype=np.float32))
    heads = QWEN_CONFIG["num_attention_heads"]
    writer.add_block_count(QWEN_CONFIG["num_hidden_layers"])
    writer.add_context_length(QWEN_CONFIG["max_position_embeddings"])
    writer.add_embedding_length(QWEN_CONFIG["hidden_size"])
    writer.add_feed_forward_length(QWEN_CONFIG["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(QWEN_CONFIG["num_key_value_heads"])
    writer.add_rope_freq_base(QWEN_CONFIG["rope_theta"])
    writer.add_layer_norm_rms_eps(QWEN_CONFIG["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types([TokenType.CONTROL if t in SPECIAL else
                            TokenType.USER_DEFINED if t in USER_DEFINED else TokenType.NORMAL
                            for t in tokens])
    writer.add_bos_token_id(vocab["<|endoftext|>"])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<|endoftext|>"])
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model, tokenizer

