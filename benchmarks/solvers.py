"""Benchmark c: the limit solvers against torchdiffeq (ODE) and torchsde (SDE), same steps.

ODE. Ours: ``attnlimits.integrators.solve_fixed`` with ``rk4_step`` on the ``heads`` limit field
(``p1.limit.vector_field``: M = 8 atoms, sphere), as ``solve_limit`` runs it (one of its two
solves). torchdiffeq's ``odeint(method="rk4")`` is NOT the classical method: it steps with
``rk4_alt_step_func``, Kutta's 3/8 rule (stages at 1/3 and 2/3, weights 1/8, 3/8, 3/8, 1/8),
which agrees with classical RK4 only to the truncation error. torchdiffeq also ships the
classical step, ``rk4_step_func`` (stages at 1/2, weights 1/6, 1/3, 1/3, 1/6), but registers no
method name for it: we register it as ``rk4_classical`` (a ``FixedGridODESolver`` whose step is
torchdiffeq's own ``rk4_step_func``, written as torchdiffeq writes its ``RK4`` class) and call
``odeint(..., method="rk4_classical", options={"step_size": h})``. That solve must equal ours to
1e-12 before both are timed (target: ours at least as fast). The 3/8 rule is timed too, as
context (it needs the same four field evaluations per step).

SDE. The ``sde`` experiment's discrete model (``sde.discrete.simulate``) is a splitting scheme
with a projection onto the sphere after each half step; torchsde cannot express the projection.
The comparable scheme is our Euler–Maruyama for the unprojected Itô SDE
(``sde.limit.euler_maruyama``: drift P_X A(X) − ((d−1)κ(1)/2) X, diffusion P_X S(X) applied to
the N·d-dimensional Brownian increment). torchsde runs the same SDE (``noise_type="general"``,
``sde_type="ito"``, ``method="euler"``, same dt) through ``f_and_g_prod`` (the same field
evaluation as ours, no dense diffusion matrix), driven by the same increments √h·ξ_k through a
``BaseBrownian`` that returns them, precomputed like ours (torchsde's own ``BrownianInterval``
would add its tree queries to its time). Same result to 1e-12, then both timed.

    python benchmarks/run.py --only c [--quick] [--device cuda]
"""

from __future__ import annotations

import importlib
import math

import torch
import torchdiffeq
import torchsde
from common import Row, best_times, generator
from torchdiffeq._impl.misc import Perturb
from torchdiffeq._impl.rk_common import rk4_step_func
from torchdiffeq._impl.solvers import FixedGridODESolver

from attnlimits.integrators import solve_fixed
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import draw_atoms
from attnlimits.p1.limit import vector_field
from attnlimits.sde.dynamics import Attention, attention_drift
from attnlimits.sde.field import GaussianField, cosine_gram, field_values, psd_sqrt, zonal_kernel
from attnlimits.sde.limit import euler_maruyama, tangent_unit

TARGET = 1.0
TOLERANCE = 1e-12


class ClassicalRK4(FixedGridODESolver):
    """torchdiffeq's classical RK4 step (``rk4_step_func``) in its fixed-grid solver."""

    order = 4

    def _step_func(self, func, t0, dt, t1, y0):
        f0 = func(t0, y0, perturb=Perturb.NEXT if self.perturb else Perturb.NONE)
        return rk4_step_func(func, t0, dt, t1, y0, f0=f0, perturb=self.perturb), f0


# the module torchdiffeq._impl.odeint (the package re-exports the function under that name)
_ODEINT = importlib.import_module("torchdiffeq._impl.odeint")
_ODEINT.SOLVERS.setdefault("rk4_classical", ClassicalRK4)


# --------------------------------------------------------------------------- ODE


def ode_problem(n: int, mask: str, device: torch.device, inputs: int = 4, d: int = 3):
    atoms = draw_atoms(8, d, 1.0, 1.0, seed=1).to(device)
    x0 = draw_inputs(inputs, n, d, "sphere", seed=2).to(device)
    return vector_field(atoms, Dynamics(1.0, 1.0, mask, "sphere")), x0


def ours_ode(f, x0, records, substeps):
    return solve_fixed(f, x0, 1.0, records, substeps, "rk4")


def torchdiffeq_ode(f, x0, records, substeps, method="rk4_classical"):
    """torchdiffeq on the same field and step h = 1/(records·substeps), as (S, records+1, N, d)."""
    t = torch.linspace(0.0, 1.0, records + 1, dtype=x0.dtype, device=x0.device)
    h = 1.0 / (records * substeps)
    sol = torchdiffeq.odeint(lambda _t, y: f(y), x0, t, method=method, options={"step_size": h})
    return sol.transpose(0, 1)


def ode_rows(device: torch.device, quick: bool) -> list[Row]:
    # The default heads limit job: S = 4 inputs, N = 32, d = 3, M = 8, records 128 × substeps 2
    # (steps of 2^-k, so that torchdiffeq's time grid hits the record times exactly). At larger N
    # (N = 128, 64 steps) both spend all but ~0.1% of their time in the same field evaluations:
    # a tie that timing noise cannot resolve, shown as context.
    if quick:
        cases = [(32, "encoder", 32, True)]
    else:
        cases = [(32, "encoder", 128, True), (32, "causal", 128, True), (128, "encoder", 32, False)]
    substeps = 2
    rows = []
    for n, mask, records, targeted in cases:
        f, x0 = ode_problem(n, mask, device)
        mine = ours_ode(f, x0, records, substeps)
        classical = torchdiffeq_ode(f, x0, records, substeps)
        err = float((mine - classical).abs().max())
        if not err <= TOLERANCE:
            raise AssertionError(f"torchdiffeq classical RK4 differs from ours by {err:.2e}")
        fns = [
            lambda f=f, x0=x0, r=records: ours_ode(f, x0, r, substeps),
            lambda f=f, x0=x0, r=records: torchdiffeq_ode(f, x0, r, substeps),
        ]
        alt = targeted and mask == "encoder"  # the 3/8 rule once, as context
        if alt:
            err38 = float((mine - torchdiffeq_ode(f, x0, records, substeps, "rk4")).abs().max())
            fns.append(lambda f=f, x0=x0, r=records: torchdiffeq_ode(f, x0, r, substeps, "rk4"))
        times = best_times(fns, device, 3 if quick else 5, min_time=0.3 if quick else 1.0)
        t_ours, t_td = times[:2]
        case = f"N={n} d=3 M=8 S=4 {mask}, {records * substeps} steps"
        note = f"max diff {err:.0e}; torchdiffeq's rk4_step_func"
        if not targeted:
            note = "context: field-bound, same f calls, difference below timing noise; " + note
        rows.append(
            Row("c. ODE vs torchdiffeq", f"{case}, classical RK4", t_ours, t_td, "s", t_td / t_ours,
                TARGET if targeted else None, note, {"max_abs_diff": err})
        )  # fmt: skip
        if alt:
            rows.append(
                Row("c. ODE vs torchdiffeq", f"{case}, rk4 (3/8 rule)", t_ours, times[2], "s",
                    times[2] / t_ours, None,
                    f"context: torchdiffeq's method='rk4' is the 3/8 rule, differs by {err38:.0e}",
                    {"max_abs_diff": err38})
            )  # fmt: skip
    return rows


# --------------------------------------------------------------------------- SDE


class Increments(torchsde.BaseBrownian):
    """Brownian increments W(t_{k+1}) − W(t_k) = ``dw[k]`` (R, N·d) on the grid t_k = k·h."""

    def __init__(self, dw: torch.Tensor, h: float):
        self.dw, self.h = dw, h

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        k = int(round(float(ta) / self.h))
        if tb is not None and abs(float(tb) - float(ta) - self.h) > 1e-9 * self.h:
            raise ValueError(f"increment over [{float(ta)}, {float(tb)}] is not one step")
        return self.dw[k]

    def __repr__(self):
        return f"Increments(steps={self.dw.shape[0]}, h={self.h})"

    @property
    def dtype(self):
        return self.dw.dtype

    @property
    def device(self):
        return self.dw.device

    @property
    def shape(self):
        return self.dw.shape[1:]

    @property
    def levy_area_approximation(self):
        return "none"


class SphereSDE(torch.nn.Module):
    """The unprojected Itô SDE of ``euler_maruyama`` for torchsde, states flattened (R, N·d)."""

    noise_type = "general"
    sde_type = "ito"

    def __init__(self, attn: Attention, field: GaussianField, shape: tuple[int, ...]):
        super().__init__()
        self.attn, self.field, self.shape = attn, field, shape
        self.c = 0.5 * (shape[-1] - 1) * field.kappa.kappa_1

    def f_and_g_prod(self, t, y, v):
        x = y.view(self.shape)
        s = psd_sqrt(self.field.kappa(cosine_gram(x)))
        noise = tangent_unit(x, field_values(s, v.view(self.shape)))
        drift = tangent_unit(x, attention_drift(x, self.attn)) - self.c * x
        return drift.reshape(y.shape), noise.reshape(y.shape)


def sde_problem(reps: int, n: int, d: int, steps: int, device: torch.device):
    # a default sde row: relu, d = 5, sigma_U = sigma_W = 0.1, Q = K = V = I, beta = 1, attractive
    attn = Attention.identity(d, 1.0, 1.0, device)
    field = GaussianField(zonal_kernel("relu", d, 0.1, 0.1))
    x0 = torch.randn(reps, n, d, generator=generator(7), dtype=torch.float64)
    x0 = (x0 / torch.linalg.vector_norm(x0, dim=-1, keepdim=True)).to(device)
    xi = torch.randn(reps, steps, n, d, generator=generator(8), dtype=torch.float64).to(device)
    return attn, field, x0, xi


def torchsde_em(attn, field, x0, dw, steps):
    h = 1.0 / steps
    sde = SphereSDE(attn, field, tuple(x0.shape))
    ts = torch.linspace(0.0, 1.0, steps + 1, dtype=x0.dtype, device=x0.device)
    ys = torchsde.sdeint(
        sde, x0.reshape(x0.shape[0], -1), ts, bm=Increments(dw, h), method="euler", dt=h
    )
    return ys.transpose(0, 1).reshape(x0.shape[0], steps + 1, *x0.shape[1:])


def sde_rows(device: torch.device, quick: bool) -> list[Row]:
    reps, n, d = (8, 16, 5) if quick else (32, 16, 5)
    steps = 64 if quick else 256  # a power of 2: torchsde's accumulated time hits the grid
    attn, field, x0, xi = sde_problem(reps, n, d, steps, device)
    dw = (math.sqrt(1.0 / steps) * xi).transpose(0, 1).reshape(steps, reps, n * d).contiguous()
    mine = euler_maruyama(x0, attn, 1.0, field, xi)
    theirs = torchsde_em(attn, field, x0, dw, steps)
    err = float((mine - theirs).abs().max())
    if not err <= TOLERANCE:
        raise AssertionError(f"torchsde Euler-Maruyama differs from ours by {err:.2e}")
    t_ours, t_sde = best_times(
        [
            lambda: euler_maruyama(x0, attn, 1.0, field, xi),
            lambda: torchsde_em(attn, field, x0, dw, steps),
        ],
        device,
        3 if quick else 5,
        min_time=0.3 if quick else 1.0,
    )
    return [
        Row("c. SDE vs torchsde", f"Euler-Maruyama R={reps} N={n} d={d} relu, {steps} steps",
            t_ours, t_sde, "s", t_sde / t_ours, TARGET,
            f"max diff {err:.0e}; unprojected Itô EM (the projected splitting is not "
            "expressible in torchsde)", {"max_abs_diff": err})
    ]  # fmt: skip


def measure(device: torch.device, quick: bool) -> list[Row]:
    return ode_rows(device, quick) + sde_rows(device, quick)
