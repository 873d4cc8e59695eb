"""Scores for a teacher answer: the rule score (default) or an LLM judge's opinion."""

from __future__ import annotations

import re
from typing import Protocol

from ..types import Answer, Completion, GenParams
from .clean import strip_reasoning


class Completes(Protocol):
    """What the judge needs of a provider (providers.base.Provider has it): this module sits
    below the providers, which render prompts that quote SQL."""

    async def complete(self, messages: list[dict[str, str]], params: GenParams) -> Answer: ...

LLM_JUDGE_PROMPT = """\
You are grading a SQLite query written to answer a question about a database.

Database schema:
{schema}

Question:
{question}

Query:
{sql}

Does the query correctly and completely answer the question on this schema? Reply with one \
line "Score: X" where X is a number from 0 to 1 (1 = certainly correct, 0 = wrong)."""

_SCORE_LABEL = re.compile(r"score\s*[:=]\s*\**\s*([01](?:\.\d+)?|\.\d+)\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^\s*\**\s*([01](?:\.\d+)?|\.\d+)\s*\**\s*\.?\s*$")


def rule_score(exec_ok: bool, verified: bool) -> float:
    """1.0 when the answer is verified (its result matches gold or, without gold SQL, it was
    kept by agreement), 0.5 when the query only executes, else 0.0."""
    if verified:
        return 1.0
    return 0.5 if exec_ok else 0.0


async def llm_judge_score(provider: Completes, question: str, schema_text: str, sql: str,
                          params: GenParams) -> float | None:
    """The judge's score in [0, 1], or None when the request fails or the answer holds no
    "Score: X" line (or a bare number) in that range."""
    prompt = LLM_JUDGE_PROMPT.format(schema=schema_text, question=question, sql=sql)
    answer = await provider.complete([{"role": "user", "content": prompt}], params)
    if not isinstance(answer, Completion):
        return None
    return parse_judge_score(answer.text)


def parse_judge_score(text: str) -> float | None:
    answer = strip_reasoning(text or "")
    match = _SCORE_LABEL.search(answer) or _BARE_NUMBER.match(answer)
    if match is None:
        return None
    score = float(match.group(1))
    return score if 0.0 <= score <= 1.0 else None
