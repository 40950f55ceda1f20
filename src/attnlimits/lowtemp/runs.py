"""What a ``lowtemp`` job computes (docs/mathematics.md, ``lowtemp``): the hardmax flow and the
finite-β flows of one initial measure, and their distances over a (β, t) grid.

A spec (plain data) gives the variant (``plain``: ẋ = V m_β[μ_t](x), measured in z = e^{−tV} x;
``consensus``: ẋ = V m_β[μ_t](x) − x, measured in x), the initial measure (``measure``: kind,
size, d; ``lowtemp.measures``), the head (``head``; ``make_head``), the βs, the horizon, the
record times and the RK4 substeps.

``run`` stores, per (β, t),

- ``w2_hardmax``: W2(μ^β_t, μ^∞_t), exact (``transport.w2_squared``) when N ≤ ``exact_max``, else
  NaN;
- ``coupling_hardmax``: (Σ_i w_i |z_i^β − z_i^∞|²)^(1/2), the cost of the coupling that pairs each
  particle with itself, an upper bound of W2 for every N;
- ``w2_target``: W2(μ^β_t, T#μ₀) to the push-forward of μ₀ under the variant's projection map
  (``flow.pushforward``);

and the variables of ``run_terminal``, which solves the hardmax flow alone: per t
``hardmax_w2_target`` = W2(μ^∞_t, T#μ₀), the particles of every flow at every record time (for
pictures and for the long-time phase), T#μ₀, the weights and Q, K, V. Before any flow, ``run``
refuses a spec outside the mean-field regime N ≥ factor β^(k/2) (``measures.regime_problems``)
unless ``regime.allow_outside`` is set; the βs outside are then named in the attribute
``outside_regime``. ``run_terminal`` has no β, and no regime to check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.head import Head
from attnlimits.lowtemp.flow import pushforward, rescale, solve
from attnlimits.lowtemp.heads import make_head
from attnlimits.lowtemp.measures import initial_measure, regime_problems
from attnlimits.storage import variable as _var
from attnlimits.transport import w2_squared

Progress = Callable[[int, int], None]


def _measured(x: torch.Tensor, times: torch.Tensor, head: Head, variant: str) -> torch.Tensor:
    return rescale(x, times, head.v) if variant == "plain" else x


def _merged(points: torch.Tensor, w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The distinct points of Σ_j w_j δ_{points_j} and their summed weights: the same measure
    on fewer points. T#μ₀ sits on the few leaders of μ₀ (at most the extreme points of its
    support), so its W2 problems shrink from N × N to N × (leaders)."""
    p = points.detach().cpu().numpy()
    unique, inverse = np.unique(p, axis=0, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=w.detach().cpu().numpy(), minlength=len(unique))
    return unique, weights


class _Distances:
    """W2 between the measured particles (weights w) and a fixed measure, memoised on the exact
    bytes of the particles: the flows all start at μ₀, so the distances at t = 0 repeat."""

    def __init__(self, points, weights, w: torch.Tensor) -> None:
        self.points, self.weights = points, weights
        self.w = w.detach().cpu().numpy()
        self.seen: dict[bytes, float] = {}

    def __call__(self, particles: torch.Tensor) -> float:
        a = np.ascontiguousarray(particles.detach().cpu().numpy())
        key = a.tobytes()
        if key not in self.seen:
            self.seen[key] = math.sqrt(w2_squared(a, self.points, self.w, self.weights))
        return self.seen[key]


def _start(
    spec: Mapping[str, Any], device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, Head, torch.Tensor]:
    """μ₀'s particles and weights, the head and the record times of ``spec``, on ``device``.

    Everything is built on the CPU (the same numbers whatever the device) and then moved.
    """
    m = spec["measure"]
    y, w = (torch.as_tensor(a).to(device) for a in initial_measure(m["kind"], m["size"], m["d"]))
    head = make_head(spec["head"], m["d"]).to(device)
    times = torch.linspace(0.0, spec["horizon"], spec["records"] + 1, dtype=torch.float64)
    return y, w, head, times.to(device)


def _regime(spec: Mapping[str, Any], particles: int, betas: list[float]) -> list[str]:
    """The regime check of the module docstring: raises, or returns the βs outside if allowed."""
    problems = regime_problems(particles, spec["measure"]["d"], betas, spec["regime"]["factor"])
    if problems and not spec["regime"]["allow_outside"]:
        raise ValueError("outside the mean-field regime: " + "; ".join(problems))
    return problems


def _flow(spec: Mapping[str, Any], y, w, head: Head, times, beta: float) -> torch.Tensor:
    """The particles of the β flow at the record times, in the measured variable."""
    variant = spec["variant"]
    x = solve(y, w, head, beta, variant, spec["horizon"], spec["records"], spec["substeps"])
    return _measured(x, times, head, variant)


def _where(variant: str) -> str:
    return "z = exp(-tV) x" if variant == "plain" else "x"


def _hardmax(spec: Mapping[str, Any], y, w, head: Head, times):
    """The hardmax flow's part of the store, with its particles, T#μ₀ and the W2 to T#μ₀."""
    hard = _flow(spec, y, w, head, times, math.inf)
    target = pushforward(y, w, head, spec["variant"])
    to_target = _Distances(*_merged(target, w), w)
    where = _where(spec["variant"])
    matrix = ("row", "column")
    ds = xr.Dataset(
        {
            "hardmax_w2_target": _var(
                [to_target(h) for h in hard], ("time",), "W2 of the hardmax flow to T#mu0"
            ),
            "hardmax_particles": _var(
                hard, ("time", "particle", "component"), f"hardmax flow, {where}"
            ),
            "target": _var(target, ("particle", "component"), "push-forward T#mu0 (its particles)"),
            "weights": _var(w, ("particle",), "quadrature weights of mu0"),
            "head_q": _var(head.q, matrix, "Q"),
            "head_k": _var(head.k, matrix, "K"),
            "head_v": _var(head.v, matrix, "V"),
        },
        coords={"time": times.cpu().numpy()},
        attrs={"particle_count": len(y)},
    )
    return ds, hard, target, to_target


def run_terminal(spec: Mapping[str, Any], device: torch.device | str = "cpu") -> xr.Dataset:
    """The hardmax flow of ``spec`` against the push-forward T#μ₀ (module docstring)."""
    return _hardmax(spec, *_start(spec, device))[0]


def run(
    spec: Mapping[str, Any],
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
) -> xr.Dataset:
    """The store of the module docstring for one spec; the flows run on ``device``."""
    betas = [float(b) for b in spec["betas"]]
    y, w, head, times = _start(spec, device)
    problems = _regime(spec, len(y), betas)
    base, hard, _, to_target = _hardmax(spec, y, w, head, times)
    exact = len(y) <= spec["exact_max"]
    shape = (len(betas), len(times))
    w2_hard, coupling, w2_target = np.full(shape, np.nan), np.empty(shape), np.empty(shape)
    paths = torch.empty((len(betas), len(times), *y.shape), dtype=torch.float64, device=y.device)
    to_hard = [_Distances(h.cpu().numpy(), w.cpu().numpy(), w) for h in hard]
    for b, beta in enumerate(betas):
        paths[b] = _flow(spec, y, w, head, times, beta)
        for i in range(len(times)):
            if exact:
                w2_hard[b, i] = to_hard[i](paths[b, i])
            coupling[b, i] = math.sqrt(float(w @ (paths[b, i] - hard[i]).square().sum(-1)))
            w2_target[b, i] = to_target(paths[b, i])
        if progress is not None:
            progress(b + 1, len(betas))
    where = _where(spec["variant"])
    ds = base.assign(
        w2_hardmax=_var(w2_hard, ("beta", "time"), "W2 between the beta and hardmax flows"),
        coupling_hardmax=_var(coupling, ("beta", "time"), "identity-coupling bound of that W2"),
        w2_target=_var(w2_target, ("beta", "time"), "W2 of the beta flow to T#mu0"),
        particles=_var(paths, ("beta", "time", "particle", "component"), f"beta flow, {where}"),
    )
    ds = ds.assign_coords(beta=betas)
    ds.attrs.update(exact_w2=int(exact), outside_regime="; ".join(problems))
    return ds
