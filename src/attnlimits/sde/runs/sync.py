"""Synchronization runs of experiment ``sde``: interaction energy, two-point run, pictures.

docs/mathematics.md, experiment ``sde``, predictions (synchronization): ``run_sync`` records the
interaction energy e^{−β} E_β(μ_t) over paths of the infinite-width discrete model
(``sync.energy_curve``), for attention sign 0 the two-point Lyapunov run (``sync.two_point_run``;
rates λ₁ and λ̄), P2's bound λ̄′ (``exponents.energy_rate_bound``) and snapshots of the tokens for
the pictures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import uniform_tokens
from attnlimits.sde.exponents import energy_rate_bound, is_odd_field
from attnlimits.sde.field import GaussianField, zonal_kernel
from attnlimits.sde.runs.common import (
    CountedField,
    Progress,
    Ticker,
    identity_attention,
    row,
    row_attrs,
    row_exponents,
)
from attnlimits.sde.sync import energy_curve, two_point_runs
from attnlimits.storage import variable as _var

SNAPSHOTS = 9
"""Snapshot times of the sync pictures, among the energy records (fewer if fewer records)."""
COSINE_PATHS = 64
"""The sync store pools the cosines of the first min(paths, COSINE_PATHS) paths."""


def sync_rate(lambda_1: float, lambda_bar: float, kappa_1: float) -> float:
    """The sync step scale: max(|λ̄|, 2|λ₁|), or κ(1) where both vanish (``dt`` is in 1/rate)."""
    rate = max(abs(lambda_bar), 2.0 * abs(lambda_1))
    return rate if rate > 1e-12 * max(kappa_1, 1e-300) else kappa_1


def sync_horizon_rate(lambda_1: float, lambda_bar: float, kappa_1: float) -> float:
    """The sync horizon scale: |λ̄|, the rate of E[E_β] near collapse, but at least a quarter of
    ``sync_rate`` (so that λ̄ ≈ 0 cannot ask for unbounded runs); ``horizon`` is in 1/this.

    With horizon h, a row with λ̄ < 0 is predicted to reach E[E_β](T) ≈ e^{−h} E[E_β](0) (up to
    the pre-asymptotic phase), whatever its λ̄, so one ``cluster_threshold`` serves every row.
    """
    return max(abs(lambda_bar), 0.25 * sync_rate(lambda_1, lambda_bar, kappa_1))


def run_sync(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Sync store: energy e^{−β} E_β(μ_t) per path (``energy_curve``), two-point run, pictures.

    spec = {activation, d, sigma, attention_sign, beta, seed, N, paths, horizon, dt, record_every,
    two_point: {paths, steps, dt, eps}}; dt is in units of 1/rate, rate = max(|λ̄|, 2|λ₁|)
    (``sync_rate``), and horizon in units of 1/``sync_horizon_rate`` (|λ̄|, at least rate/4):
    Δ = dt/rate, layers = horizon·rate/(dt·horizon_rate) rounded to a multiple of record_every,
    T = layers·Δ. Tokens start uniform (``uniform_tokens(seed, 0..paths−1, N, d)``) and follow the
    infinite-width discrete model. For attention_sign 0, the two-point run (``two_point_run``,
    Δ₂ = two_point.dt/rate) gives lyap_per_path = (1/(steps Δ₂)) Σ log(r′/ε) (rate of log r,
    predicted λ₁) and moment_ratio_sq = mean over steps of (r′/ε)² (so that
    (1/Δ₂) log E[(r′/ε)²] → λ̄); the same run with step 2Δ₂ on the same Brownian increments
    (``coarsen=2``; both runs on one draw of the normals, ``two_point_runs``) gives
    lyap_per_path_coarse and moment_ratio_sq_coarse, from which the fit estimates the
    finite-step bias. rate_bound is λ̄′ = −inf F(u) (``energy_rate_bound``).
    """
    activation, d, sigma = row(spec)
    n, paths, seed, beta = (
        int(spec["N"]),
        int(spec["paths"]),
        int(spec["seed"]),
        float(spec["beta"]),
    )
    sign = int(spec["attention_sign"])
    ex = row_exponents(activation, d, sigma)
    rate = sync_rate(ex["lambda_1"], ex["lambda_bar"], ex["kappa_1"])
    horizon_rate = sync_horizon_rate(ex["lambda_1"], ex["lambda_bar"], ex["kappa_1"])
    dt = float(spec["dt"]) / rate
    record_every = int(spec["record_every"])
    steps = float(spec["horizon"]) / float(spec["dt"]) * rate / horizon_rate
    layers = record_every * max(1, int(round(steps / record_every)))
    horizon = layers * dt
    tp = spec["two_point"]
    tp_dt = float(tp["dt"]) / rate
    kappa = zonal_kernel(activation, d, sigma, sigma)
    attn = identity_attention(spec, device)
    recorded = np.arange(0, layers + 1, record_every)
    snap_layers = recorded[
        np.unique(np.rint(np.linspace(0, len(recorded) - 1, SNAPSHOTS)).astype(np.int64))
    ]
    pooled = min(paths, COSINE_PATHS)
    ticker = Ticker(progress, layers + (2 if sign == 0 else 0))

    x0 = uniform_tokens(seed, list(range(paths)), n, d, device)
    field = CountedField(GaussianField(kappa), ticker)
    curve = energy_curve(
        x0,
        attn,
        field,
        dt,
        layers,
        seed,
        record_every,
        snapshot_layers=snap_layers.tolist(),
        snapshot_paths=pooled,
    )
    snaps = curve.snapshots
    i, j = np.triu_indices(n, 1)
    cosines = (snaps @ snaps.transpose(-1, -2))[:, :, i, j].reshape(len(snap_layers), -1)

    def kappa_np(u: np.ndarray) -> np.ndarray:
        return kappa(torch.as_tensor(u, dtype=torch.float64)).numpy()

    odd = is_odd_field(activation, sigma, sigma)
    data = {
        "energy": _var(
            curve.energy, ("path", "time"), "interaction energy e^-beta E_beta(mu_t) of each path"
        ),
        "tokens_sample": _var(
            snaps[:, 0], ("snapshot", "token", "component"), "tokens of path 0 at the snapshots"
        ),
        "cosines": _var(
            cosines,
            ("snapshot", "pair"),
            f"pairwise cosines <x_i, x_j>, i < j, of the first {pooled} paths pooled",
        ),
        "snapshot_time": _var(snap_layers * dt, ("snapshot",), "time of the snapshot"),
    }
    if sign == 0:
        runs = two_point_runs(
            d,
            ex["kappa_1"],
            ex["kappa_prime_1"],
            tp_dt,
            int(tp["steps"]),
            int(tp["paths"]),
            seed,
            float(tp["eps"]),
            device,
            (1, 2),
        )
        ticker.tick(2)
        for run, suffix, step in zip(runs, ("", "_coarse"), ("dt", "2 dt, coupled"), strict=True):
            logs = run.log_ratios
            data[f"lyap_per_path{suffix}"] = _var(
                logs.sum(1) / (logs.shape[1] * run.dt),
                ("path2",),
                f"two-point pathwise exponent (1/(steps dt)) sum log(r'/eps) of each path, "
                f"step {step}",
            )
            data[f"moment_ratio_sq{suffix}"] = _var(
                torch.exp(2.0 * logs).mean(1),
                ("path2",),
                f"mean over steps of (r'/eps)^2 of each two-point path, step {step}",
            )
    return xr.Dataset(
        data,
        coords={"time": ("time", curve.t, {"long_name": "time t (absolute)", "units": "1"})},
        attrs={
            **row_attrs(spec),
            "N": n,
            "dt": dt,
            "horizon": horizon,
            **ex,
            "rate_bound": energy_rate_bound(kappa_np, ex["kappa_1"], d, beta),
            "odd_field": bool(odd),
            "synchronization": bool(ex["lambda_bar"] < 0.0) and not odd,
            "two_point_dt": tp_dt,
        },
    )
