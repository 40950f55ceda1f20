"""Exact optimal transport between weighted point clouds (POT's network simplex)."""

from __future__ import annotations

import numpy as np
import ot
import torch

#: Iteration cap of the network simplex (its default, 1e5, stops early on a few thousand points).
EMD_MAX_ITER = 10_000_000

Points = torch.Tensor | np.ndarray


def _array(x: Points) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


def w2_squared(x: Points, y: Points, a: Points | None = None, b: Points | None = None) -> float:
    """W2²(μ, ν) = min_π Σ_ij π_ij |xⁱ − yʲ|² for μ = Σ aᵢ δ_{xⁱ}, ν = Σ b_j δ_{yʲ}; exact
    (``ot.emd2``).

    x (n, d), y (m, d), any n, m; weights a (n,), b (m,) default to uniform and are normalised to
    sum to 1. Float64 throughout. Raises if the network simplex stops before optimality.
    """
    xa, ya = _array(x), _array(y)
    wa = np.full(len(xa), 1.0) if a is None else _array(a)
    wb = np.full(len(ya), 1.0) if b is None else _array(b)
    if wa.shape != (len(xa),) or wb.shape != (len(ya),) or (wa < 0).any() or (wb < 0).any():
        raise ValueError("weights must be non-negative, one per point")
    wa, wb = wa / wa.sum(), wb / wb.sum()
    cost = ot.dist(xa, ya, metric="sqeuclidean")
    value, log = ot.emd2(wa, wb, cost, numItermax=EMD_MAX_ITER, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    return max(0.0, float(value))
