"""The order a run reads a split in: file order, or under --limit a seeded sample spread over
the split's databases and its file positions.

Datasets are often grouped (by database, by question template): the first N rows are then a
few databases and templates, and so is what the early gate judges. The sample is instead the
first N of one seeded order of all rows in which the databases interleave in proportion to
their sizes and each database's rows come spread evenly through it (consecutive templates are
all reached early). Any prefix, the early gate's first answers too, is spread the same way,
and a larger N keeps a smaller one's samples, so their answers come from the cache.

The sample counts rows; the engine dedups what it reads and stops at N distinct samples. So
after the sample come the split's other rows in file order: read only when the sample held
duplicates, they make the count exact. Memory: a few integers a row, and the N examples.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..errors import InputError
from ..types import Example
from .base import Dataset


def sampled_examples(dataset: Dataset, split: str, limit: int, seed: int) -> Iterator[Example]:
    """The split's examples in the order the run takes them (see the module docstring); the
    same order for the same file, limit and seed."""
    if not limit:
        yield from dataset.iter_examples(split)
        return
    groups: dict[str, list[int]] = {}
    total = 0
    for index, example in enumerate(dataset.iter_examples(split)):  # validates every row
        groups.setdefault(example.schema.db_id, []).append(index)
        total = index + 1
    order = sample_order(groups, total, limit, random.Random(f"fastdistill:{seed}:{split}"))
    position = {index: rank for rank, index in enumerate(order)}
    chosen: list[Example | None] = [None] * len(order)
    for index, example in enumerate(dataset.iter_examples(split)):
        rank = position.get(index)
        if rank is not None:
            chosen[rank] = example
    for example in chosen:
        if example is None:
            raise InputError("the split changed while it was read", path=str(dataset.path),
                             field="split", hint="run again once the file is written")
        yield example
    for index, example in enumerate(dataset.iter_examples(split)):
        if index not in position:
            yield example


def sample_order(groups: dict[str, list[int]], total: int, limit: int,
                 rng: random.Random) -> list[int]:
    """The first min(limit, total) of one seeded order of all rows, so a larger --limit keeps
    the smaller one's samples (and their cached answers). In that order each group's rows
    interleave in proportion to its size, and within a group they come in van der Corput order
    from a random offset: any prefix is spread evenly through the group's rows."""
    keyed: list[tuple[float, float, int]] = []
    for name in sorted(groups):
        rows = groups[name]
        phase, tiebreak = rng.random(), rng.random()
        for slot, position in enumerate(_spread_positions(len(rows), rng.random())):
            keyed.append(((slot + phase) / len(rows), tiebreak, rows[position]))
    keyed.sort()
    return [index for _, _, index in keyed[:min(limit, total)]]


def _spread_positions(size: int, offset: float) -> list[int]:
    """0..size-1 in the order (van der Corput(j) + offset) mod 1 first reaches them: 2^bits
    points with 2^bits >= size fall in every one of the size equal stretches."""
    bits = max(1, (size - 1).bit_length())
    seen: dict[int, None] = {}
    for j in range(1 << bits):
        reversed_j = int(format(j, f"0{bits}b")[::-1], 2)
        seen.setdefault(int(((reversed_j / (1 << bits)) + offset) % 1.0 * size), None)
    return list(seen)
