"""The peer job in distilabel 1.5.3 (run by run_peers.py inside distilabel's own venv).

N prompts, the same system + user messages as benchmarks/teacher_throughput.py, through
TextGeneration over OpenAILLM at the loopback server; input_batch_size = C, so distilabel keeps
up to C requests in flight (it sends a batch and waits for all of it).

    python distilabel_job.py BASE_URL N C
"""

from __future__ import annotations

import sys

from distilabel.models.llms import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration


def main() -> None:
    base_url, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rows = [{"instruction": f"How many singers are older than {i}?"} for i in range(n)]
    with Pipeline(name="fastdistill-peer-bench") as pipeline:
        load = LoadDataFromDicts(data=rows, batch_size=concurrency)
        generate = TextGeneration(
            llm=OpenAILLM(model="bench", base_url=base_url, api_key="loopback",
                          generation_kwargs={"max_new_tokens": 64}),
            system_prompt="Answer with one SQL query.", input_batch_size=concurrency)
        load >> generate
    distiset = pipeline.run(use_cache=False)
    answered = sum(1 for row in distiset["default"]["train"] if row["generation"])
    print(f"ANSWERED {answered}")


if __name__ == "__main__":
    main()
