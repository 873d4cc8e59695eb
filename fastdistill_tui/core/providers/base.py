"""The one interface every teacher (and the student, when it answers) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..types import Answer, GenParams

Messages = list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": str}]


class Provider(ABC):
    """A teacher. `complete` never raises for a request-level problem: it returns a Failure.

    `name` and `model` are part of the teacher cache key, so they must identify what answers
    (e.g. name="openrouter", model="deepseek/deepseek-v3.2").
    """

    name: str = "provider"
    model: str = ""
    #: True for in-process teachers whose answers cost nothing to recompute: the store then
    #: commits them with the next batch instead of one by one (a SIGKILL may lose the last
    #: batch, which a resume recomputes). Billed, remote answers are committed as they arrive.
    local: bool = False
    #: True for teachers whose answer depends only on the question (a rule-based parser): asking
    #: again, with an error or at another temperature, gives nothing new, so the repair round
    #: and k candidates leave them alone.
    deterministic: bool = False

    @property
    def rate_limited(self) -> int:
        """HTTP 429 answers received so far (0 for teachers without a server)."""
        return 0

    def paused_s(self) -> float:
        """Seconds left of a server-requested pause (Retry-After), 0 when none."""
        return 0.0

    @abstractmethod
    async def complete(self, messages: Messages, params: GenParams) -> Answer:
        """Answer one chat request: a Completion, or a Failure with its reason."""

    def concurrency_note(self) -> str:
        """One line on where an adaptive request limit ended ("" when there is none)."""
        return ""

    def stop(self) -> None:
        """Stop waiting: requests sleeping before a retry give up at once (reason
        "cancelled"); what is on the wire finishes. Called when the user stops the run."""

    async def aclose(self) -> None:
        """Release connections, models, threads."""
