"""Chaos runs of experiment ``sde``: N tokens against a reference of N_ref tokens, one field.

docs/mathematics.md, experiment ``sde``, predictions (tokens, propagation of chaos):
E sup_t W2²(μ^N_t, μ_t) ≤ c r(N). ``run_chaos`` measures sup_t W2²(μ^N_t, μ^{N_ref}_t) with one
random-feature field for both systems (``features``, ``chaos``), and against the halved reference
(first N_ref/2 tokens; the reference's own error by halving), the floor between two references and
the truncation error κ_P − κ of the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.chaos import (
    chaos_rates,
    halved_reference,
    reference_floor,
    simulate_particles,
    sup_w2_squared,
    uniform_sphere,
    w2_squared_path,
)
from attnlimits.sde.features import DEFAULT_US, draw_coefficients, draw_features, truncation_error
from attnlimits.sde.kernel import kappa_one
from attnlimits.sde.runs.common import Progress, Ticker, identity_attention, row, row_attrs
from attnlimits.storage import variable as _var

CHAOS_RECORDS = 9
"""Layer times at which the chaos runner measures W2² (``spec["records"]`` overrides)."""
TRUNCATION_PAIRS = 128
"""Random pairs per u for the chaos store's truncation error of κ_P."""


def _record_layers(layers: int, count: int) -> np.ndarray:
    """``count`` layer indices spread evenly over 0..L (rounded, unique; L always included)."""
    if count <= 1:
        return np.array([layers])
    return np.unique(np.rint(np.linspace(0, layers, count)).astype(np.int64))


def run_chaos(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Chaos store: sup_t W2²(μ^N_t, μ^{N_ref}_t) and to the halved reference per (N, replica),
    the floor, the truncation of κ_P.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N (list), N_ref, P, L, replicas,
    floor_times} (optional ``records``, default ``CHAOS_RECORDS``). Per replica r (seed parts
    (seed, d, r)): P frozen features and L layers of
    coefficients (``draw_features``, ``draw_coefficients``) drive the N-token systems (nested:
    the first N of one pool) and two independent N_ref references (``simulate_particles``,
    Δ = T/L). W2² (exact, ``ot.emd2``) is taken at ``records`` layer times spread over 0..L
    (0 and L included): sup_w2 its max, w2_final its value at t = T; sup_w2_half the same sup
    against the halved reference (the first N_ref/2 tokens of reference a, ``halved_reference``),
    from which the claims measure the reference's error per N by halving N_ref
    (``halving_reference_error``); the floor (``reference_floor``, ½ sup W2² between the two
    references, an estimate of W2²(μ^{N_ref}, μ) itself, kept as information) at ``floor_times``
    of the record times only.
    kappa_truncation(u) = |mean over pairs and replicas of κ_P(x, y) − κ(u)|, ⟨x, y⟩ = u
    (``truncation_error``'s ``zonal``), with attrs truncation_rms (root mean square over u and
    pairs) and truncation_max (max over u and pairs of |κ_P − κ|).
    """
    activation, d, sigma = row(spec)
    ns = sorted({int(n) for n in spec["N"]})
    n_ref, P, layers = int(spec["N_ref"]), int(spec["P"]), int(spec["L"])
    replicas, horizon = int(spec["replicas"]), float(spec["T"])
    if max(ns) > n_ref:
        raise ValueError(f"N up to {max(ns)} exceeds N_ref = {n_ref}")
    base = (int(spec["seed"]), d)
    attn = identity_attention(spec, device)
    dt = horizon / layers
    rec = _record_layers(layers, int(spec.get("records", CHAOS_RECORDS)))
    floor_at = _record_layers(layers, int(spec["floor_times"]))
    sup_w2 = np.empty((len(ns), replicas))
    w2_final = np.empty((len(ns), replicas))
    sup_w2_half = np.empty((len(ns), replicas))
    floor = np.empty(replicas)
    ticker = Ticker(progress, replicas + 1)
    for r in range(replicas):
        parts = (*base, r)
        features = draw_features(P, d, sigma, parts).to(device)
        coeffs = draw_coefficients(P, d, layers, parts).to(device)

        def run(x: torch.Tensor, features: Any = features, coeffs: torch.Tensor = coeffs) -> Any:
            return simulate_particles(x, attn, dt, layers, features, coeffs, activation, sigma)

        ref_a = run(uniform_sphere(n_ref, d, *parts, "reference", 0, device=device))
        ref_b = run(uniform_sphere(n_ref, d, *parts, "reference", 1, device=device))
        pool = uniform_sphere(max(ns), d, *parts, "particles", device=device)
        ref_half = halved_reference(ref_a)
        for i, n in enumerate(ns):
            traj = run(pool[:n])
            path = w2_squared_path(traj, ref_a, rec.tolist())
            sup_w2[i, r], w2_final[i, r] = path.max(), path[-1]
            sup_w2_half[i, r] = sup_w2_squared(traj, ref_half, rec.tolist())
        floor[r] = reference_floor(ref_a, ref_b, floor_at.tolist())
        ticker.tick()
    trunc = truncation_error(
        draw_features(P, d, sigma, base, replicas=replicas),
        activation,
        d,
        sigma,
        sigma,
        us=DEFAULT_US,
        pairs=TRUNCATION_PAIRS,
        seed=base,
    )
    ticker.tick()
    rates = chaos_rates(np.asarray(ns), d)
    fours = [name for name in ("ambient", "intrinsic") if rates[name]["k"] == 4]
    note = (
        f"k = 4 ({', '.join(fours)}): r(N) = N^(-1/2) log(1+N); the exponent given is the "
        "nominal -1/2"
        if fours
        else "no log factor: k != 4 for both exponents"
    )
    times = ", ".join(f"{t:g}" for t in rec * dt)
    return xr.Dataset(
        {
            "sup_w2": _var(
                sup_w2,
                ("N", "replica"),
                f"sup over t in {{{times}}} of W2^2(mu^N_t, mu^N_ref_t)",
            ),
            "w2_final": _var(w2_final, ("N", "replica"), "W2^2(mu^N_T, mu^N_ref_T) at t = T"),
            "sup_w2_half": _var(
                sup_w2_half,
                ("N", "replica"),
                f"sup over t in {{{times}}} of W2^2(mu^N_t, mu^(N_ref/2)_t), the halved reference "
                f"being the first {n_ref // 2} tokens of the N_ref system (reference error by "
                "halving N_ref)",
            ),
            "floor": _var(
                floor,
                ("replica",),
                "reference floor: half sup over t in {"
                + ", ".join(f"{t:g}" for t in floor_at * dt)
                + "} of W2^2 between two independent references, same field (estimates "
                "W2^2(mu^N_ref, mu), not the bias at N << N_ref; information only)",
            ),
            "kappa_truncation": _var(
                trunc.zonal,
                ("u",),
                "|pair-averaged kappa_P(x, y) - kappa(u)|, <x, y> = u",
                truncation_rms=float(np.sqrt(np.mean(trunc.rms**2))),
                truncation_max=float(trunc.max_abs.max()),
            ),
        },
        coords={
            "N": ("N", np.asarray(ns), {"long_name": "number of tokens N", "units": "1"}),
            "replica": ("replica", np.arange(replicas), {"long_name": "replica", "units": "1"}),
            "u": ("u", np.asarray(DEFAULT_US), {"long_name": "inner product u", "units": "1"}),
        },
        attrs={
            **row_attrs(spec),
            "T": horizon,
            "N_ref": n_ref,
            "P": P,
            "L": layers,
            "kappa_1": float(kappa_one(activation, d, sigma, sigma)),
            "rate_ambient_exponent": float(rates["ambient"]["exponent"]),
            "rate_intrinsic_exponent": float(rates["intrinsic"]["exponent"]),
            "rate_note": note,
        },
    )
