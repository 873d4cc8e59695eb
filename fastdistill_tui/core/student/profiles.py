"""Training profiles: `standard` carries the seed's values (mlx-lm's LoRA defaults, 1,000
iterations), `quick` is sized so that the default run, student included, fits about 10 minutes on
a 2-core CPU (docs/PERFORMANCE.md has the measurements behind it). A `[student]` key set to
something other than 0/"" (or -1 for eval_limit) overrides the profile's value."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..config import StudentConfig


@dataclass(frozen=True)
class TrainPlan:
    profile: str
    fine_tune_type: str
    iters: int
    batch_size: int
    learning_rate: float
    num_layers: int
    lora_rank: int
    lora_scale: float
    max_seq_length: int
    steps_per_eval: int
    save_every: int
    val_batches: int
    max_tokens: int
    eval_limit: int  # 0 = the whole eval split
    mask_prompt: bool = True  # loss on the answer only, as the seed trained
    seed: int = 0

    def training_fields(self) -> dict[str, Any]:
        """What decides the trained weights (the adapter's cache key); eval settings excluded."""
        data = asdict(self)
        for key in ("profile", "max_tokens", "eval_limit"):
            data.pop(key)
        return data


PROFILES = {
    "standard": TrainPlan("standard", "lora", iters=1000, batch_size=4, learning_rate=1e-5,
                          num_layers=16, lora_rank=8, lora_scale=20.0, max_seq_length=2048,
                          steps_per_eval=200, save_every=100, val_batches=25, max_tokens=256,
                          eval_limit=0),
    "quick": TrainPlan("quick", "lora", iters=45, batch_size=4, learning_rate=5e-4,
                       num_layers=8, lora_rank=8, lora_scale=20.0, max_seq_length=512,
                       steps_per_eval=45, save_every=15, val_batches=4, max_tokens=48,
                       eval_limit=96),
}


def default_profile() -> str:
    """quick where mlx runs on the CPU only (Linux without an accelerator), else standard."""
    return "standard" if sys.platform == "darwin" else "quick"


def plan_for(student: StudentConfig) -> TrainPlan:
    name = default_profile() if student.profile == "auto" else student.profile
    plan = PROFILES[name]
    overrides = {key: getattr(student, key) for key in (
        "fine_tune_type", "iters", "batch_size", "learning_rate", "num_layers", "lora_rank",
        "max_seq_length", "steps_per_eval", "save_every", "max_tokens") if getattr(student, key)}
    if student.eval_limit >= 0:
        overrides["eval_limit"] = student.eval_limit
    return replace(plan, **overrides)
