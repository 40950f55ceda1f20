"""Benchmark b: the discrete heads simulation against a per-layer, per-head research loop.

Ours: ``attnlimits.p1.discrete.simulate`` as a ``heads`` cell calls it (``heads.pipeline``):
R seeds × S inputs batched, heads grouped by atom (M attention evaluations per layer whatever
H), with the atom counting (``atom_counts``) included in its time. The reference is the loop a
research script would write: for each seed and input, ``for layer in range(L): for h in
range(H):`` one head's softmax attention with plain torch ops, vectorised over tokens, then the
residual update and the projection onto the sphere. Both get the same atoms, inputs and head
draws (``p1.law``), and must agree to 1e-12 before anything is timed.

Shapes: the default grid's cell (config/config.yaml, heads): N = 32, d = 3, M = 8, R = 16
seeds, S = 4 inputs, β = 1, sphere, encoder; L = 32 and H = 4, 16, 64, 256. The reference loop
runs seed after seed with the same work per seed, so it is timed on a few of the R seeds and
scaled by R/(seeds timed) (stated in the note). Target: ≥ 20× at H = 64.

    python benchmarks/run.py --only b [--quick] [--device cuda]
"""

from __future__ import annotations

import numpy as np
import torch
from common import Row, best_times

from attnlimits.p1.discrete import simulate
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_count, atom_counts, draw_atoms, head_atoms

TARGET = 20.0
TARGET_HEADS = 64


def naive_simulate(x0, q, k, v, assignment, horizon, beta, mask, normalisation):
    """X_{ℓ+1} = Π(X_ℓ + Δ (1/H) Σ_h A_{θ_{ℓh}}(X_ℓ)): one seed, one input, one head at a time.

    ``x0`` (S, N, d), ``q``, ``k``, ``v`` (M, d, d), ``assignment`` (R, L, H) atom indices.
    Returns (R, S, L+1, N, d), as ``simulate``.
    """
    seeds, layers, heads = assignment.shape
    inputs, n, d = x0.shape
    dt = horizon / layers
    causal = torch.ones(n, n, dtype=torch.bool, device=x0.device).triu(1)
    out = torch.empty(seeds, inputs, layers + 1, n, d, dtype=x0.dtype, device=x0.device)
    for s in range(seeds):
        for i in range(inputs):
            x = x0[i]
            out[s, i, 0] = x
            for layer in range(layers):
                update = torch.zeros_like(x)
                for h in range(heads):
                    r = int(assignment[s, layer, h])
                    scores = beta * (x @ q[r].T) @ (x @ k[r].T).T
                    if mask == "causal":
                        scores = scores.masked_fill(causal, float("-inf"))
                    update = update + torch.softmax(scores, dim=-1) @ (x @ v[r].T)
                x = x + dt * update / heads
                if normalisation == "sphere":
                    x = x / x.norm(dim=-1, keepdim=True)
                out[s, i, layer + 1] = x
    return out


def setup(seeds, inputs, layers, heads, n, d, atoms_n, device):
    atoms = draw_atoms(atoms_n, d, 1.0, 1.0, seed=1)
    x0 = draw_inputs(inputs, n, d, "sphere", seed=2).to(device)
    assignment = head_atoms(seeds, layers, heads, atoms_n, seed=0)
    return atoms, x0, assignment


def ours(x0, atoms, assignment, mask="encoder"):
    counts = atom_counts(assignment, atom_count(atoms))
    return simulate(x0, atoms, counts, Dynamics(1.0, 1.0, mask, "sphere"))


def reference(x0, atoms, assignment, mask="encoder"):
    dev = x0.device
    q, k, v = atoms.q.to(dev), atoms.k.to(dev), atoms.v.to(dev)
    return naive_simulate(x0, q, k, v, assignment, 1.0, 1.0, mask, "sphere")


def check(device: torch.device) -> float:
    """Max |simulate − naive loop| over a small case, both masks; raises above 1e-12."""
    worst = 0.0
    for mask in ("encoder", "causal"):
        atoms, x0, assignment = setup(3, 2, 4, 8, 8, 3, 4, device)
        diff = ours(x0, atoms, assignment, mask) - reference(x0, atoms, assignment, mask)
        err = float(diff.abs().max())
        if not err <= 1e-12:
            raise AssertionError(f"simulate differs from the per-head loop by {err:.2e} ({mask})")
        worst = max(worst, err)
    return worst


def measure(device: torch.device, quick: bool) -> list[Row]:
    err = check(device)
    if quick:
        seeds, inputs, layers, naive_seeds, head_list, repeats = 4, 4, 16, 1, (TARGET_HEADS,), 2
    else:
        seeds, inputs, layers, naive_seeds, head_list, repeats = 16, 4, 32, 2, (4, 16, 64, 256), 2
    n, d, atoms_n = 32, 3, 8
    rows = []
    for heads in head_list:
        atoms, x0, assignment = setup(seeds, inputs, layers, heads, n, d, atoms_n, device)
        part = np.ascontiguousarray(assignment[:naive_seeds])
        t_ours, t_naive = best_times(
            [
                lambda x0=x0, atoms=atoms, assignment=assignment: ours(x0, atoms, assignment),
                lambda x0=x0, atoms=atoms, part=part: reference(x0, atoms, part),
            ],
            device,
            repeats,
        )
        t_naive *= seeds / naive_seeds
        rows.append(
            Row(
                "b. simulation vs loop",
                f"H={heads} L={layers} N={n} d={d} M={atoms_n} R={seeds} S={inputs}",
                t_ours,
                t_naive,
                "s",
                t_naive / t_ours,
                TARGET if heads == TARGET_HEADS else None,
                f"loop timed on {naive_seeds}/{seeds} seeds ×{seeds // naive_seeds}; "
                f"agree to {err:.0e}",
                {"naive_seeds": naive_seeds},
            )
        )
    return rows
