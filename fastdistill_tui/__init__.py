"""FastDistill: distil a teacher LLM into a small student on Text2SQL."""

__version__ = "0.1.0"
