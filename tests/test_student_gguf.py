"""GGUF -> mlx-lm conversion, on a GGUF file the test writes itself (no network)."""

from __future__ import annotations

import json

import pytest

from fastdistill_tui.core.student.gguf import GGUFError, convert_gguf, read_gguf
from student_helpers import q4_k_rows, write_tiny_gguf, write_tiny_qwen2_gguf


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


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory):
    root = tmp_path_factory.mktemp("qwen2")
    model, tokenizer = write_tiny_qwen2_gguf(root / "tiny.gguf")
    return model, tokenizer, root / "tiny.gguf", convert_gguf(root / "tiny.gguf", root / "model")


def test_the_k_quant_tensor_is_dequantized_by_llama_cpp_s_rules(qwen2):
    import mlx.core as mx
    import numpy as np

    original, _, gguf_path, path = qwen2
    reader, _ = read_gguf(gguf_path)
    stored = {t.name: t.tensor_type.name for t in reader.tensors}
    assert stored["blk.0.ffn_down.weight"] == "Q4_K" and stored["blk.0.ffn_up.weight"] == "F32"
    weights = mx.load(str(path / "model.safetensors"))
    got = np.array(weights["model.layers.0.mlp.down_proj.weight"])
    want = np.array(original.model.layers[0].mlp.down_proj.weight)
    assert got.dtype == np.float32 and got.shape == want.shape == (64, 256)
    assert np.abs(got - want).max() < 1e-6 and np.abs(want).max() > 0.1


def test_a_q4_k_block_by_hand():
    """The test's own encoder against one value worked out on paper: sub-block 5 of a block
    reads its scale and min from the high bits of bytes 1 and 5 and the nibbles of byte 9."""
    import numpy as np

    raw, values = q4_k_rows(np.random.default_rng(1), 1, 256)
    d, dmin = raw[0, 0:2].view(np.float16)[0], raw[0, 2:4].view(np.float16)[0]
    scales, qs = raw[0, 4:16], raw[0, 16:144]
    sc5 = (scales[9] & 15) | ((scales[1] >> 6) << 4)
    m5 = (scales[9] >> 4) | ((scales[5] >> 6) << 4)
    q = int(qs[32 * 2 + 3] >> 4)  # value 32*5 + 3: sub-blocks 4 and 5 share bytes 64..95
    want = float(d) * int(sc5) * q - float(dmin) * int(m5)
    assert values[0, 163] == pytest.approx(want, rel=1e-6)


def test_converted_qwen2_computes_what_the_original_did(qwen2):
    import mlx.core as mx
    import mlx_lm

    original, tokenizer, _, path = qwen2
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["rope_traditional"] is False
    assert config["tie_word_embeddings"] is False and config["rope_theta"] == 1000000.0
    loaded, _ = mlx_lm.load(str(path))
    ids = mx.array([tokenizer.encode("SELECT name FROM singer WHERE age > 30").ids])
    assert mx.abs(loaded.model.layers[0].self_attn.q_proj.bias).max().item() > 0
    expected = original(ids)
    assert mx.abs(loaded(ids) - expected).max().item() < 1e-4
    # qwen2 rows are not permuted: the interleaved rotary would make it another model
    (path / "config.json").write_text(json.dumps(dict(config, rope_traditional=True)))
    try:
        wrong, _ = mlx_lm.load(str(path))
        assert mx.abs(wrong(ids) - expected).max().item() > 1e-2
    finally:
        (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("text", [
    "SELECT name FROM singer WHERE age > 30 ORDER BY name",
    "Wie viele Sänger? Größe 1234 café it's they'll",
    "  two spaces\n\nnew lines\tand a tab <|im_end|> <tool_call>",
])
def test_qwen2_tokenizer_round_trips_and_matches_the_original(qwen2, text):
    import mlx_lm

    _, original, _, path = qwen2
    _, tokenizer = mlx_lm.load(str(path))
    ids = tokenizer.encode(text)
    assert ids == original.encode(text).ids
    assert tokenizer.decode(ids) == text
    assert json.loads((path / "tokenizer.json").read_text())["normalizer"]["type"] == "NFC"


def test_qwen2_special_and_user_defined_tokens_stay_whole(qwen2):
    import mlx_lm

    _, _, _, path = qwen2
    _, tokenizer = mlx_lm.load(str(path))
    assert tokenizer.eos_token == "<|im_end|>" and len(tokenizer.encode("<|im_end|>")) == 1
    assert len(tokenizer.encode("<tool_call>")) == 1
    assert tokenizer.decode(tokenizer.encode("a<|im_end|>"), skip_special_tokens=True) == "a"


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(GGUFError, match="cannot read as GGUF"):
        convert_gguf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
