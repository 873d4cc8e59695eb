"""Textual screens: the run dashboard and the gate prompt."""
