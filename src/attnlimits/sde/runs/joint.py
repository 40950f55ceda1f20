"""Joint-grid runs of experiment ``sde``: the (L, m) and (L, N) grids against one reference.

docs/mathematics.md, experiment ``sde``, predictions: depth and width (``attnlimits.sde.joint``).
``run_joint_width`` measures every (L, m) model, and the infinite-width L-layer model (m = inf),
against the infinite-width reference with ``fine`` layers on the same noise; ``run_joint_tokens``
does the same at infinite width for several numbers of tokens N (tokens and normals nested: the
first N of one draw). Both store the sup over layer times and the sup over the interpolated path,
and the reference's own error by halving its step (``limit.reference_error_estimates``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import brownian_normals, coarsen, simulate, uniform_tokens
from attnlimits.sde.field import GaussianField, NoiseField, finite_width_field, zonal_kernel
from attnlimits.sde.joint import coupled_errors
from attnlimits.sde.limit import pathwise_error, reference_error_estimates, rms
from attnlimits.sde.runs.common import (
    CountedField,
    Progress,
    Ticker,
    identity_attention,
    row,
    row_attrs,
    row_exponents,
)
from attnlimits.storage import variable as _var

LAYER_TEXT = "sup over layer times t_l of (1/N) sum_i |X_l^i - Xref^i(t_l)|^2"
PATH_TEXT = (
    "sup over the fine times t of (1/N) sum_i |X_floor(t/dt)^i - Xref^i(t)|^2 (interpolated path)"
)


def _layers(spec: Mapping[str, Any]) -> tuple[list[int], int]:
    coarse = sorted({int(L) for L in spec["L"]})
    fine = int(spec["fine"])
    if fine % 2 or any(fine % L for L in coarse):
        raise ValueError(f"every L {coarse} and 2 must divide fine = {fine}")
    return coarse, fine


def _grid(
    spec: Mapping[str, Any],
    x0: torch.Tensor,
    xi_fine: torch.Tensor,
    fields: Sequence[NoiseField],
    reference_field: NoiseField,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """err2_layers, err2_path (L, field, seed) and the reference's RMS error estimates."""
    coarse, fine = _layers(spec)
    horizon = float(spec["T"])
    attn = identity_attention(spec, device)
    layers, path, ref = coupled_errors(x0, attn, horizon, reference_field, xi_fine, coarse, fields)
    half = simulate(x0, attn, 2.0 * horizon / fine, reference_field, coarsen(xi_fine, fine // 2))
    triangle, orthogonal = reference_error_estimates(rms(pathwise_error(half, ref)), 2.0)
    return layers, path, triangle, orthogonal


def _dataset(
    spec: Mapping[str, Any],
    layers: torch.Tensor,
    path: torch.Tensor,
    errors: tuple[float, float],
    other: str,
    values: np.ndarray,
    other_attrs: dict[str, str],
    attrs: dict[str, Any],
) -> xr.Dataset:
    activation, d, sigma = row(spec)
    coarse, fine = _layers(spec)
    dims = ("L", other, "seed")
    return xr.Dataset(
        {
            "err2_layers": _var(layers, dims, LAYER_TEXT),
            "err2_path": _var(path, dims, PATH_TEXT),
            "reference_error": _var(
                errors[0], (), "reference RMS error estimate, rms(diff fine/2)/(sqrt(2) - 1)"
            ),
            "reference_error_orthogonal": _var(
                errors[1], (), "reference RMS error estimate, orthogonal differences"
            ),
        },
        coords={
            "L": ("L", np.asarray(coarse), {"long_name": "number of layers L", "units": "1"}),
            other: (other, values, other_attrs),
            "seed": (
                "seed",
                np.arange(int(spec["seeds"])),
                {"long_name": "seed index", "units": "1"},
            ),
        },
        attrs={
            **row_attrs(spec),
            "T": float(spec["T"]),
            "fine": fine,
            **attrs,
            **{
                k: v for k, v in row_exponents(activation, d, sigma).items() if k != "kappa_prime_1"
            },
        },
    )


def run_joint_width(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Joint (L, m) store: err2_layers, err2_path (L, m, seed) against one reference.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N, L, m, fine, seeds}. Tokens
    X₀ = ``uniform_tokens(seed, 0..R−1, N, d)``, fine normals ``brownian_normals(seed, 0..R−1,
    fine, N, d)`` (the depth and width runs' streams); the width-m fields draw U, b_U per (seed,
    layer ℓ of the L-layer model) (``finite_width_field``, nested in m); m = inf is the
    infinite-width model. The reference and every model use the symmetric root of their
    covariance (the width runs' coupling).
    """
    activation, d, sigma = row(spec)
    n, reps, seed = int(spec["N"]), int(spec["seeds"]), int(spec["seed"])
    coarse, fine = _layers(spec)
    widths = sorted({int(m) for m in spec["m"]})
    seeds = list(range(reps))
    kappa = zonal_kernel(activation, d, sigma, sigma)
    ticker = Ticker(progress, int(1.5 * fine) + sum(coarse) * (len(widths) + 1))
    limit = CountedField(GaussianField(kappa), ticker)
    fields = [CountedField(finite_width_field(kappa, m, seed, seeds), ticker) for m in widths]
    x0 = uniform_tokens(seed, seeds, n, d, device)
    xi = brownian_normals(seed, seeds, fine, n, d, device)
    layers, path, *errors = _grid(spec, x0, xi, [*fields, limit], limit, device)
    m_values = np.asarray([*widths, math.inf], dtype=np.float64)
    m_attrs = {"long_name": "MLP width m (inf: the infinite-width field)", "units": "1"}
    return _dataset(spec, layers, path, tuple(errors), "m", m_values, m_attrs, {"N": n})


def run_joint_tokens(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Joint (L, N) store: err2_layers, err2_path (L, N, seed), infinite width.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N (list), L, fine, seeds}. The
    N-token system takes the first N tokens of ``uniform_tokens(seed, 0..R−1, max N, d)`` and the
    first N token rows of ``brownian_normals(seed, 0..R−1, fine, max N, d)``; each N has its
    own reference (the N-token infinite-width model with ``fine`` layers) and its own reference
    error (``reference_error`` per N, the largest kept as the store's scalar).
    """
    activation, d, sigma = row(spec)
    ns = sorted({int(n) for n in spec["N"]})
    reps, seed = int(spec["seeds"]), int(spec["seed"])
    coarse, fine = _layers(spec)
    seeds = list(range(reps))
    kappa = zonal_kernel(activation, d, sigma, sigma)
    ticker = Ticker(progress, len(ns) * (int(1.5 * fine) + sum(coarse)))
    limit = CountedField(GaussianField(kappa), ticker)
    x_pool = uniform_tokens(seed, seeds, max(ns), d, device)
    xi_pool = brownian_normals(seed, seeds, fine, max(ns), d, device)
    layers, path, triangle, orthogonal = [], [], [], []
    for n in ns:
        grid = _grid(spec, x_pool[:, :n], xi_pool[:, :, :n].contiguous(), [limit], limit, device)
        layers.append(grid[0][:, 0])
        path.append(grid[1][:, 0])
        triangle.append(grid[2])
        orthogonal.append(grid[3])
    ds = _dataset(
        spec,
        torch.stack(layers, 1),
        torch.stack(path, 1),
        (max(triangle), max(orthogonal)),
        "N",
        np.asarray(ns),
        {"long_name": "number of tokens N", "units": "1"},
        {"m": "inf"},
    )
    ds["reference_error_by_N"] = _var(
        np.asarray(triangle), ("N",), "reference RMS error estimate of each N's reference"
    )
    return ds
