"""What a ``lowtemp`` job computes (MODELS.md, ``lowtemp``): the hardmax flow and the finite-β
flows of one initial measure, and their distances over a (β, t) grid.

A spec (plain data) gives the variant (``plain``: ẋ = V m_β[μ_t](x), measured in z = e^{−tV} x;
``consensus``: ẋ = V m_β[μ_t](x) − x, measured in x), the initial measure (``measure``: kind,
size, d; ``lowtemp.measures``), the head (``head``: ``identity`` or ``random``: Q = I + s A,
K = I + s B, V = I + s C with Gaussian A, B, C from the stream ``(seed, "lowtemp-head", d)``;
QᵀK must be positive definite), the βs, the horizon, the record times and the RK4 substeps.

Per (β, t) the store holds

- ``w2_hardmax``: W2(μ^β_t, μ^∞_t), exact (``transport.w2_squared``) when N ≤ ``exact_max``, else
  NaN;
- ``coupling_hardmax``: (Σ_i w_i |z_i^β − z_i^∞|²)^(1/2), the cost of the coupling that pairs each
  particle with itself, an upper bound of W2 for every N;
- ``w2_target``: W2(μ^β_t, T#μ₀) to the push-forward of μ₀ under the hardmax map
  (``flow.pushforward``);

and per t ``hardmax_w2_target`` = W2(μ^∞_t, T#μ₀), and the particles of every flow at every record
time (for pictures). The mean-field regime needs N ≫ β^(k/2), k = d the dimension of supp μ₀
(MODELS.md): ``regime_problems`` names the βs that break N ≥ ``factor`` β^(k/2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.lowtemp.flow import Head, pushforward, rescale, solve
from attnlimits.lowtemp.measures import initial_measure
from attnlimits.seeding import normal
from attnlimits.storage import variable as _var
from attnlimits.transport import w2_squared

Progress = Callable[[int, int], None]


def make_head(head: Mapping[str, Any], d: int) -> Head:
    """The head of a spec (module docstring); raises if QᵀK is not positive definite."""
    eye = torch.eye(d, dtype=torch.float64)
    if head["kind"] == "identity":
        out = Head.identity(d)
    elif head["kind"] == "random":
        a = normal((3, d, d), head["seed"], "lowtemp-head", d)
        s = float(head["scale"])
        out = Head(eye + s * a[0], eye + s * a[1], eye + s * a[2])
    else:
        raise ValueError(f"unknown head kind {head['kind']!r}: expected 'identity' or 'random'")
    sym = 0.5 * (out.qk + out.qk.T)
    if torch.linalg.eigvalsh(sym).min() <= 0:
        raise ValueError("QᵀK is not positive definite: lower head.scale or change head.seed")
    return out


def regime_problems(particles: int, k: int, betas: list[float], factor: float) -> list[str]:
    """The βs outside the mean-field regime N ≥ factor · β^(k/2), one message each."""
    return [
        f"beta={beta:g} needs N >= {factor:g} * beta^(k/2) = {factor * beta ** (k / 2):.0f} "
        f"particles (k={k}), the measure has N={particles}"
        for beta in betas
        if particles < factor * beta ** (k / 2)
    ]


def _measured(x: torch.Tensor, times: torch.Tensor, head: Head, variant: str) -> torch.Tensor:
    return rescale(x, times, head.v) if variant == "plain" else x


def _w2(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> float:
    return math.sqrt(w2_squared(a, b, w, w))


def run(spec: Mapping[str, Any], progress: Progress | None = None) -> xr.Dataset:
    """The store of the module docstring for one spec."""
    m = spec["measure"]
    y, w = initial_measure(m["kind"], m["size"], m["d"])
    head = make_head(spec["head"], m["d"])
    betas = [float(b) for b in spec["betas"]]
    problems = regime_problems(len(y), m["d"], betas, spec["regime"]["factor"])
    if problems and not spec["regime"]["allow_outside"]:
        raise ValueError("outside the mean-field regime: " + "; ".join(problems))
    horizon, records, substeps = spec["horizon"], spec["records"], spec["substeps"]
    times = torch.linspace(0.0, horizon, records + 1, dtype=torch.float64)
    variant = spec["variant"]

    def flow(beta: float) -> torch.Tensor:
        x = solve(y, w, head, beta, variant, horizon, records, substeps)
        return _measured(x, times, head, variant)

    hard = flow(math.inf)
    target = pushforward(y, w, head)
    exact = len(y) <= spec["exact_max"]
    shape = (len(betas), records + 1)
    w2_hard, coupling, w2_target = np.full(shape, np.nan), np.empty(shape), np.empty(shape)
    paths = torch.empty((len(betas), records + 1, *y.shape), dtype=torch.float64)
    for b, beta in enumerate(betas):
        paths[b] = flow(beta)
        for i in range(records + 1):
            if exact:
                w2_hard[b, i] = _w2(paths[b, i], hard[i], w)
            coupling[b, i] = math.sqrt(float(w @ (paths[b, i] - hard[i]).square().sum(-1)))
            w2_target[b, i] = _w2(paths[b, i], target, w)
        if progress is not None:
            progress(b + 1, len(betas))
    hard_target = [_w2(hard[i], target, w) for i in range(records + 1)]
    where = "z = exp(-tV) x" if variant == "plain" else "x"
    return xr.Dataset(
        {
            "w2_hardmax": _var(w2_hard, ("beta", "time"), "W2 between the beta and hardmax flows"),
            "coupling_hardmax": _var(
                coupling, ("beta", "time"), "identity-coupling bound of that W2"
            ),
            "w2_target": _var(w2_target, ("beta", "time"), "W2 of the beta flow to T#mu0"),
            "hardmax_w2_target": _var(hard_target, ("time",), "W2 of the hardmax flow to T#mu0"),
            "particles": _var(
                paths, ("beta", "time", "particle", "component"), f"beta flow, {where}"
            ),
            "hardmax_particles": _var(
                hard, ("time", "particle", "component"), f"hardmax flow, {where}"
            ),
            "target": _var(target, ("particle", "component"), "push-forward T#mu0 (its particles)"),
            "weights": _var(w, ("particle",), "quadrature weights of mu0"),
        },
        coords={"beta": betas, "time": times.numpy()},
        attrs={"outside_regime": "; ".join(problems), "exact_w2": int(exact)},
    )
