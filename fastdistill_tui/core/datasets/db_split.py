"""Hold whole databases out of distillation for the student's evaluation.

`dataset.eval_split = "by-database"` (`--eval-split by-database[:FRACTION[:SEED]]`, default
0.2 and 0): a seeded fraction of the distilled split's databases is kept back. The teacher never
sees their questions, so nothing about them reaches the exported set, and the student is
evaluated on them only: the before/after figures then measure questions over schemas the student
never trained on. Which databases is a pure function of the set of database names, the fraction
and the seed (each name ranked by a hash of seed and name), so a rerun, a resume or another
machine holds out the same ones.

A database is its SQLite file (`database/<db_id>/<db_id>.sqlite` in Spider, so the file's stem is
the db_id), which makes the split work for any dataset with more than one database file.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import BY_DATABASE, parse_eval_split as parse_spec  # noqa: F401
from ..errors import InputError
from ..types import Example
from .base import Dataset

def is_held_out(split: str) -> bool:
    """Whether a split name means the held-out databases (`by-database`, with or without its
    fraction and seed)."""
    return split.partition(":")[0] == BY_DATABASE


def database_of(example: Example) -> str:
    return Path(example.db_path).stem


def held_out(databases: list[str], fraction: float, seed: int) -> list[str]:
    """The databases kept back: the first ceil(fraction * n) by a seeded hash, at least one
    and never all."""
    if len(databases) < 2:
        raise InputError(f"--eval-split {BY_DATABASE} needs at least 2 databases; the split has "
                         f"{len(databases)}", field="eval_split",
                         hint="use a Spider-format set with several databases, or a split name")
    count = min(max(1, math.ceil(fraction * len(databases))), len(databases) - 1)
    ranked = sorted(databases,
                    key=lambda db: hashlib.sha256(f"{seed}:{db}".encode()).hexdigest())
    return sorted(ranked[:count])


class DatabaseSplit(Dataset):
    """A dataset whose `split` loses the held-out databases' questions and whose extra split
    `by-database` has only those (in file order)."""

    def __init__(self, base: Dataset, split: str, fraction: float, seed: int) -> None:
        self.base, self.split, self.fraction, self.seed = base, split, fraction, seed
        self.kind, self.path = base.kind, base.path
        self.default_split, self.default_eval_split = base.default_split, BY_DATABASE
        self.questions = Counter(database_of(e) for e in base.iter_examples(split))
        self.held_out = set(held_out(sorted(self.questions), fraction, seed))

    def splits(self) -> list[str]:
        return sorted([*self.base.splits(), BY_DATABASE])

    def check_split(self, split: str) -> None:
        if not is_held_out(split):
            self.base.check_split(split)

    def iter_examples(self, split: str) -> Iterator[Example]:
        keep = is_held_out(split)
        for example in self.base.iter_examples(self.split if keep else split):
            if (database_of(example) in self.held_out) == keep:
                yield example

    def count(self, split: str) -> int:
        if is_held_out(split) or split == self.split:
            return sum(n for db, n in self.questions.items()
                       if (db in self.held_out) == is_held_out(split))
        return self.base.count(split)

    def describe(self, distilled_db_paths: set[str]) -> dict[str, Any]:
        """What the report records: which databases went where, with question counts, and
        whether the samples actually distilled (their SQLite files) avoid the held-out ones."""
        distilled = {Path(path).stem for path in distilled_db_paths}
        return {"kind": BY_DATABASE, "split": self.split, "fraction": self.fraction,
                "seed": self.seed, "held_out_databases": sorted(self.held_out),
                "training_databases": sorted(set(self.questions) - self.held_out),
                "held_out_questions": self.count(BY_DATABASE),
                "training_questions": self.count(self.split),
                "distilled_databases": len(distilled),
                "databases_disjoint": not distilled & self.held_out}


def with_eval_split(dataset: Dataset, split: str, eval_split: str) -> Dataset:
    """dataset itself, or a DatabaseSplit of it when eval_split asks for one."""
    try:
        parsed = parse_spec(eval_split)
    except ValueError as exc:
        raise InputError(str(exc), field="dataset.eval_split") from None
    if parsed is None:
        return dataset
    return DatabaseSplit(dataset, split, *parsed)
