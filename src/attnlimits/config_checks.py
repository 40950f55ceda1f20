"""Configuration rules shared by several experiments' checks (``Experiment.check``): the depths
of a block's grids dividing its limit's records (experiments heads and adamw)."""

from __future__ import annotations

import math
from collections.abc import Iterator


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` >= 1, increasing."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted({*small, *(n // k for k in small)})


def depth_problems(name: str, block: dict) -> Iterator[str]:
    """Every depth L of the grids of experiment ``name`` divides its ``limit.records``."""
    records = block["limit"]["records"]
    for gname, grid in block["grids"].items():
        for i, depth in enumerate(grid["L"]):
            if records % depth:
                yield (
                    f"{name}.grids.{gname}.L[{i}]: depth {depth} does not divide "
                    f"{name}.limit.records = {records}; choose L among the divisors "
                    f"{divisors(records)} or change records"
                )
