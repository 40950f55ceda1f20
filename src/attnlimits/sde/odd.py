"""The odd-field case of experiment ``sde`` (docs/mathematics.md, ``sde``, predictions: odd
field; P2's first figure): clusters of tokens up to sign.

With σ_U = σ_W = 0 and an odd φ (tanh) the noise field is odd, G(−y) = −G(y), so the flow
commutes with y ↦ −y and acts on the projective space: without attention, pure noise cannot merge
two antipodal tokens, and where pairs contract (λ₁ < 0) the tokens synchronize onto two antipodal
points ±p_t (a two-point random attractor) instead of one. ``antipodal_fractions`` tells the two
outcomes apart on tokens x¹..x^N of one system:

* the axis v: the top eigenvector of M = (1/N) Σᵢ xⁱ xⁱᵀ (invariant under xⁱ ↦ −xⁱ);
* token i is tight if |⟨xⁱ, v⟩| ≥ cos θ (within the angle θ of p = v or of −p);
* two = the fraction of tight tokens if tight tokens lie on both sides (⟨xⁱ, v⟩ > 0 and < 0),
  else 0 (tokens in two antipodal clusters); one = the fraction of tight tokens if they all lie on
  one side, else 0 (tokens in one cluster).
"""

from __future__ import annotations

import math

import numpy as np


def antipodal_fractions(x: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(two, one) of the module docstring for tokens ``x`` (..., N, d) on the sphere, angle θ
    in radians; each of shape (...)."""
    x = np.asarray(x, np.float64)
    second = np.einsum("...ni,...nj->...ij", x, x) / x.shape[-2]
    axis = np.linalg.eigh(second)[1][..., -1]
    cosine = np.einsum("...ni,...i->...n", x, axis)
    tight = np.abs(cosine) >= math.cos(angle)
    share = tight.mean(-1)
    plus = (tight & (cosine > 0)).any(-1)
    minus = (tight & (cosine < 0)).any(-1)
    return np.where(plus & minus, share, 0.0), np.where(plus ^ minus, share, 0.0)


def pair_cosines(x: np.ndarray) -> np.ndarray:
    """⟨xⁱ, xʲ⟩, i < j, of tokens (..., N, d): shape (..., N(N−1)/2)."""
    i, j = np.triu_indices(x.shape[-2], 1)
    return np.einsum("...pi,...pi->...p", x[..., i, :], x[..., j, :])
