"""What the jobs of experiment ``adamw`` compute: a trained limit, a trained grid cell
(docs/mathematics.md).

Both take a spec (plain data, ``adamw.grid``) and return an ``xarray.Dataset``; the workflow
scripts add provenance and write it atomically.

Limit (per variant, ε, N, d, β): the limit model on the fine Euler grid of n = ``limit.steps``
steps (weights 1/M, one parameter path θ_r(t_j) per atom), trained K steps with the same AdamW
pointwise in t, recorded at ``limit.records`` + 1 times t_i = i T / records (states, P) and at
the first ``records`` of them (parameters). The same training on n/2 steps gives the limit's own
error by halving: ``limit_error_x`` = max over k and record times of |x_n − x_{n/2}| (sup norm
over inputs, tokens and components), ``limit_error_p`` and ``limit_error_theta`` likewise for P
and θ, and ``limit_error`` the larger of the first two. Each variable is judged against its own:
P's is several times X's (P_n = Rᵀ(R X_n − y) carries the read-out, and the adjoint accumulates
the forward's error).
For Euler (first order) the halving gap estimates the error of the coarser solve, so it bounds
that of the finer one.

Cell (per variant, ε, N, d, β, L, H): R seeds of head picks r(ℓ, h) (``p1.law.head_atoms``),
the grouped discrete model trained K steps, and its deviations from the limit after every step
k = 0..K: states D = X_ℓ − x(t_ℓ), backpropagated variables P_ℓ − p(t_ℓ) (``p1.errors``
with a leading step axis) and parameters θ_{ℓh} − θ_{r(ℓ,h)}(t_ℓ) (``parameter_error``).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.adamw.optimizer import AdamW
from attnlimits.adamw.params import discrete_start, limit_start
from attnlimits.adamw.task import Task, draw_task
from attnlimits.adamw.training import Trajectory, train
from attnlimits.head import Head
from attnlimits.p1 import errors
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.law import atom_count, atom_counts, atoms_of, head_atoms
from attnlimits.storage import variable as _var

ROLES = ("q", "k", "v")
#: The limit's own errors by halving, per tracked variable and joint (module docstring).
LIMIT_ERRORS = ("limit_error", "limit_error_x", "limit_error_p", "limit_error_theta")
Progress = Callable[[int, int], None]


def _task(spec: Mapping[str, Any]) -> Task:
    """The training task of the spec: S inputs, read-out, teacher targets (``task.draw_task``).

    Drawn once per process and setting (:func:`_drawn_task`): the limit and every cell of one
    (N, d, β, …) share it, and the teacher's RK4 solve costs about as much as a small cell's
    training, so cells run one after another in one process reuse it (the tensors are never
    modified in place).
    """
    task = spec["task"]
    return _drawn_task(
        task["inputs"],
        spec["N"],
        spec["d"],
        task["d_out"],
        Dynamics.of(spec),
        task["teacher_atoms"],
        task["teacher_v_bar"],
        task["teacher_sigma_v"],
        task["teacher_steps"],
        task["seed"],
    )


@functools.lru_cache(maxsize=4)
def _drawn_task(*args: Any) -> Task:
    return draw_task(*args)


def optimizer(spec: Mapping[str, Any]) -> AdamW:
    """AdamW of the spec: ``optimizer`` block, with the cell's variant and ε."""
    opt = spec["optimizer"]
    return AdamW(
        lr=opt["lr"],
        beta1=opt["beta1"],
        beta2=opt["beta2"],
        eps=spec["eps"],
        weight_decay=opt["weight_decay"],
        variant=spec["variant"],
    )


def _train(
    spec: Mapping[str, Any],
    task: Task,
    params: Head,
    weights: torch.Tensor,
    stride: int,
    progress: Progress | None,
) -> Trajectory:
    return train(
        task,
        params,
        weights,
        Dynamics.of(spec),
        optimizer(spec),
        spec["optimizer"]["steps"],
        stride=stride,
        progress=progress,
    )


def _stack_roles(p: Head) -> torch.Tensor:
    """θ as one tensor (..., n, M, 3, d, d), roles q, k, v."""
    return torch.stack(p.tensors(), dim=-3)


def train_limit(
    spec: Mapping[str, Any],
    steps: int,
    stride: int,
    device: torch.device | str,
    progress: Progress | None,
) -> Trajectory:
    """The limit trained on ``steps`` Euler steps, recorded at every ``stride``-th grid time."""
    params, weights = limit_start(atoms_of(spec), steps)
    task = _task(spec).to(device)
    return _train(spec, task, params.to(device), weights.to(device), stride, progress)


@functools.cache
def _reuse_freed_memory() -> None:
    """Let glibc's malloc keep freed memory for reuse (no mmap, no trimming), once per process.

    The limit's parameter-sized temporaries (n·M·d² numbers: 75 MB each at n = 2048, d = 24) are
    otherwise each a fresh mmap whose pages fault in on first touch, several times the cost of the
    arithmetic on them; with the heap they reuse pages already mapped. A speed setting only (no
    number depends on it), skipped where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2**31 - 1)


def _sup_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def run_limit(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Limit store: x, p at the record times and θ_r(t) at their first ``records``, after every
    training step k = 0..K, the loss, and the limit's own error by halving (module docstring).

    The halving gap is taken at the record times that also lie on the coarse grid (all of them
    when ``records`` divides n/2).
    """
    n, records = spec["limit"]["steps"], spec["limit"]["records"]
    if n % 2 or n % records:
        raise ValueError(
            f"limit.steps={n} must be even (its error is measured by halving) and a multiple "
            f"of limit.records={records}"
        )
    _reuse_freed_memory()
    fine = train_limit(spec, n, n // records, device, progress)
    # the coarse run is recorded (and checkpointed) every `stride` of its steps: at the record
    # times when records divides n/2, else at every step
    stride = n // (2 * records) if (n // 2) % records == 0 else 1
    half = train_limit(spec, n // 2, stride, device, None)
    at = np.arange(records + 1) * (n // records)  # fine grid index of each record time
    shared = torch.as_tensor(at % 2 == 0)
    coarse = torch.as_tensor(at[at % 2 == 0] // (2 * stride))
    theta, theta_half = _stack_roles(fine.params), _stack_roles(half.params)
    shared_p, coarse_p = shared[:-1], torch.as_tensor(at[:-1][at[:-1] % 2 == 0] // (2 * stride))
    gap_x = _sup_gap(fine.states[..., shared, :, :], half.states[..., coarse, :, :])
    gap_p = _sup_gap(fine.p[..., shared, :, :], half.p[..., coarse, :, :])
    gap_theta = _sup_gap(theta[..., shared_p, :, :, :, :], theta_half[..., coarse_p, :, :, :, :])
    dims_x = ("step", "input", "time", "token", "component")
    return xr.Dataset(
        {
            "x": _var(fine.states, dims_x, "limit states x(t) after step k"),
            "p": _var(fine.p, dims_x, "limit backpropagated variables p(t) after step k"),
            "theta": _var(
                theta,
                ("step", "time_param", "atom", "role", "row", "col"),
                "limit parameter paths theta_r(t) after step k",
            ),
            "loss": _var(fine.loss, ("step",), "loss J of the limit after step k"),
        },
        coords={
            "step": np.arange(fine.loss.shape[0]),
            "time": fine.times.cpu().numpy(),
            "time_param": fine.times[:-1].cpu().numpy(),
            "role": list(ROLES),
        },
        attrs={
            "limit_error": max(gap_x, gap_p),
            "limit_error_x": gap_x,
            "limit_error_p": gap_p,
            "limit_error_theta": gap_theta,
            "limit_steps": n,
            "records": records,
        },
    )


def parameter_error(
    theta: torch.Tensor, theta_limit: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """max_ℓ ( Σ_r (c_{ℓr}/H) |θ_{ℓr} − θ_r(t_ℓ)|² )^(1/2) per leading index: the root mean square
    over the H heads of layer ℓ of |θ_{ℓh} − θ_{r(ℓ,h)}(t_ℓ)| (Frobenius norm over Q, K, V), worst
    layer.

    theta (..., R, L, M, 3, d, d) per (layer, atom) group; theta_limit (..., L, M, 3, d, d) at the
    layer times t_ℓ, ℓ < L; weights (R, L, M) = c_{ℓr}/H. Returns (..., R).
    """
    dev = (theta - theta_limit.unsqueeze(-6)).square().sum((-1, -2, -3))  # (..., R, L, M)
    return (weights * dev).sum(-1).amax(-1).sqrt()


def run_cell(
    spec: Mapping[str, Any],
    limit: xr.Dataset,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> xr.Dataset:
    """Cell store: per step k, seed and input the errors e₂, e_∞ of the states and of the
    backpropagated variables, their Gram matrices over seeds (``p1.errors.gram``: every
    bootstrap replicate of the bias and the fluctuation follows from them), the parameter error,
    the loss; the head picks and the trained parameters θ^K."""
    layers, heads, seeds = spec["L"], spec["H"], spec["seeds"]
    atoms = atoms_of(spec)
    task = _task(spec).to(device)
    picks = head_atoms(seeds, layers, heads, atom_count(atoms), spec["seed"])
    counts = atom_counts(picks, atom_count(atoms))
    params, weights = discrete_start(atoms, counts)
    run = _train(spec, task, params.to(device), weights.to(device), 1, progress)

    def limit_tensor(name: str) -> torch.Tensor:
        return torch.as_tensor(limit[name].values, device=device)

    out: dict[str, Any] = {}
    for name, discrete in (("x", run.states), ("p", run.p)):
        dev = errors.deviations(discrete, errors.limit_at_layers(limit_tensor(name), layers))
        what = "states X" if name == "x" else "backpropagated variables P"
        out[f"e2_{name}"] = _var(
            errors.e2(dev), ("step", "seed", "input"), f"e_2 of the {what} after step k"
        )
        out[f"einf_{name}"] = _var(
            errors.e_inf(dev), ("step", "seed", "input"), f"e_inf of the {what} after step k"
        )
        out[f"gram_{name}"] = _var(
            errors.gram(dev),
            ("step", "input", "layer", "seed", "seed2"),
            f"Gram matrix over seeds of the deviations of the {what}",
        )
    records = limit.sizes["time_param"]
    if records % layers:
        raise ValueError(f"depth L={layers} does not divide the limit's records={records}")
    theta_limit = limit_tensor("theta")[:, :: records // layers]  # (K+1, L, M, 3, d, d)
    snapshots, w = theta_limit.shape[0], weights.to(device)

    def theta_at(k: int) -> torch.Tensor:
        """θ after step k, (R, L, M, 3, d, d): one step at a time, so that the error holds
        temporaries of one step rather than of all K + 1 (``grid.memory_mb``)."""
        return _stack_roles(run.params.map(lambda t: t[k]))

    out["theta_error"] = _var(
        torch.stack([parameter_error(theta_at(k), theta_limit[k], w) for k in range(snapshots)]),
        ("step", "seed"),
        "max over layers of the RMS over heads of |theta_lh - theta_r(t_l)|",
    )
    out["loss"] = _var(run.loss, ("step", "seed"), "loss J after step k")
    out["loss_limit"] = _var(
        limit_tensor("loss"), ("step",), "loss J of the limit after step k (from the limit store)"
    )
    out["counts"] = _var(counts, ("seed", "layer_param", "atom"), "heads per (layer, atom)")
    out["theta_final"] = _var(
        theta_at(snapshots - 1),
        ("seed", "layer_param", "atom", "role", "row", "col"),
        "trained parameters",
    )
    return xr.Dataset(
        out,
        coords={
            "step": np.arange(run.loss.shape[0]),
            "layer": np.arange(layers + 1),
            "role": list(ROLES),
        },
        attrs={name: float(limit.attrs[name]) for name in LIMIT_ERRORS},
    )
