"""The FastDistill engine. Never imports textual or rich (tests/test_core_imports.py).

httpx's package __init__ imports its command-line module (click, pygments, rich) whenever those
are installed, which would load Rich into the engine; the engine never uses httpx's CLI, so it
is kept out of the import before any engine module imports httpx.
"""

import sys

if "httpx" not in sys.modules:
    # `from ._main import main` in httpx then raises ImportError and httpx defines a stub
    sys.modules.setdefault("httpx._main", None)
