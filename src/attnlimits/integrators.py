"""Fixed-step integrators for the limit ODEs, with their error estimated by halving the step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

VectorField = Callable[[torch.Tensor], torch.Tensor]

#: Classical order of each method: the error of a solve with step h is C h^order.
ORDERS = {"rk4": 4}


def rk4_step(f: VectorField, x: torch.Tensor, h: float) -> torch.Tensor:
    """One step of the classical 4th-order Runge–Kutta method for the autonomous ODE ẋ = f(x)."""
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def solve_fixed(
    f: VectorField,
    x0: torch.Tensor,
    horizon: float,
    records: int,
    substeps: int,
    method: str = "rk4",
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Solve ẋ = f(x) on [0, horizon] with ``records * substeps`` equal steps.

    Returns the states at the ``records + 1`` times k·horizon/records, stacked on a new axis
    placed after the first axis of ``x0`` (so (S, N, d) becomes (S, records+1, N, d)).
    """
    if method not in ORDERS:
        raise ValueError(f"unknown integrator {method!r}; allowed: {sorted(ORDERS)}")
    h = horizon / (records * substeps)
    out = torch.empty((x0.shape[0], records + 1, *x0.shape[1:]), dtype=x0.dtype, device=x0.device)
    out[:, 0] = x0
    x = x0
    for k in range(records):
        for _ in range(substeps):
            x = rk4_step(f, x, h)
        out[:, k + 1] = x
        if progress is not None:
            progress(k + 1, records)
    return out


@dataclass(frozen=True)
class HalvingSolution:
    """A solution on the record grid and the estimate of its own error."""

    x: torch.Tensor  # (S, records+1, ...), solved with records*substeps steps
    halving_gap: torch.Tensor  # (S, records+1): max over the other axes of |x_h − x_{2h}|
    order: int

    @property
    def richardson_error(self) -> torch.Tensor:
        """|x_h − x_{2h}| / (2^p − 1): the Richardson estimate of the error of x_h itself."""
        return self.halving_gap / (2**self.order - 1)


def solve_with_halving(
    f: VectorField,
    x0: torch.Tensor,
    horizon: float,
    records: int,
    substeps: int,
    method: str = "rk4",
    progress: Callable[[int, int], None] | None = None,
) -> HalvingSolution:
    """Solve with step h and again with step 2h; the gap between them estimates the error.

    The gap |x_h − x_{2h}| is itself an estimate of the error of the coarser solve, so it
    over-estimates the error of the returned (finer) solution by about 2^p − 1.
    """
    if substeps % 2:
        raise ValueError(f"substeps must be even to halve the step, got {substeps}")
    fine = solve_fixed(f, x0, horizon, records, substeps, method, progress)
    coarse = solve_fixed(f, x0, horizon, records, substeps // 2, method)
    gap = torch.linalg.vector_norm(fine - coarse, dim=-1)
    gap = gap.reshape(*gap.shape[:2], -1).amax(-1)
    return HalvingSolution(x=fine, halving_gap=gap, order=ORDERS[method])
