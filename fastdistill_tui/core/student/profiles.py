"""Training profiles: `standard` carries the seed's values (mlx-lm's LoRA defaults, 1,000
iterations), `quick` is sized so that the default run, student included, fits about 10 minutes on
a 2-core CPU (docs/PERFORMANCE.md has the measurements behind it). A `[student]` key set to
something other than 0/"" (or -1 for eval_limit) overrides the profile's value. max_seq_length
is a floor: training raises it to the longest row, so that no answer is cut off
(student/worker.py, fitted_seq_length)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..config import StudentConfig
from .blas import INSTALL_HINT, Blas, probe_gflops
from .models import KNOWN


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
                          steps_per_eval=200, save_every=1, val_batches=25, max_tokens=256,
                          eval_limit=0),
    "quick": TrainPlan("quick", "lora", iters=45, batch_size=4, learning_rate=5e-4,
                       num_layers=8, lora_rank=8, lora_scale=20.0, max_seq_length=512,
                       steps_per_eval=45, save_every=1, val_batches=4, max_tokens=48,
                       eval_limit=96),
}


def default_profile(blas: Blas | None = None) -> str:
    """quick where mlx runs on the CPU only (Linux without an accelerator), else standard
    (macOS's Metal, an NVIDIA GPU through mlx's CUDA build)."""
    on_gpu = sys.platform == "darwin" or (blas is not None and blas.name == "cuda")
    return "standard" if on_gpu else "quick"


def plan_for(student: StudentConfig, blas: Blas | None = None) -> TrainPlan:
    """The training plan of `student`'s profile ("auto": default_profile on `blas`) with the
    config's own values over it."""
    name = default_profile(blas) if student.profile == "auto" else student.profile
    plan = PROFILES[name]
    overrides = {key: getattr(student, key) for key in (
        "fine_tune_type", "iters", "batch_size", "learning_rate", "num_layers", "lora_rank",
        "max_seq_length", "steps_per_eval", "save_every", "max_tokens") if getattr(student, key)}
    if student.eval_limit >= 0:
        overrides["eval_limit"] = student.eval_limit
    known = KNOWN.get(student.spec)
    if name == "quick" and not student.learning_rate and known and known.quick_learning_rate:
        overrides["learning_rate"] = known.quick_learning_rate
    return replace(plan, **overrides)


# A rough cost model for "how long will the student take here", from a measured matmul rate:
# a forward pass costs ~2 FLOP per weight per token, a training step ~6 (forward + backward).
# Calibrated on the default run (SmolLM2, quick profile, Debian OpenBLAS at ~239 GFLOP/s on the
# probe): its student half took ~380 s, so the model's work runs at ~0.4 of the 1024² rate.
PROMPT_TOKENS = 110  # a bundled eval prompt (system + schema + question), SmolLM2's tokenizer
TRAIN_TOKENS = 190  # an exported training example as mlx-lm pads it (156 mean, 227 max)
EFFICIENCY = 0.4
SLOW_BUDGET_S = 600.0  # a plan expected to take longer than this is cut down to fit


def expected_seconds(plan: TrainPlan, weights: int, gflops: float, questions: int) -> float:
    """Seconds for pre-eval, training and post-eval at `gflops` (a 1024² matmul's rate)."""
    evaluate = 2 * 2 * weights * questions * (PROMPT_TOKENS + plan.max_tokens)
    train = 6 * weights * plan.iters * plan.batch_size * TRAIN_TOKENS
    return (evaluate + train) / (gflops * 1e9 * EFFICIENCY)


def plan_for_blas(plan: TrainPlan, blas: Blas, model_dir: Path,
                  questions: int) -> tuple[TrainPlan, str | None]:
    """The plan to run with this BLAS and a warning to show first, or None. Without a fast BLAS
    a short probe measures this machine and the plan is cut down to end in minutes."""
    if blas.fast:
        return plan, None
    gflops = probe_gflops(blas) or 5.0  # the probe failed: mlx-cpu's bundled BLAS, idle
    weights = sum(f.stat().st_size for f in model_dir.glob("*.safetensors")) // 4  # float32
    cut, before, after = fit_plan(plan, weights, gflops, questions)
    said = (f"no fast BLAS found: mlx's bundled BLAS measured {gflops:.1f} GFLOP/s here, so "
            f"the student would take about {before / 60:.0f} min")
    if cut != plan:
        said += (f"; running a cut-down plan instead ({cut.eval_limit} eval questions, "
                 f"{cut.iters} iterations, about {after / 60:.0f} min)")
    return cut, f"{said}. To fix: {INSTALL_HINT}"


def fit_plan(plan: TrainPlan, weights: int, gflops: float, questions: int,
             budget_s: float = SLOW_BUDGET_S) -> tuple[TrainPlan, float, float]:
    """(plan cut down to about budget_s, expected seconds before, after). Fewer eval questions
    and iterations, never below 8 questions and 2 iterations: a result, not a good one."""
    before = expected_seconds(plan, weights, gflops, questions)
    if before <= budget_s:
        return plan, before, before
    share = budget_s / before
    cut = replace(plan, eval_limit=max(8, int(questions * share)),
                  iters=max(2, int(plan.iters * share)),
                  steps_per_eval=max(2, int(plan.iters * share)))
    return cut, before, expected_seconds(cut, weights, gflops, cut.eval_limit)
