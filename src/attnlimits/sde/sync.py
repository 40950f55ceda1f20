"""Synchronization by noise (docs/mathematics.md, ``sde``): interaction energy, Lyapunov exponent.

- Interaction energy ``E_β(μ) = ½ ∬ (e^β − e^{β⟨x,y⟩}) dμ(x) dμ(y)`` ≥ 0, zero only for a single
  cluster; near collapse E[E_β(μ_t)] decays at the coercivity rate λ̄ (P2's bound on that rate,
  λ̄′, is ``exponents.energy_rate_bound``).
- Pathwise Lyapunov exponent of the pure-noise flow: two tokens started at distance ε and
  renormalised back to ε after every layer; the mean of log(r/ε) per unit time is the top
  Lyapunov exponent of the two-point motion, predicted λ₁ = ((d−3)/2) κ′(1) − ((d−1)/2) κ(1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnlimits.geometry import project, tangent
from attnlimits.sde.discrete import layer_step
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import NoiseField
from attnlimits.seeding import normal


def interaction_energy(x: torch.Tensor, beta: float) -> torch.Tensor:
    """e^{−β} E_β(μ_X) = (1/(2N²)) Σ_{i,j} (1 − e^{β(⟨xⁱ,xʲ⟩ − 1)}) for unit tokens (..., N, d).

    Scaled by e^{−β} so that it stays finite for any β (rates are unchanged). On the sphere
    ⟨xⁱ,xʲ⟩ − 1 = −|xⁱ − xʲ|²/2, computed from the differences and passed to expm1, so the energy
    stays accurate (and exactly zero for one cluster) when tokens are within 1e-8 of each other.
    """
    gap2 = (x.unsqueeze(-2) - x.unsqueeze(-3)).square_().sum(-1)
    return -torch.expm1(-0.5 * beta * gap2).mean((-1, -2)) / 2.0


@dataclass(frozen=True)
class TwoPointRun:
    """log(r′/ε) of every renormalised layer of every path, (paths, steps), and the step Δ.

    By the isotropy of the field these ratios are i.i.d. over layers (their law depends on
    the pair only through r = ε), which both estimators below use.
    """

    log_ratios: torch.Tensor
    dt: float

    def lyapunov(self) -> tuple[float, float]:
        """Top Lyapunov exponent (pathwise rate of log r), mean over paths ± standard error;
        predicted λ₁."""
        per_path = self.log_ratios.sum(1) / (self.log_ratios.shape[1] * self.dt)
        return float(per_path.mean()), float(per_path.std() / math.sqrt(per_path.numel()))

    def second_moment_rate(self) -> tuple[float, float]:
        """Rate of E[r_t²] = (1/Δ) log E[(r′/ε)²] (the ratios are i.i.d.), ± standard error by
        the delta method. Near collapse E_β ∝ r², so this is the decay rate of E[E_β]; predicted
        λ̄."""
        sq = torch.exp(2.0 * self.log_ratios).flatten()
        mean, se = float(sq.mean()), float(sq.std() / math.sqrt(sq.numel()))
        return math.log(mean) / self.dt, se / mean / self.dt


def two_point_noise(
    x: torch.Tensor, y: torch.Tensor, kappa_1: float, kappa_prime_1: float, xi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(G(x), G(y)) for two nearby tokens from standard normals ``xi`` (..., 2, d).

    Their covariance is [[κ(1), κ(u)], [κ(u), κ(1)]] ⊗ I_d, u = ⟨x, y⟩, with square root
    ½[[√(2κ(1)−δ) + √δ, √(2κ(1)−δ) − √δ], [·, ·]] in the basis (x+y, x−y); δ = κ(1) − κ(u) is
    taken as κ′(1)(1 − u), 1 − u = |x − y|²/2, which holds to relative O(|x − y|²) and avoids
    the cancellation of κ(1) − κ(u) near u = 1.
    """
    delta = kappa_prime_1 * (x - y).square().sum(-1, keepdim=True) / 2.0
    plus = torch.sqrt(2.0 * kappa_1 - delta) * (xi[..., 0, :] + xi[..., 1, :]) / math.sqrt(2.0)
    minus = torch.sqrt(delta) * (xi[..., 0, :] - xi[..., 1, :]) / math.sqrt(2.0)
    return (plus + minus) / math.sqrt(2.0), (plus - minus) / math.sqrt(2.0)


def two_point_run(
    d: int,
    kappa_1: float,
    kappa_prime_1: float,
    dt: float,
    steps: int,
    paths: int,
    seed: int,
    eps: float = 1e-4,
    device: str | torch.device = "cpu",
    coarsen: int = 1,
) -> TwoPointRun:
    """Two nearby tokens under the pure-noise layer map X ↦ Π(X + sqrt(Δ) G(X)), Δ = ``dt``.

    Each path starts from a uniform token x and y = Π(x + ε v), v a unit tangent vector; after
    every layer log(|y′ − x′|/ε) is recorded and y′ is put back at distance ε from x′ along
    y′ − x′. The estimators of :class:`TwoPointRun` tend to λ₁ and λ̄ as Δ → 0 and ε → 0.

    With ``coarsen`` = c > 1 the run takes ⌊steps/c⌋ layers of step cΔ from the same start, layer
    j driven by (ξ_{cj} + … + ξ_{cj+c−1})/√c, the normalised sum of the normals of the Δ-run's
    layers cj, …, cj + c − 1: both runs see the same Brownian increments, so the difference of
    their estimators measures the finite-step bias (Richardson: 2·v(Δ) − v(2Δ) for c = 2).
    ``two_point_runs`` runs several coarsenings on one draw of the normals.
    """
    return two_point_runs(
        d, kappa_1, kappa_prime_1, dt, steps, paths, seed, eps, device, (coarsen,)
    )[0]


def two_point_runs(
    d: int,
    kappa_1: float,
    kappa_prime_1: float,
    dt: float,
    steps: int,
    paths: int,
    seed: int,
    eps: float = 1e-4,
    device: str | torch.device = "cpu",
    coarsens: Sequence[int] = (1,),
) -> list[TwoPointRun]:
    """``two_point_run`` for each coarsening in ``coarsens``, the normals drawn once for all.

    Every run does the operations of ``two_point_noise`` and of the layer map in the same order
    on the same numbers, so its values are those of a run alone (bit for bit: x and y step as one
    (2, paths, d) tensor, plus − minus is formed as plus + (−minus), exactly the same; every
    (paths, d) result is written into a work buffer, no allocation per layer). The ratios r′/ε
    are stored and their logarithm taken once at the end, elementwise.
    """
    chunk = 256  # fine layers per draw of normals: fixes the streams, so a multiple of coarsen
    for c in coarsens:
        if c < 1:
            raise ValueError(f"coarsen must be a positive integer, got {c}")
        if chunk % c:
            raise ValueError(f"coarsen must divide {chunk}, got {c}")
    x = project(normal((paths, d), seed, "sde.lyapunov.x", d).to(device), "sphere")
    v = tangent(x, normal((paths, d), seed, "sde.lyapunov.v", d).to(device), "sphere")
    y = project(x + eps * v / torch.linalg.vector_norm(v, dim=-1, keepdim=True), "sphere")
    root2 = math.sqrt(2.0)
    states = [torch.stack([x, y]) for _ in coarsens]
    ratios = [
        torch.empty((paths, steps // c), dtype=torch.float64, device=device) for c in coarsens
    ]
    # work buffers: every (paths, d) operation of a layer writes into one of these (no allocation)
    g = torch.empty((2, paths, d), dtype=torch.float64, device=device)
    tmp, sums = (torch.empty((paths, d), dtype=torch.float64, device=device) for _ in "ab")
    xi_c = torch.empty((paths, 2, d), dtype=torch.float64, device=device)
    for start in range(0, steps, chunk):
        fine = normal((min(chunk, steps - start), paths, 2, d), seed, "sde.lyapunov.xi", d, start)
        fine = fine.to(device)
        for run, c in enumerate(coarsens):
            xy, out, sqrt_dt = states[run], ratios[run], math.sqrt(c * dt)
            for k in range(fine.shape[0] // c):
                if c > 1:  # (ξ_{ck} + … + ξ_{ck+c−1})/√c, as the sum over a block's axis
                    xi = torch.sum(fine[c * k : c * k + c], 0, out=xi_c).div_(math.sqrt(c))
                else:
                    xi = fine[k]
                # two_point_noise(x, y, κ(1), κ′(1), ξ), then x, y ← Π(· + sqrt(Δ) G)
                torch.sub(xy[0], xy[1], out=tmp)
                delta = kappa_prime_1 * tmp.square_().sum(-1, keepdim=True) / 2.0
                torch.add(xi[:, 0], xi[:, 1], out=sums)
                plus = torch.mul(torch.sqrt(2.0 * kappa_1 - delta), sums, out=tmp).div_(root2)
                torch.sub(xi[:, 0], xi[:, 1], out=sums)
                torch.mul(torch.sqrt(delta), sums, out=g[0]).div_(root2)
                torch.neg(g[0], out=g[1])  # plus − minus = plus + (−minus) exactly
                g.add_(plus).div_(root2).mul_(sqrt_dt)
                xy.add_(g)
                xy.div_(torch.linalg.vector_norm(xy, dim=-1, keepdim=True))
                # log(r′/ε), then y ← Π(x + ε (y − x)/r′)
                gap = torch.sub(xy[1], xy[0], out=tmp)
                r = torch.linalg.vector_norm(gap, dim=-1, keepdim=True)
                out[:, start // c + k] = r[:, 0] / eps
                gap.mul_(eps).div_(r).add_(xy[0])
                torch.div(gap, torch.linalg.vector_norm(gap, dim=-1, keepdim=True), out=xy[1])
    return [TwoPointRun(torch.log(out), c * dt) for out, c in zip(ratios, coarsens, strict=True)]


@dataclass(frozen=True)
class EnergyCurve:
    """e^{−β} E_β(μ_t) of every path at the layer times ``t`` (paths, times); ``snapshots`` the
    tokens of the first paths at the requested layers (snapshot, paths, N, d), if any."""

    t: np.ndarray
    energy: np.ndarray
    snapshots: torch.Tensor | None = None

    def mean(self) -> np.ndarray:
        return self.energy.mean(0)

    def replicates(self, weights: np.ndarray) -> np.ndarray:
        """Mean energy for each row of path weights (B+1, paths): (B+1, times)."""
        return weights @ self.energy


def energy_curve(
    x0: torch.Tensor,
    attn: Attention,
    field: NoiseField,
    dt: float,
    layers: int,
    seed: int,
    record_every: int = 1,
    snapshot_layers: Sequence[int] = (),
    snapshot_paths: int = 0,
) -> EnergyCurve:
    """Run the discrete model for ``layers`` layers of step Δ = ``dt`` from ``x0`` (paths, N, d)
    and record the interaction energy of every path every ``record_every`` layers.

    Layer ℓ (``discrete.layer_step``, the layer of ``simulate``) takes its normals from the
    stream (seed, "sde.sync", N, d, ℓ), drawn one layer at a time, so memory does not grow with
    the horizon. The tokens of the first ``snapshot_paths`` paths at the layers
    ``snapshot_layers`` (each in 0..layers) are kept as ``snapshots``: every operation of a layer
    acts on each path alone, so they equal a separate run of those paths on the same normals, bit
    for bit.
    """
    paths, n, d = x0.shape
    x = x0.to(torch.float64)
    times, energies = [0.0], [interaction_energy(x, attn.beta).cpu()]
    snap = {int(k): None for k in snapshot_layers}
    if 0 in snap:
        snap[0] = x0[:snapshot_paths].clone()
    root = math.sqrt(dt)
    for layer in range(layers):
        xi = normal((paths, n, d), seed, "sde.sync", n, d, layer).to(x.device)
        x = layer_step(x, attn, dt, root, field, layer, xi)
        if (layer + 1) % record_every == 0:
            times.append((layer + 1) * dt)
            energies.append(interaction_energy(x, attn.beta).cpu())
        if layer + 1 in snap:
            snap[layer + 1] = x[:snapshot_paths].clone()
    snapshots = None
    if snap:
        if any(v is None for v in snap.values()):
            raise ValueError(f"snapshot layers {sorted(snap)} outside 0..{layers}")
        snapshots = torch.stack([snap[int(k)] for k in snapshot_layers])
    return EnergyCurve(np.asarray(times), torch.stack(energies, 1).numpy(), snapshots)
