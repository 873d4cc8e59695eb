"""The teacher's requests: cached / fresh / failed / in flight (and gold-checked samples ready
ahead: 0 while requests are below the limit means the teacher is starved), tokens per minute,
cost so far and projected at the current rate; for a resumed run, the samples answered before. The time to go is the header's and the stage
rows' (one ETA model, run_state.py), not a second estimate here."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..run_state import RunState
from .format import count, money
from .panel import Panel


class RequestPanel(Panel):
    def key(self, state: RunState) -> object:
        return state.requests, state.running

    def draw(self, state: RunState) -> tuple[Group | Text, int]:
        r = state.requests
        if r is None:
            return Text("no request yet", style="dim"), 1
        counts = Table(box=None, show_header=False, show_edge=False, padding=(0, 1, 0, 0),
                       expand=True)
        counts.add_column(style="dim", no_wrap=True, width=10)
        counts.add_column(no_wrap=True, justify="right", width=7)
        counts.add_column(style="dim", no_wrap=True, width=11)
        counts.add_column(no_wrap=True, justify="right", width=7)
        counts.add_row("fresh", str(r.fresh), "  cached", str(r.cached))
        counts.add_row("failed", str(r.failed), "  in flight", str(r.in_flight))
        counts.add_row("retries", str(r.retries), "  req/min", f"{r.requests_per_min:.0f}")
        tokens = r.tokens_in + r.tokens_out
        share_in = r.tokens_in / tokens if tokens else 0.0
        rest = Table(box=None, show_header=False, show_edge=False, padding=(0, 1, 0, 0),
                     expand=True)
        rest.add_column(style="dim", no_wrap=True, width=11)
        rest.add_column(no_wrap=True, ratio=1)
        rest.add_row("ready ahead", f"{r.ready_ahead} samples queued for it")
        rest.add_row("tokens/min", f"{count(r.tokens_per_min)}  in "
                                   f"{count(r.tokens_per_min * share_in)} · out "
                                   f"{count(r.tokens_per_min * (1 - share_in))}")
        rest.add_row("cost", f"{money(r.cost)} → projected {money(r.projected_cost)}")
        if r.earlier:  # a resumed run: what was answered before is neither fresh nor cached
            rest.add_row("earlier", f"{r.earlier} samples answered before the resume")
        return Group(counts, rest), 6 + bool(r.earlier)
