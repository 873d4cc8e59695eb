"""The FastDistill engine. Never imports textual or rich (tests/test_core_imports.py)."""
