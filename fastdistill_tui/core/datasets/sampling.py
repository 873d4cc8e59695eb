"""The order a run reads a split in: file order, or under --limit a seeded sample spread over
the split's databases and its file positions.

Datasets are often grouped (by database, by question template): the first N rows are then a
few databases and templates, and so is what the early gate judges. The sample instead takes
each database's share of N (proportional to its rows), spaced evenly through that database's
rows from a seeded offset (consecutive templates are all reached), and yields them
interleaved, so any prefix (the early gate's first answers) is spread the same way.

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
    """min(limit, total) row indices: each group's proportional share (largest remainders,
    ties broken by rng), evenly spaced through the group from a random offset, interleaved so
    that every prefix holds each group's share of it."""
    wanted = min(limit, total)
    names = sorted(groups)
    quotas = {name: wanted * len(groups[name]) / total for name in names}
    counts = {name: int(quotas[name]) for name in names}
    tiebreak = {name: rng.random() for name in names}
    rest = sorted(names, key=lambda n: (-(quotas[n] - counts[n]), tiebreak[n]))
    for name in rest[:wanted - sum(counts.values())]:
        counts[name] += 1
    keyed: list[tuple[float, float, int]] = []
    for name in names:
        rows, k = groups[name], counts[name]
        if not k:
            continue
        offset = rng.random()
        picks = [rows[int((j + offset) * len(rows) / k)] for j in range(k)]
        rng.shuffle(picks)  # a prefix of the group's picks is spread over its rows too
        phase = rng.random()
        keyed += [((slot + phase) / k, tiebreak[name], index) for slot, index in enumerate(picks)]
    keyed.sort()
    return [index for _, _, index in keyed]
