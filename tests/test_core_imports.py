"""The engine must never import textual or rich (DESIGN §1): checked in a fresh interpreter."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import fastdistill_tui.core as core


def core_modules() -> list[str]:
    root = Path(core.__file__).parent
    return sorted(m.name for m in pkgutil.walk_packages([str(root)],
                                                         prefix="fastdistill_tui.core."))


def test_core_modules_found():
    mods = core_modules()
    assert "fastdistill_tui.core.engine" in mods
    assert "fastdistill_tui.core.stages.teacher" in mods


def test_core_never_imports_textual_or_rich():
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"core imported: {proc.stdout} {proc.stderr[-2000:]}"
