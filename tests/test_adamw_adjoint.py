"""Experiment ``adamw``: the limit's adjoint against finite differences of the continuous loss.

Checked equations (docs/mathematics.md, experiment ``adamw``, at initialisation, where every
θ_r(t) = θ⁽ʳ⁾ so the forward ODE is autonomous):

    forward  ``ẋⁱ = P(xⁱ) b(x)ⁱ``, ``b(x)ⁱ = (1/M) Σ_r A_{θ⁽ʳ⁾}(x)ⁱ``,
    adjoint  ``ṗⁱ = −Σ_j (∂_{xⁱ}[P(xʲ) b(x)ʲ])ᵀ pʲ``,  ``pⁱ(T) = Rᵀ(R xⁱ(T) − yⁱ)``.

The adjoint is the gradient of the loss of the flow: p(t) = S N ∂J/∂x(t) with
J = (1/S)(1/N) Σ ½ |R x(T) − y|² and x(T) = Φ_{T−t}(x(t)). The reference is therefore computed
without any adjoint: x(t_k) at t_k = kT/4 by RK4 (renormalised onto the sphere after each step,
``RK4_STEPS`` steps over [0, T]), then J(Φ_{T−t_k}(Π(x(t_k) ± h e))) by RK4 for every coordinate
direction e, central differences with h = 1e-5, times S N.

What is compared. On the sphere the flow only sees tangent perturbations: the central difference of
J∘Π at |x| = 1 is P(x)∇J, the tangent part of p, and the normal part of the ambient adjoint of
docs/mathematics.md depends on how P(x) is extended off the sphere. So for t_k < T the tangent parts
P(x(t_k)) P_j and P(x(t_k)) FD are compared. At t = T there is no flow left and the loss is an
ambient function of x(T): there the full (ambient) P_n = Rᵀ(R X_n − y) is compared with the ambient
central difference of J at x(T) (no projection).

The limit's P_j (``forward_backward`` with ``limit_start``, explicit Euler with projection on n
steps, j = k n/4) is the *exact* gradient of the Euler-discretised loss, i.e. the exact adjoint
of the Euler scheme: P_j = (DΠ · (I + Δ Db(X_j)))ᵀ P_{j+1}, a first-order consistent step of the
adjoint ODE, taken along Euler states X_j = x(t_j) + O(Δ) and started from
P_n = Rᵀ(R X_n − y) = p(T) + O(Δ); its normal part is O(Δ) (DΠ = P(X_j) + O(Δ)). Every one of
these errors is O(Δ) and they accumulate over n = T/Δ steps of a stable recursion into a global
O(Δ) gap to p(t_j): the gap must halve when n doubles. Its leading term is C Δ with a smooth C,
so Richardson extrapolation 2 P^(2n) − P^(n) must leave an O(Δ²) gap (a quarter per doubling).

Units: relative gap = max over times t_k of max|P − FD| / max|FD| (max over inputs, tokens and
coordinates at that time).
"""

import time
from itertools import pairwise

import pytest
import torch
from adamw_specs import ATOMS, BETA, T, make_task

from attnlimits.adamw.model import forward_backward
from attnlimits.adamw.params import limit_start
from attnlimits.adamw.task import loss
from attnlimits.geometry import project, tangent
from attnlimits.integrators import rk4_step
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.limit import vector_field

# The numerical core's setting (tests/adamw_specs.py), encoder mask, tokens on the sphere.
MASK, NORM = "encoder", "sphere"
DYNAMICS = Dynamics(T, BETA, MASK, NORM)
QUARTERS = 4  # reference times t_k = k T / 4, k = 0..4
RK4_STEPS = 512  # RK4 steps over [0, T] for the reference
FD_H = 1e-5
GRIDS = (32, 64, 128)
# Gap of the Euler adjoint at the finest grid, as a bound C/n: measured 0.76/n (5.9e-3 at n = 128).
FIRST_ORDER_CONSTANT = 1.0


FIELD = vector_field(ATOMS, DYNAMICS)  # x ↦ P(x) (1/M) Σ_r A_{θ⁽ʳ⁾}(x)


def flow(x: torch.Tensor, duration: float, steps: int) -> torch.Tensor:
    """Φ_duration(x) for tokens (..., N, d): ``steps`` RK4 steps, renormalised after each."""
    for _ in range(steps):
        x = project(rk4_step(FIELD, x, duration / steps), NORM)
    return x


def reference(task, rk4_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x(t_k) and S N × the central differences of J at x(t_k), both (S, QUARTERS+1, N, d).

    For t_k < T the perturbed states Π(x ± h e) stay on the sphere (tangent part of the gradient);
    at t_k = T the perturbation is ambient and no flow is run.
    """
    s, tokens, d = task.x0.shape
    per = rk4_steps // QUARTERS
    xs = [task.x0]
    for _ in range(QUARTERS):
        xs.append(flow(xs[-1], T / QUARTERS, per))
    # every coordinate direction e at once, as a leading batch axis (inputs are independent)
    eye = torch.eye(s * tokens * d, dtype=task.x0.dtype).reshape(-1, s, tokens, d)
    fds = []
    for k, x in enumerate(xs):
        left = QUARTERS - k
        starts = torch.cat([x + FD_H * eye, x - FD_H * eye])
        if left:
            starts = project(starts, NORM)
        j = loss(flow(starts, T * left / QUARTERS, per * left), task.readout, task.targets)
        fds.append((j[: len(eye)] - j[len(eye) :]).reshape(s, tokens, d) / (2 * FD_H))
    return torch.stack(xs, 1), s * tokens * torch.stack(fds, 1)


def compared(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The compared part: tangent at x for t_k < T, ambient at t_k = T (last time index)."""
    out = tangent(x, v, NORM)
    out[:, -1] = v[:, -1]
    return out


def relative_gap(
    x: torch.Tensor, p: torch.Tensor, fd: torch.Tensor, times: slice = slice(None)
) -> float:
    """max over ``times`` of max|P − FD| / max|FD| on the compared parts, (S, QUARTERS+1, N, d)."""
    a, b = compared(x, p), compared(x, fd)
    dims = (0, 2, 3)
    per_time = torch.amax(torch.abs(a - b), dims) / torch.amax(torch.abs(b), dims)
    return torch.max(per_time[times]).item()


def limit_adjoints(task) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """For every grid n: the Euler states X and adjoint P_j of the limit, (S, n+1, N, d)."""
    out = {}
    for n in GRIDS:
        ps = forward_backward(task, *limit_start(ATOMS, n), DYNAMICS)
        out[n] = (ps.states, ps.p)
    return out


def at_quarters(v: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """v[:, j] at j = k n/4 + shift (clamped to 0..n), k = 0..4, for v (S, n+1, N, d)."""
    n = v.shape[1] - 1
    idx = [min(max(k * n // QUARTERS + shift, 0), n) for k in range(QUARTERS + 1)]
    return v[:, idx]


@pytest.fixture(scope="module")
def setting():
    """Task, RK4 reference and limit adjoints, computed once for the tests of this module."""
    task = make_task(MASK, NORM)
    started = time.perf_counter()
    x, fd = reference(task, RK4_STEPS)
    print(f"\nRK4 reference ({RK4_STEPS} steps): {time.perf_counter() - started:.1f} s")
    return task, x, fd, limit_adjoints(task)


def test_limit_adjoint_matches_finite_differences_of_limit_loss(setting):
    """P_j of the Euler limit → p(t_j) at first order; Richardson-extrapolated at second order."""
    task, x, fd, limit = setting

    # the RK4 reference is converged: half the steps moves it far less than the gaps measured
    x_half, fd_half = reference(task, RK4_STEPS // 2)
    rk4_state = torch.max(torch.abs(x - x_half)).item()
    rk4_fd = torch.max(torch.abs(fd - fd_half)).item() / torch.max(torch.abs(fd)).item()
    print(f"RK4 {RK4_STEPS // 2} vs {RK4_STEPS} steps: states {rk4_state:.1e}, FD rel {rk4_fd:.1e}")
    assert rk4_state < 1e-11
    assert rk4_fd < 1e-8

    # sanity of the reference at T: the ambient FD is Rᵀ(R x(T) − y) up to the FD error
    terminal = (x[:, -1] @ task.readout.T - task.targets) @ task.readout
    assert torch.max(torch.abs(fd[:, -1] - terminal)) < 1e-9

    gaps, extrapolated = {}, {}
    for n in GRIDS:
        states, p = limit[n]
        gaps[n] = relative_gap(x, at_quarters(p), fd)
        state_gap = torch.max(torch.abs(at_quarters(states) - x)).item()
        normal = torch.max(torch.abs((p[:, :-1] * states[:, :-1]).sum(-1))).item()
        print(
            f"n={n:4d}: adjoint gap {gaps[n]:.3e} (n·gap {n * gaps[n]:.3f}), "
            f"state gap {state_gap:.2e}, max normal part of P_j (j<n) {normal:.2e}"
        )
        p_n = (states[:, -1] @ task.readout.T - task.targets) @ task.readout
        assert torch.allclose(p[:, -1], p_n, rtol=0, atol=1e-15)
    for coarse, fine in pairwise(GRIDS):
        rich = 2 * at_quarters(limit[fine][1]) - at_quarters(limit[coarse][1])
        extrapolated[fine] = relative_gap(x, rich, fd)
    ratios = [gaps[a] / gaps[b] for a, b in pairwise(GRIDS)]
    print("first-order ratios:", " ".join(f"{r:.3f}" for r in ratios))
    print(
        "Richardson 2P(2n) − P(n) gaps:",
        " ".join(f"n={n}: {g:.2e}" for n, g in extrapolated.items()),
        f"ratio {extrapolated[GRIDS[1]] / extrapolated[GRIDS[2]]:.3f}",
    )

    for r in ratios:
        assert 1.7 < r < 2.3  # first order in Δ
    finest = GRIDS[-1]
    assert gaps[finest] < FIRST_ORDER_CONSTANT / finest  # 5.9e-3 measured at n = 128
    assert rk4_fd < 1e-4 * gaps[finest]  # the reference is not what is being measured
    # second order after extrapolation: the O(Δ) gap has a smooth leading term C Δ
    rich_ratio = extrapolated[GRIDS[1]] / extrapolated[GRIDS[2]]
    assert 3.4 < rich_ratio < 4.6
    assert extrapolated[finest] < 2e-4  # 6.5e-5 measured


def test_wrong_adjoints_are_rejected(setting):
    """The tolerance of the test above separates the right adjoint from plausible mistakes.

    An off-by-one time index (P_{j±1} read at t_j) is itself an O(Δ) perturbation, so it still
    converges at first order; it is rejected only because the bound C/n on the gap is tighter than
    the difference between neighbouring grid times. It is measured at the interior times
    T/4, T/2, 3T/4 only: at t = T, P_{n−1} would also lose the O(1) normal part of P_n, and at
    t = 0 the index clamps.
    The others (∂J/∂X without the S N factor, the terminal value held for all t, the time-reversed
    sequence, the sign) are O(1) off.
    """
    task, x, fd, limit = setting
    s, tokens = task.x0.shape[:2]
    finest = GRIDS[-1]
    bound = FIRST_ORDER_CONSTANT / finest
    p = limit[finest][1]
    right = relative_gap(x, at_quarters(p), fd)
    interior = slice(1, QUARTERS)
    wrong = {
        "P_{j+1}": (at_quarters(p, +1), interior),
        "P_{j-1}": (at_quarters(p, -1), interior),
        "dJ/dX (no S N)": (at_quarters(p) / (s * tokens), slice(None)),
        "P_n for all t": (p[:, -1:].expand(-1, QUARTERS + 1, -1, -1), slice(None)),
        "P_{n-j}": (at_quarters(p).flip(1), slice(None)),
        "-P_j": (-at_quarters(p), slice(None)),
    }
    right_interior = relative_gap(x, at_quarters(p), fd, interior)
    print(
        f"\nn={finest}: bound {bound:.2e}, right adjoint {right:.2e}, interior {right_interior:.2e}"
    )
    assert right < bound
    for name, (candidate, times) in wrong.items():
        gap = relative_gap(x, candidate, fd, times)
        print(f"  wrong adjoint {name:16s}: gap {gap:.2e} ({gap / bound:.1f} × bound)")
        assert gap > 1.3 * bound, name
