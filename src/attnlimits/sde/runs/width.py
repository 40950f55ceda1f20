"""Width runs of experiment ``sde``: the width-m model against the infinite-width field.

docs/mathematics.md, experiment ``sde``, predictions (depth and width):
E sup_t (1/N) Σᵢ |X_{⌊t/Δ⌋}ⁱ − X̄_tⁱ|² ≤ c (log L / L + 1/m), strong order 1/2 in m.
``run_width`` runs the width-m model (token covariance C_m, "Given U and b_U ...") and the limit
(covariance K = κ(Y Yᵀ)) on the same normals ξ (coupled through their square roots, ``field``) and
measures their pathwise distance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import brownian_normals, layer_step, simulate, uniform_tokens
from attnlimits.sde.field import (
    GaussianField,
    NestedDraws,
    finite_width_field,
    infinite_width_covariance,
    zonal_kernel,
)
from attnlimits.sde.limit import pathwise_error
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


def run_width(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Width store: err2(m, seed) = sup_l (1/N) Σᵢ |X_{m,l}ⁱ − X_{∞,l}ⁱ|², same normals ξ.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N, L, m, seeds}. Both models run
    ``simulate``'s layers with Δ = T/L (the widths side by side, one draw of a layer's weights)
    on ξ = ``brownian_normals(seed, 0..R−1, L, N, d)``, the width-m one
    with S_m(Y) = C_m(Y)^{1/2} (``finite_width_field``: U, b_U fresh per layer and seed, nested in
    m), the limit with S(Y) = K(Y)^{1/2}. cov_rel_err(m, seed) = ‖C_m(X₀) − K(X₀)‖_F / ‖K(X₀)‖_F
    with the weights of layer 0.
    """
    activation, d, sigma = row(spec)
    n, layers, reps, seed = int(spec["N"]), int(spec["L"]), int(spec["seeds"]), int(spec["seed"])
    horizon = float(spec["T"])
    widths = sorted({int(m) for m in spec["m"]})
    seeds = list(range(reps))
    kappa = zonal_kernel(activation, d, sigma, sigma)
    attn = identity_attention(spec, device)
    x0 = uniform_tokens(seed, seeds, n, d, device)
    xi = brownian_normals(seed, seeds, layers, n, d, device)
    ticker = Ticker(progress, layers * (1 + len(widths)))
    dt = horizon / layers
    x_inf = simulate(x0, attn, dt, CountedField(GaussianField(kappa), ticker), xi)
    k0 = infinite_width_covariance(x0, kappa)
    # every width in lock-step, layer by layer: the weights of a layer are drawn once, at the
    # largest width, and each width takes its first m rows (the same numbers as its own draw)
    draws = NestedDraws(widths[-1], d, kappa.sigma_u, seed, seeds)
    fields = [
        CountedField(finite_width_field(kappa, m, seed, seeds, draws), ticker) for m in widths
    ]
    cov = []
    for fw in fields:
        c0 = fw.covariance(x0, 0)
        cov.append(torch.linalg.matrix_norm(c0 - k0, "fro") / torch.linalg.matrix_norm(k0, "fro"))
    x_m = [x0 for _ in widths]  # ``simulate``'s layers, run side by side
    steps = [[x0] for _ in widths]
    root = math.sqrt(dt)
    for layer in range(layers):
        for i, fw in enumerate(fields):
            x_m[i] = layer_step(x_m[i], attn, dt, root, fw, layer, xi[:, layer])
            steps[i].append(x_m[i])
    err2 = [pathwise_error(torch.stack(path, 1), x_inf) for path in steps]
    return xr.Dataset(
        {
            "err2": _var(
                torch.stack(err2),
                ("m", "seed"),
                "sup over layers of (1/N) sum_i |X_m^i - X_inf^i|^2 (same normals)",
            ),
            "cov_rel_err": _var(
                torch.stack(cov),
                ("m", "seed"),
                "||C_m(X_0) - K(X_0)||_F / ||K(X_0)||_F (layer-0 weights)",
            ),
        },
        coords={
            "m": ("m", np.asarray(widths), {"long_name": "MLP width m", "units": "1"}),
            "seed": ("seed", np.arange(reps), {"long_name": "seed index", "units": "1"}),
        },
        attrs={
            **row_attrs(spec),
            "T": horizon,
            "N": n,
            "L": layers,
            **{
                k: v for k, v in row_exponents(activation, d, sigma).items() if k != "kappa_prime_1"
            },
        },
    )
