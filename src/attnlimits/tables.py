"""Rows of the result tables shared by every experiment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def line_rows(
    keys: Mapping[str, Any],
    quantity: str,
    swept: str,
    fit: str,
    x: Sequence[float],
    y: Sequence[float],
    y_low: Sequence[float],
    y_high: Sequence[float],
) -> list[dict[str, Any]]:
    """Rows of the ``lines`` table: a fitted line (x, y) and its band [y_low, y_high]."""
    return [
        {**keys, "quantity": quantity, "swept": swept, "fit": fit, "x": xj, "y": yj,
         "y_low": lo, "y_high": hi}
        for xj, yj, lo, hi in zip(x, y, y_low, y_high, strict=True)
    ]  # fmt: skip
