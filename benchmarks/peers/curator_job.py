"""The peer job in bespokelabs-curator 0.1.31 (run by run_peers.py inside curator's own venv).

N prompts, the same system + user messages as benchmarks/teacher_throughput.py, through
curator.LLM's online OpenAI backend at the loopback server, at most C requests at once and rate
limits set far above what the server can do (curator still sends one probe request first to
read the server's rate-limit headers).

    python curator_job.py BASE_URL N C
"""

from __future__ import annotations

import sys

from bespokelabs import curator


class Ask(curator.LLM):
    def prompt(self, row: dict) -> list[dict[str, str]]:
        return [{"role": "system", "content": "Answer with one SQL query."},
                {"role": "user", "content": row["question"]}]

    def parse(self, row: dict, response: str) -> dict:
        return {"question": row["question"], "answer": response}


def main() -> None:
    base_url, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    llm = Ask(model_name="bench", backend="openai",
              generation_params={"max_tokens": 64},
              backend_params={"base_url": base_url, "api_key": "loopback",
                              "max_requests_per_minute": 10_000_000,
                              "max_tokens_per_minute": 10_000_000_000,
                              "max_concurrent_requests": concurrency,
                              "max_retries": 0, "require_all_responses": False})
    rows = [{"question": f"How many singers are older than {i}?"} for i in range(n)]
    answers = llm(rows).dataset  # a CuratorResponse wraps the Hugging Face dataset
    print(f"ANSWERED {sum(1 for a in answers if a['answer'])}")


if __name__ == "__main__":
    main()
