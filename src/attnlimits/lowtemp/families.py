"""Particle families of one initial density μ₀ (docs/mathematics.md, "The mean-field regime").

The N-convergence study (``lowtemp.convergence``) approximates the same μ₀ (uniform on the unit
disc or ball, ``measure.kind``) by particle sets of two or more *families*, so that a β-slope
that depends on how the particles are placed shows up as a difference between families:

- ``grid``: the measure's own quadrature, ``measures.initial_measure`` (the polar Gauss grid of
  the disc, aligned with the rotations by 2π/n_θ; the cell-centred lattice of the ball);
- ``halton``: the first N points of the Halton sequence (bases the first d primes, index 1 on)
  mapped from [0, 1)^d to the cube [−1, 1)^d, kept where they fall inside the unit ball
  (rejection, in sequence order), equal weights 1/N: a quasi-random sample without the grid's
  rotational alignment, deterministic;
- ``iid``: N i.i.d. uniform points of the ball (the same rejection from the cube, drawn from the
  stream ``(seed, "lowtemp-iid", d, N)``), equal weights.

N is the particle count of the grid family at the same size, so that the families of one size
are compared at equal N. numpy only (no torch), like ``measures``.
"""

from __future__ import annotations

import math

import numpy as np

from attnlimits.lowtemp.measures import initial_measure
from attnlimits.seeding import generator

FAMILIES = ("grid", "halton", "iid")
#: Largest dimension of the rejection families: the ball's share of the cube, V_d / 2^d, is 8%
#: at d = 6 and falls fast beyond.
MAX_REJECTION_D = 6


def _primes(count: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found):
            found.append(candidate)
        candidate += 1
    return found


def radical_inverse(index: np.ndarray, base: int) -> np.ndarray:
    """φ_b(i) = Σ_k a_k b^(−k−1) for i = Σ_k a_k b^k: the van der Corput sequence in ``base``."""
    i = np.asarray(index, dtype=np.int64).copy()
    out = np.zeros(i.shape, dtype=np.float64)
    scale = 1.0 / base
    while np.any(i > 0):
        out += (i % base) * scale
        i //= base
        scale /= base
    return out


def halton(start: int, count: int, d: int) -> np.ndarray:
    """The Halton points of indices start, …, start + count − 1 in [0, 1)^d (bases: the first d
    primes), shape (count, d)."""
    index = np.arange(start, start + count, dtype=np.int64)
    return np.stack([radical_inverse(index, b) for b in _primes(d)], axis=-1)


def _inside(points: np.ndarray) -> np.ndarray:
    return points[(points**2).sum(-1) < 1.0]


def _rejected(n: int, d: int, draw) -> np.ndarray:
    """The first n points inside the unit ball of the cube points that ``draw(start, count)``
    gives in sequence, drawn in blocks."""
    if d > MAX_REJECTION_D:
        raise ValueError(f"the rejection families need d <= {MAX_REJECTION_D}, got d = {d}")
    share = math.pi ** (d / 2) / math.gamma(d / 2 + 1) / 2**d
    kept, start = [], 0
    while sum(len(k) for k in kept) < n:
        count = int(1.2 * n / share) + 16
        kept.append(_inside(2.0 * draw(start, count) - 1.0))
        start += count
    return np.concatenate(kept)[:n]


def family_measure(
    family: str, kind: str, size: int, d: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, d) and weights (N,) of μ₀ = uniform on the unit ``kind`` by ``family`` (module
    docstring), N the grid family's count at ``size``."""
    grid = initial_measure(kind, size, d)
    if family == "grid":
        return grid
    n = len(grid[1])
    if family == "halton":
        points = _rejected(n, d, lambda start, count: halton(start + 1, count, d))
    elif family == "iid":
        rng = generator(seed, "lowtemp-iid", d, n)
        points = _rejected(n, d, lambda start, count: rng.random((count, d)))
    else:
        raise ValueError(f"unknown particle family {family!r}: expected one of {FAMILIES}")
    return points, np.full(n, 1.0 / n)
