"""GGUF -> mlx-lm conversion, on a GGUF file the test writes itself (no network)."""

from __future__ import annotations

import json

import pytest

from fastdistill_tui.core.student.gguf import GGUFError, convert_gguf, convert_weights
from student_helpers import write_tiny_gguf


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    model, tokenizer = write_tiny_gguf(root / "tiny.gguf")
    return model, tokenizer, convert_gguf(root / "tiny.gguf", root / "model")


def test_converted_model_computes_what_the_original_did(converted):
    import mlx.core as mx
    import mlx_lm

    original, tokenizer, path = converted
    loaded, loaded_tokenizer = mlx_lm.load(str(path))
    text = "SELECT name FROM singer WHERE age > 30"
    ids = tokenizer.encode(text).ids
    assert loaded_tokenizer.encode(text) == ids  # same BPE, no BOS added
    assert loaded_tokenizer.decode(ids) == text
    expected = original(mx.array([ids]))
    assert mx.abs(loaded(mx.array([ids])) - expected).max().item() < 1e-4
    # the rotary layout is what rope_traditional is for: without it the model is another one
    config = json.loads((path / "config.json").read_text())
    assert config["rope_traditional"] is True and config["tie_word_embeddings"] is True
    (path / "config.json").write_text(json.dumps(dict(config, rope_traditional=False)))
    try:
        wrong, _ = mlx_lm.load(str(path))
        assert mx.abs(wrong(mx.array([ids])) - expected).max().item() > 1e-2
    finally:
        (path / "config.json").write_text(json.dumps(config))


def test_chat_template_and_special_tokens_survive(converted):
    import mlx_lm

    _, _, path = converted
    _, tokenizer = mlx_lm.load(str(path))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                           add_generation_prompt=True, tokenize=False)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer.encode("<|im_end|>")
    assert len(ids) == 1 and tokenizer.eos_token_id == ids[0]


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_tensors_are_dequantized_with_the_bits_their_shapes_imply(bits):
    import mlx.core as mx

    weight = mx.random.normal((64, 96))
    q, scales, biases = mx.quantize(weight, group_size=32, bits=bits)
    out = convert_weights({"blk.0.attn_q.weight": q, "blk.0.attn_q.scales": scales,
                           "blk.0.attn_q.biases": biases})
    got = out["model.layers.0.self_attn.q_proj.weight"]
    assert got.dtype == mx.float32 and got.shape == (64, 96)
    assert mx.allclose(got, mx.dequantize(q, scales, biases, group_size=32, bits=bits)).item()


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(GGUFError, match="cannot read as GGUF"):
        convert_gguf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
