"""select: keep scored answers at or above min_score and split them train/valid by a hash of
sample_id, so the split never depends on order or on which other samples exist. A sample whose
gold result is empty is never kept: the gold cannot tell its answer right from wrong."""

from __future__ import annotations

from ..store import Store
from .context import BarrierContext


def valid_bucket(sample_id: str) -> float:
    """A stable number in [0, 1) from the sample id."""
    return int(sample_id[:8], 16) / 0x1_0000_0000


def select(store: Store, run_id: str, min_score: float, valid_fraction: float) -> int:
    """Marks the selected samples (and their split) in the store; returns how many."""
    return store.select_results(run_id, min_score, valid_fraction, valid_bucket)


def step(ctx: BarrierContext) -> tuple[int, int]:
    chosen = select(ctx.store, ctx.run_id, ctx.config.select.min_score,
                    ctx.config.select.valid_fraction)
    return chosen, ctx.scored - chosen
