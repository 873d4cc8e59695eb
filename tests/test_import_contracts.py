"""The layers stay cut: import-linter's contracts in pyproject.toml (the engine never imports the
app, the CLI, Textual or Rich; the app never imports the CLI; no import cycles) hold."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_DIR

LINT = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_import_contracts_are_kept():
    result = subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=REPO_DIR,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
