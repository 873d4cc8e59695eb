"""Build a tiny llama model directory that `mlx_lm.load` and `mlx_lm server` accept, offline.

The model is a real ~2.6M-parameter llama with random attention and MLP weights, wired so that it
answers every chat with "SELECT 1" and then stops: token embeddings are one-hot, the layers'
output projections are scaled down to a whisper, and `lm_head` maps each token to its successor
(any token -> SELECT -> 1 -> </s>). Tests can then assert exact text and token counts.

The tokenizer is a WordLevel vocabulary trained in-process on a few SQL strings, wrapped as a
PreTrainedTokenizerFast with a small chat template.

    python tests/make_tiny_model.py DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ANSWER = "SELECT 1"
SPECIAL = ["[UNK]", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CORPUS = [
    "SELECT 1",
    "SELECT name FROM singer WHERE age > 30 ORDER BY name",
    "SELECT COUNT ( * ) FROM concert GROUP BY year HAVING COUNT ( * ) > 1",
    "How many singers are there ? Answer with SQL . Schema : table columns",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
HIDDEN = 256  # one-hot embeddings need hidden size >= vocabulary size


def build_tokenizer(directory: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]",
                                      bos_token="<s>", eos_token="</s>", pad_token="</s>",
                                      additional_special_tokens=SPECIAL[3:])
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.save_pretrained(directory)
    return wrapped


def make_tiny_model(directory: str | Path) -> Path:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models.llama import Model, ModelArgs

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(directory)
    vocab = tokenizer.get_vocab()
    assert len(vocab) <= HIDDEN, "vocabulary outgrew the one-hot embeddings"
    config = {"model_type": "llama", "hidden_size": HIDDEN, "num_hidden_layers": 4,
              "intermediate_size": 512, "num_attention_heads": 4, "num_key_value_heads": 4,
              "rms_norm_eps": 1e-5, "vocab_size": len(vocab), "max_position_embeddings": 2048,
              "rope_theta": 10000.0, "tie_word_embeddings": False,
              "bos_token_id": vocab["<s>"], "eos_token_id": vocab["</s>"]}

    mx.random.seed(0)
    model = Model(ModelArgs.from_dict(config))
    size = len(vocab)
    select, one, eos = (vocab[t] for t in ("SELECT", "1", "</s>"))
    successor = [select] * size
    successor[select], successor[one] = one, eos
    model.model.embed_tokens.weight = mx.eye(size, HIDDEN)
    head = [[0.0] * HIDDEN for _ in range(size)]
    for token, following in enumerate(successor):
        head[following][token] = 1.0
    model.lm_head.weight = mx.array(head)
    for layer in model.model.layers:
        layer.self_attn.o_proj.weight = layer.self_attn.o_proj.weight * 0.01
        layer.mlp.down_proj.weight = layer.mlp.down_proj.weight * 0.01

    mx.save_safetensors(str(directory / "model.safetensors"),
                        dict(tree_flatten(model.parameters())))
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory


if __name__ == "__main__":
    print(make_tiny_model(sys.argv[1]))
