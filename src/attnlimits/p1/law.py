"""The head law, the test inputs and the per-layer head draws of experiment ``heads``.

Head law (MODELS.md, **our choice**): M atoms θ⁽ʳ⁾ = (Q, K, V) drawn once from the law seed,
Q, K entries i.i.d. N(0, 1/d), V = v̄ I + σ_V G with G entries i.i.d. N(0, 1/d). Every head
(ℓ, h) picks its atom r(ℓ, h) uniformly and independently; a seed s fixes these picks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnlimits.geometry import project
from attnlimits.seeding import generator, normal


@dataclass(frozen=True)
class Atoms:
    """The M atoms of the head law, as the matrices the attention needs."""

    q: torch.Tensor  # (M, d, d)
    k: torch.Tensor  # (M, d, d)
    v: torch.Tensor  # (M, d, d)

    @property
    def qk(self) -> torch.Tensor:
        """QᵀK per atom (M, d, d), so that ⟨Q x, K y⟩ = xᵀ (QᵀK) y."""
        return self.q.transpose(-1, -2) @ self.k

    @property
    def count(self) -> int:
        return self.q.shape[0]

    def to(self, device: torch.device | str) -> Atoms:
        return Atoms(self.q.to(device), self.k.to(device), self.v.to(device))


def draw_atoms(atoms: int, d: int, v_bar: float, sigma_v: float, seed: int) -> Atoms:
    """Draw the M atoms of the head law for dimension d (stream ``(seed, "atoms", d)``)."""
    z = normal((3, atoms, d, d), seed, "atoms", d) / np.sqrt(d)
    eye = torch.eye(d, dtype=torch.float64)
    return Atoms(q=z[0], k=z[1], v=v_bar * eye + sigma_v * z[2])


def draw_inputs(count: int, n: int, d: int, normalisation: str, seed: int) -> torch.Tensor:
    """S test inputs X₀ (S, N, d): uniform on the sphere for ``sphere``, N(0, I/d) for ``none``.

    The stream is ``(seed, "inputs", normalisation, N, d)``: each (N, d) has its own inputs.
    """
    g = normal((count, n, d), seed, "inputs", normalisation, n, d)
    if normalisation == "sphere":
        return project(g, "sphere")
    return g / np.sqrt(d)


def head_atoms(seeds: int, layers: int, heads: int, atoms: int, seed: int) -> np.ndarray:
    """Atom index r(ℓ, h) of every head, (R, L, H) int64.

    Seed s draws from the stream (seed, "heads", s, L, H): the picks of a seed are shared by every
    mask, N, d and β, so seeds can be resampled jointly across cells.
    """
    out = np.empty((seeds, layers, heads), dtype=np.int64)
    for s in range(seeds):
        out[s] = generator(seed, "heads", s, layers, heads).integers(0, atoms, size=(layers, heads))
    return out


def atom_counts(assignment: np.ndarray, atoms: int) -> torch.Tensor:
    """Counts c_{ℓr} of each atom among the H heads of each layer: (R, L, M) float64."""
    r, layers, _ = assignment.shape
    flat = assignment + atoms * np.arange(r * layers).reshape(r, layers, 1)
    counts = np.bincount(flat.ravel(), minlength=r * layers * atoms).reshape(r, layers, atoms)
    return torch.from_numpy(counts.astype(np.float64))
