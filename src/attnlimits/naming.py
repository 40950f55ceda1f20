"""How parameter values appear in paths: short, readable, and round-tripping."""

from __future__ import annotations


def format_number(value: float) -> str:
    """Shortest round-tripping text of a number, no trailing '.0' (1.0 → '1', 0.1 → '0.1')."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
