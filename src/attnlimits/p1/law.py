"""The head law of P1's model and the per-layer head draws (docs/mathematics.md, experiment
``heads``).

Head law (docs/mathematics.md, **our choice**): M atoms θ⁽ʳ⁾ = (Q, K, V) drawn once from the law
seed, Q, K entries i.i.d. N(0, 1/d), V = v̄ I + σ_V G with G entries i.i.d. N(0, 1/d). Every head
(ℓ, h) picks its atom r(ℓ, h) uniformly and independently; a seed s fixes these picks.

The atoms are one :class:`attnlimits.head.Head` whose leading axis indexes them: Q, K, V each
(M, d, d), or (..., M, d, d) with further leading axes (atoms per layer, per seed, per step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from attnlimits.head import Head
from attnlimits.seeding import generator, normal


def atom_count(atoms: Head) -> int:
    """M, the number of atoms: the last leading axis of ``atoms`` (..., M, d, d)."""
    return atoms.q.shape[-3]


def draw_atoms(
    atoms: int, d: int, v_bar: float, sigma_v: float, seed: int, stream: str = "atoms"
) -> Head:
    """Draw the M atoms of the head law for dimension d (stream ``(seed, stream, d)``)."""
    z = normal((3, atoms, d, d), seed, stream, d) / np.sqrt(d)
    eye = torch.eye(d, dtype=torch.float64)
    return Head(q=z[0], k=z[1], v=v_bar * eye + sigma_v * z[2])


def atoms_of(spec: Mapping[str, Any]) -> Head:
    """The atoms of a job's spec: its block ``law`` (atoms, v_bar, sigma_v, seed) in dimension
    ``d``."""
    law = spec["law"]
    return draw_atoms(law["atoms"], spec["d"], law["v_bar"], law["sigma_v"], law["seed"])


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
