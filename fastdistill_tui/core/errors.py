"""Errors that reach the user with a location and a fix, mapped to CLI exit codes."""

from __future__ import annotations


class FastDistillError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class InputError(FastDistillError):
    """Bad dataset or config input: names the file, line and field and says what to do.

    Exit code 2 (DESIGN §9).
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None) -> None:
        self.path, self.line, self.field, self.hint = path, line, field, hint
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.path and self.path not in ("environment", "command line"):
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        if not self.field:
            field = ""
        elif self.field.startswith("FASTDISTILL_"):
            field = f"environment variable {self.field}: "
        elif self.field.startswith("-"):
            field = f"option {self.field}: "
        else:
            field = f"field '{self.field}': "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{field}{self.message}{hint}"


class ConfigError(InputError):
    """A config file/flag/env problem (exit code 2)."""


class SetupError(InputError):
    """The machine, not the input, is in the way: a path that cannot be written, a full disk
    (exit code 2; the message names the path)."""


class NothingToDo(FastDistillError):
    """The request is already satisfied (e.g. resuming a completed run): said, exit code 0."""

    exit_code = 0


class GateFailed(FastDistillError):
    """A quality gate failed and nobody overrode it (exit code 3)."""

    exit_code = 3


class RunCancelled(FastDistillError):
    """The user stopped the run; it is resumable (exit code 130)."""

    exit_code = 130
