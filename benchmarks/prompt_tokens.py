"""Prompt size: the compact schema layout against CREATE TABLE statements, and what the database
content ([prompt] defaults: example rows, values like the question's words) adds.

    python benchmarks/prompt_tokens.py [--spider DIR]

Renders every question of the bundled eval split and of spider-de-dev's dev split in both
styles (and the compact one with the database content) and counts tokens with prompt.prompt_tokens (the project's deterministic BPE
approximation; see count_tokens). Prints a markdown table of mean tokens per prompt.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastdistill_tui.core.config import PromptConfig  # noqa: E402
from fastdistill_tui.core.datasets.registry import open_dataset  # noqa: E402
from fastdistill_tui.core.prompt import prompt_tokens, render_messages  # noqa: E402

SPIDER_DE_DEV = ROOT.parent / "shared" / "data" / "spider-de-dev"


def measure(spec: str, split: str, cache_dir: Path) -> dict[str, float]:
    dataset = open_dataset(spec, cache_dir=cache_dir)
    sizes: dict[str, list[int]] = {"compact": [], "create_table": [], "content": []}
    for example in dataset.iter_examples(split):
        for style in ("compact", "create_table"):
            sizes[style].append(prompt_tokens(render_messages(
                example.schema, example.question, example.evidence, style=style)))
        sizes["content"].append(prompt_tokens(render_messages(
            example.schema, example.question, example.evidence, db_path=example.db_path,
            content=PromptConfig())))
    return {"n": len(sizes["compact"]),
            **{style: statistics.fmean(counts) for style, counts in sizes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", type=Path, default=SPIDER_DE_DEV)
    args = parser.parse_args()
    specs = [("bundled", "bundled", "eval")]
    if args.spider.is_dir():
        specs.append(("spider-de-dev", f"spider:{args.spider}", "dev"))
    else:
        print(f"(spider-de-dev not found at {args.spider}; skipped)")
    print("| dataset | prompts | compact (mean tokens) | CREATE TABLE (mean tokens) | "
          "compact / CREATE TABLE | compact + database content (mean tokens) |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as cache:
        for name, spec, split in specs:
            r = measure(spec, split, Path(cache))
            print(f"| {name} ({split}) | {r['n']} | {r['compact']:.1f} | "
                  f"{r['create_table']:.1f} | {r['compact'] / r['create_table']:.2f} | "
                  f"{r['content']:.1f} |")


if __name__ == "__main__":
    main()
