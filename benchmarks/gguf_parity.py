"""Does a converted student compute what llama.cpp computes from the same GGUF? (not CI)

Tokenizes a few texts and greedily answers a few chat prompts twice: with mlx-lm on the
directory `gguf.py` wrote, and with llama-cpp-python (run in its own interpreter, --llama-python)
on the GGUF itself. Prints token agreement and the two outputs side by side.

    python benchmarks/gguf_parity.py --gguf F.gguf --model DIR \
        --llama-python /work/llm/venv/bin/python [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

TEXTS = [
    "SELECT name FROM singer WHERE age > 30 ORDER BY name;",
    "Wie viele Sänger kommen aus Frankreich? Straße, Größe, naïve café 1234567",
    "  leading spaces\n\nand\ttabs, emoji 🙂 and 中文字符 <|im_end|> <tool_call>",
    "it's we'll they'd I'M 3.14159e-10 $x_{i}$ http://example.com/a?b=c&d=1",
]
PROMPTS = [
    [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
    [{"role": "system", "content": "You write SQLite SQL. Answer with one SQL query only."},
     {"role": "user", "content": "Schema: singer(singer_id, name, country, age)\n"
                                 "Question: How many singers are from France?"}],
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
    [{"role": "system", "content": "You write SQLite SQL. Answer with one SQL query only."},
     {"role": "user", "content": "Schema: concert(concert_id, concert_name, stadium_id, year)"
                                 "\nstadium(stadium_id, name, capacity)\nQuestion: Welche "
                                 "Stadien hatten nach 2014 ein Konzert?"}],
    [{"role": "user", "content": "List three prime numbers greater than 100."}],
]

LLAMA_SIDE = r"""
import json, sys
from llama_cpp import Llama
job = json.load(sys.stdin)
llm = Llama(model_path=job["gguf"], n_ctx=2048, n_threads=2, verbose=False)
out = {"tokens": [llm.tokenize(t.encode(), add_bos=False, special=True) for t in job["texts"]],
       "answers": []}
for prompt in job["prompts"]:
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    got = []
    for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        if token == llm.token_eos() or len(got) >= job["max_tokens"]:
            break
        got.append(token)
    out["answers"].append(got)
json.dump(out, sys.stdout)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--model", required=True, help="the converted mlx-lm directory")
    parser.add_argument("--llama-python", required=True)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()

    import mlx_lm
    from mlx_lm.sample_utils import make_sampler

    model, tokenizer = mlx_lm.load(args.model)
    prompts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
               for p in PROMPTS]
    job = {"gguf": args.gguf, "texts": TEXTS, "prompts": prompts,
           "max_tokens": args.max_tokens}
    done = subprocess.run([args.llama_python, "-c", LLAMA_SIDE], input=json.dumps(job),
                          capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout)
    same_tokens = 0
    for text, ids in zip(TEXTS, theirs["tokens"]):
        ours = tokenizer.encode(text)
        ok = ours == ids and tokenizer.decode(ours) == text
        same_tokens += ok
        print(f"tokens {'same' if ok else 'DIFFER'} ({len(ours)} vs {len(ids)}): {text[:40]!r}")
    same_answers = 0
    for prompt, want in zip(prompts, theirs["answers"]):
        ids = tokenizer.encode(prompt)
        text = mlx_lm.generate(model, tokenizer, ids, max_tokens=args.max_tokens,
                               sampler=make_sampler(temp=0.0))
        mine = tokenizer.encode(text)
        reference = tokenizer.decode(want)
        same = text.strip() == reference.strip()
        same_answers += same
        print(f"--- {'SAME' if same else 'DIFFERENT'}\n mlx:   {text!r}\n llama: {reference!r}"
              + ("" if same else f"\n first differing token: {_first_diff(mine, want)}"))
    print(f"tokenization: {same_tokens}/{len(TEXTS)} identical; greedy answers: "
          f"{same_answers}/{len(prompts)} identical ({args.max_tokens} tokens at most)")
    return 0 if same_tokens == len(TEXTS) else 1


def _first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


if __name__ == "__main__":
    sys.exit(main())
