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
