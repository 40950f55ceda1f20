"""Configuration rules shared by several experiments' checks (``Experiment.check``): the depths
of a block's grids dividing its limit's records (experiments heads and adamw)."""

from __future__ import annotations

import math
from collections.abc import Iterator

#: Up to this number the divisors of a count are listed in a message (a loop to its square
#: root: a check never loops without bound on a configured value).
LISTED_DIVISORS_UP_TO = 10**10


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` >= 1, increasing."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted({*small, *(n // k for k in small)})


def choose_among(n: int) -> str:
    """``"among the divisors [...]"`` of ``n``, or ``"among the divisors of n"`` when ``n`` is
    too large to list them quickly (:data:`LISTED_DIVISORS_UP_TO`)."""
    if n > LISTED_DIVISORS_UP_TO:
        return f"among the divisors of {n}"
    return f"among the divisors {divisors(n)}"


def depth_problems(name: str, block: dict) -> Iterator[str]:
    """Every depth L of the grids of experiment ``name`` divides its ``limit.records``."""
    records = block["limit"]["records"]
    for gname, grid in block["grids"].items():
        for i, depth in enumerate(grid["L"]):
            if records % depth:
                yield (
                    f"{name}.grids.{gname}.L[{i}]: depth {depth} does not divide "
                    f"{name}.limit.records = {records}; choose L {choose_among(records)} "
                    "or change records"
                )
