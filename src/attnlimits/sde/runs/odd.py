"""Odd-field runs of experiment ``sde``: tokens over a long horizon, many paths (P2's first figure).

``run_odd`` follows the infinite-width discrete model on ``paths`` noise paths (the layer and the
streams of ``sync.energy_curve``) and keeps every token at ``records`` times, for the clusters up
to sign of :mod:`attnlimits.sde.odd`, and the interaction energy there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import uniform_tokens
from attnlimits.sde.exponents import is_odd_field
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
from attnlimits.sde.runs.sync import sync_rate
from attnlimits.sde.sync import energy_curve
from attnlimits.storage import variable as _var


def odd_horizon_rate(lambda_1: float, lambda_bar: float, kappa_1: float) -> float:
    """The odd run's horizon scale: |λ₁|, the pathwise rate at which pairs (up to sign) contract,
    but at least a quarter of ``sync_rate`` (so that λ₁ ≈ 0 cannot ask for unbounded runs)."""
    return max(abs(lambda_1), 0.25 * sync_rate(lambda_1, lambda_bar, kappa_1))


def run_odd(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Odd store: tokens (record, path, token, component) and energy (path, record).

    spec = {activation, d, sigma, attention_sign, beta, seed, N, paths, horizon, dt, records};
    Δ = dt/rate (``sync_rate``: max(|λ̄|, 2|λ₁|)), horizon in units of 1/``odd_horizon_rate``
    (|λ₁|, at least rate/4); layers = (records − 1)·k, k = ⌈horizon/(Δ (records − 1))⌉, with
    records every k layers from t = 0. Tokens start uniform (``uniform_tokens(seed, 0..paths−1,
    N, d)``) and take ``energy_curve``'s layers (normals (seed, "sde.sync", N, d, ℓ)).
    """
    activation, d, sigma = row(spec)
    n, paths, seed = int(spec["N"]), int(spec["paths"]), int(spec["seed"])
    records = int(spec["records"])
    ex = row_exponents(activation, d, sigma)
    rate = sync_rate(ex["lambda_1"], ex["lambda_bar"], ex["kappa_1"])
    dt = float(spec["dt"]) / rate
    horizon = float(spec["horizon"]) / odd_horizon_rate(
        ex["lambda_1"], ex["lambda_bar"], ex["kappa_1"]
    )
    every = max(1, math.ceil(horizon / (dt * (records - 1))))
    layers = every * (records - 1)
    ticker = Ticker(progress, layers)
    kappa = zonal_kernel(activation, d, sigma, sigma)
    x0 = uniform_tokens(seed, list(range(paths)), n, d, device)
    recorded = list(range(0, layers + 1, every))
    curve = energy_curve(
        x0,
        identity_attention(spec, device),
        CountedField(GaussianField(kappa), ticker),
        dt,
        layers,
        seed,
        every,
        snapshot_layers=recorded,
        snapshot_paths=paths,
    )
    odd = is_odd_field(activation, sigma, sigma)
    return xr.Dataset(
        {
            "tokens": _var(
                curve.snapshots, ("time", "path", "token", "component"), "tokens x^i of each path"
            ),
            "energy": _var(
                curve.energy,
                ("path", "time"),
                "interaction energy e^-beta E_beta(mu_t) of each path",
            ),
        },
        coords={
            "time": ("time", np.asarray(recorded) * dt, {"long_name": "time t", "units": "1"}),
        },
        attrs={
            **row_attrs(spec),
            "N": n,
            "dt": dt,
            "horizon": layers * dt,
            **ex,
            "odd_field": bool(odd),
            "synchronization": bool(ex["lambda_bar"] < 0.0) and not odd,
        },
    )
