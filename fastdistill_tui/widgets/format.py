"""Numbers as the panels print them, and a bar that reads without colour (NO_COLOR)."""

from __future__ import annotations

import re

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

FULL, EMPTY = "█", "░"


class Bar:
    """A bar filling the width it is given: `█` for the done part, `░` for the rest."""

    def __init__(self, fraction: float, style: str = "", empty_style: str = "dim") -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)
        self.style, self.empty_style = style, empty_style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        filled = round(self.fraction * width)
        yield Segment(FULL * filled, Style.parse(self.style) if self.style else None)
        yield Segment(EMPTY * (width - filled), Style.parse(self.empty_style))

    def __rich_measure__(self, console: Console, options: ConsoleOptions):
        from rich.measure import Measurement
        return Measurement(4, options.max_width)


def bar_text(fraction: float, width: int, style: str = "", empty_style: str = "dim") -> Text:
    """Bar as Text (cheap to draw in a row of text), same look as Bar."""
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    text = Text(FULL * filled, style=style)
    text.append(EMPTY * (width - filled), style=empty_style)
    return text


def clock(seconds: float | None) -> str:
    """0:07, 2:14, 1:02:03; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration(seconds: float) -> str:
    """A per-sample time: 40 µs, 0.4 ms, 9.1 ms, 164 ms, 1.84 s."""
    if seconds < 0.0001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def count(value: float) -> str:
    """412, 41.2k, 4.1M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def plural(number: int, noun: str) -> str:
    """1 field, 2 fields."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def money(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def format_seconds(seconds: float) -> str:
    """Wall time in the headless line and on Home: 0m07s, 12m04s, 1h02m."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


#: the command line that continues a run, as engine messages quote it (core/runs.py)
_RESUME = r"`?fastdistill run --headless --resume (?P<run>[\w-]+)`?"
#: engine messages' hints to the command line → what the app says instead ({resume}: the key)
HINTS = (
    (re.compile(rf"to continue anyway: {_RESUME} --override-gate \S+ \(or \w+=0\)"),
     "to continue anyway: {resume}; the gate will ask again and o overrides it"),
    (re.compile(rf"(?:resume with|rerun the same command or) {_RESUME}"), "{resume}"),
)
LONG_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d{2})\d{2,}")


def in_app(message: str, here: bool = False) -> str:
    """An engine message as the app says it: a hint to the command line names the key instead
    (here: r resumes the run on the screen that shows the message, a stored run's; elsewhere
    r on the run's row in Runs does), and a long float (0.0832477) is cut to two decimals."""
    for pattern, said in HINTS:
        message = pattern.sub(lambda m: said.format(resume=_resume(m["run"], here)), message)
    return LONG_FLOAT.sub(r"\1", message)


def _resume(run_id: str, here: bool) -> str:
    if here:
        return "r resumes it"
    return f"r on its row in Runs resumes it (or `fastdistill --resume {run_id}`)"


def threshold(value: float) -> str:
    """A gate threshold as set: 0.50, 0.999 (never rounded up to a value it is not)."""
    text = f"{value:.2f}"
    return text if abs(float(text) - value) < 1e-9 else f"{value:.4g}"
