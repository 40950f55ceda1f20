"""Deterministic random streams.

Every random draw in the pipeline comes from a generator keyed by a tuple of integers
(a base seed and the indices that identify the draw), through numpy's ``SeedSequence``.
The same key gives the same numbers on every machine, whatever the job order or the
number of cores; different keys give independent streams.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def key_of(*parts: int | str) -> list[int]:
    """Turn a tuple of ints and strings into the integer entropy of a ``SeedSequence``."""
    out: list[int] = []
    for p in parts:
        if isinstance(p, str):
            out.append(int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little"))
        else:
            if int(p) < 0:
                raise ValueError(f"seed parts must be non-negative, got {p}")
            out.append(int(p))
    return out


def generator(*parts: int | str) -> np.random.Generator:
    """A numpy generator for the stream named by ``parts``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key_of(*parts))))


def normal(shape: tuple[int, ...], *parts: int | str) -> torch.Tensor:
    """Standard normal float64 tensor (CPU) from the stream named by ``parts``."""
    import torch  # here, not at the top: the workflow imports this module while it parses

    return torch.from_numpy(generator(*parts).standard_normal(size=shape))
