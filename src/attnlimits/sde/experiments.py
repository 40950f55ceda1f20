"""Runners of experiment ``sde``: one xarray.Dataset per job (MODELS.md, ``sde``; SCHEMA of stores).

Each runner takes the job's plain ``spec`` and a torch device, composes the library pieces of
``attnlimits.sde`` and returns the Dataset of its store: named dims, coordinates, ``long_name`` and
``units`` on every variable, the scalar parameters of the schema as attrs. Provenance is added and
the file written by the caller. The same spec gives bit-identical datasets (every draw comes from
a keyed stream of ``attnlimits.seeding``; the computation order does not depend on timing).

* ``run_depth``: pathwise error E sup_l (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² of the L-layer model against the
  infinite-width reference with ``fine`` layers, all driven by the same fine Brownian increments
  (``coarsen``), and the successive differences of the fine ladder (the reference's own error).
  The fine grid is streamed in blocks: memory does not grow with ``fine`` (``_depth_ladder``).
* ``run_width``: the width-m model against the infinite-width field, same normals ξ (coupled).
* ``run_chaos``: sup_t W2²(μ^N_t, μ^{N_ref}_t) with one random-feature field for both systems,
  and against the halved reference (first N_ref/2 tokens; the reference's own error by halving).
* ``run_sync``: interaction energy e^{−β} E_β(μ_t) over paths, two-point Lyapunov run, pictures.
* ``run_kernel_table``: κ(1), κ′(1), λ₁, λ̄ over activation × d × σ (``exponents_table``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
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
from attnlimits.sde.discrete import brownian_normals, coarsen, simulate, uniform_tokens
from attnlimits.sde.dynamics import Head
from attnlimits.sde.features import DEFAULT_US, draw_coefficients, draw_features, truncation_error
from attnlimits.sde.field import (
    GaussianField,
    NoiseField,
    finite_width_field,
    infinite_width_covariance,
    zonal_kernel,
)
from attnlimits.sde.kernel import (
    coercivity_exponent,
    exponents_table,
    is_odd_field,
    kappa_one,
    kappa_prime_one,
    lyapunov_exponent,
)
from attnlimits.sde.limit import pathwise_error, reference_error_estimates, sup_mean_square
from attnlimits.sde.sync import energy_curve, energy_rate_bound, two_point_run
from attnlimits.seeding import generator, normal
from attnlimits.storage import variable as _var

Progress = Callable[[int, int], None]

X_REF_TIMES = 65
"""Equally spaced times of the depth store's reference sample ``x_ref_sample``."""
CHAOS_RECORDS = 9
"""Layer times at which the chaos runner measures W2² (``spec["records"]`` overrides)."""
SNAPSHOTS = 9
"""Snapshot times of the sync pictures, among the energy records (fewer if fewer records)."""
COSINE_PATHS = 64
"""The sync store pools the cosines of the first min(paths, COSINE_PATHS) paths."""
TRUNCATION_PAIRS = 128
"""Random pairs per u for the chaos store's truncation error of κ_P."""
BLOCK_NUMBERS = 2**22
"""Normals per block of the streamed fine grid in ``run_depth`` (32 MiB of float64)."""


# --------------------------------------------------------------------------- helpers


class _Ticker:
    """Counts units of work and calls ``progress(done, total)`` about every 1% (and at the end)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total = progress, max(1, int(total))
        self.done, self.last = 0, 0
        self.every = max(1, self.total // 100)

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None and (
            self.done - self.last >= self.every or self.done >= self.total
        ):
            self.last = self.done
            self.progress(min(self.done, self.total), self.total)


class _CountedField(NoiseField):
    """A noise field that reports every layer it samples to a ticker; values are the inner field's.

    Lets library loops that take a field but no progress callback (``simulate``,
    ``energy_curve``) report progress without changing what they compute.
    """

    def __init__(self, inner: NoiseField, ticker: _Ticker) -> None:
        self.inner, self.ticker = inner, ticker

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        return self.inner.covariance(y, layer)

    def sample(self, y: torch.Tensor, layer: int, xi: torch.Tensor) -> torch.Tensor:
        self.ticker.tick()
        return self.inner.sample(y, layer, xi)


def _row(spec: Mapping[str, Any]) -> tuple[str, int, float]:
    return str(spec["activation"]), int(spec["d"]), float(spec["sigma"])


def _exponents(activation: str, d: int, sigma: float) -> dict[str, float]:
    """κ(1), κ′(1), λ₁ = ((d−3)/2) κ′(1) − ((d−1)/2) κ(1), λ̄ = (d−1) κ′(1) − (d−3) κ(1)."""
    return {
        "kappa_1": float(kappa_one(activation, d, sigma, sigma)),
        "kappa_prime_1": float(kappa_prime_one(activation, d, sigma, sigma)),
        "lambda_1": float(lyapunov_exponent(activation, d, sigma, sigma)),
        "lambda_bar": float(coercivity_exponent(activation, d, sigma, sigma)),
    }


def _head(spec: Mapping[str, Any], device: torch.device | str) -> Head:
    """Q = K = V = I, inverse temperature β, attention term multiplied by ``attention_sign``."""
    return Head.identity(int(spec["d"]), float(spec["beta"]), float(spec["attention_sign"]), device)


def _row_attrs(spec: Mapping[str, Any]) -> dict[str, Any]:
    activation, d, sigma = _row(spec)
    return {
        "activation": activation,
        "d": d,
        "sigma": sigma,
        "attention_sign": int(spec["attention_sign"]),
        "beta": float(spec["beta"]),
    }


# --------------------------------------------------------------------------- depth


def brownian_blocks(
    seed: int,
    seeds: Sequence[int],
    steps: int,
    n: int,
    d: int,
    block: int,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """The normals of ``brownian_normals(seed, seeds, steps, n, d)`` in blocks (R, block, N, d).

    Same streams (seed r from ``generator(seed, "sde.brownian", seeds[r])``), drawn block after
    block: numpy fills standard normals sequentially, so the concatenated blocks equal the single
    draw bit for bit, without holding all ``steps`` at once.
    """
    if block < 1 or steps % block:
        raise ValueError(f"block = {block} must divide steps = {steps}")
    gens = [generator(seed, "sde.brownian", s) for s in seeds]
    for _ in range(steps // block):
        out = np.stack([g.standard_normal((block, n, d)) for g in gens])
        yield torch.as_tensor(out, dtype=torch.float64, device=device)


def _block_size(fine: int, strides: Sequence[int], per_step: int, budget: int) -> int:
    """Largest divisor B of ``fine`` with B·per_step ≤ budget that each stride r divides or is
    divided by (r | B: whole layers per block; B | r: a layer spans whole blocks)."""
    limit = max(1, budget // max(1, per_step))
    best = 1
    for b in range(1, min(fine, limit) + 1):
        if fine % b == 0 and all(r % b == 0 or b % r == 0 for r in strides):
            best = b
    return best


def _depth_ladder(
    x0: torch.Tensor,
    head: Head,
    horizon: float,
    field: NoiseField,
    blocks: Iterator[torch.Tensor],
    fine: int,
    layer_counts: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    block: int,
    sample_at: Sequence[int],
    ticker: _Ticker,
) -> tuple[dict[tuple[int, int], torch.Tensor], torch.Tensor]:
    """Run every model with L ∈ ``layer_counts`` layers on the same fine increments, streamed.

    Model L has Δ = T/L and layer noise ξ_l = Σ_{k ∈ layer l} ξ_fine[k] / sqrt(r), r = fine/L,
    exactly as ``simulate_depth`` (``coarsen`` + ``simulate``, one block at a time; a layer that
    spans several blocks sums its blocks' normals first). For every pair (lo, hi) (lo | hi) it
    returns, per seed, sup over lo's layer times of (1/N) Σᵢ |X_loⁱ − X_hiⁱ|², i.e.
    ``pathwise_error(path_lo, path_hi)``; and the fine model's seed-0 tokens at the fine indices
    ``sample_at``. Equal to the library composition up to the summation order of the layers that
    span blocks (bit for bit where r divides the block).
    """
    reps = x0.shape[0]
    state = {L: x0 for L in layer_counts}
    acc: dict[int, torch.Tensor] = {}
    sups = {p: torch.zeros(reps, dtype=torch.float64, device=x0.device) for p in pairs}
    wanted = {int(k) for k in sample_at}
    samples: dict[int, torch.Tensor] = {}
    if 0 in wanted:
        samples[0] = x0[0].clone()
    start = 0
    for xi in blocks:
        end = start + block
        times: dict[int, np.ndarray] = {}
        paths: dict[int, torch.Tensor] = {}
        for L in layer_counts:
            r = fine // L
            if block % r == 0:
                path = simulate(state[L], head, horizon / L, field, coarsen(xi, block // r))
                times[L] = np.arange(start + r, end + 1, r)
                paths[L] = path[:, 1:]
            else:
                acc[L] = acc[L] + xi.sum(1) if L in acc else xi.sum(1)
                if end % r:
                    continue
                xi_layer = (acc.pop(L) / math.sqrt(r)).unsqueeze(1)
                path = simulate(state[L], head, horizon / L, field, xi_layer)
                times[L] = np.array([end])
                paths[L] = path[:, 1:]
            state[L] = paths[L][:, -1].clone()
        for lo, hi in pairs:
            if lo not in times:
                continue
            rows = torch.as_tensor(np.searchsorted(times[hi], times[lo]), device=x0.device)
            gap = sup_mean_square(paths[lo], paths[hi][:, rows])
            sups[lo, hi] = torch.maximum(sups[lo, hi], gap)
        for k in sorted(wanted & set(range(start + 1, end + 1))):
            samples[k] = paths[fine][0, k - start - 1].clone()
        ticker.tick(block)
        start = end
    return sups, torch.stack([samples[int(k)] for k in sample_at])


def run_depth(
    spec: Mapping[str, Any],
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    *,
    block: int | None = None,
) -> xr.Dataset:
    """Depth store: err2(L, seed) = sup_l (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² against the fine reference.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N, L, fine, levels, seeds}.
    The reference X̄ is the infinite-width discrete model with ``fine`` layers (``limit.reference``);
    every model (coarse L, ladder fine/2, …, fine/2^levels) is driven by the same fine increments
    ``brownian_normals(seed, 0..R−1, fine, N, d)`` from X₀ = ``uniform_tokens(seed, 0..R−1, N, d)``.
    level_diff2(level, seed) is the successive difference of the ladder (level against 2·level);
    reference_error = rms(level fine/2)/(√2 − 1) (triangle bound), reference_error_orthogonal =
    rms(level fine/2)/√(2 − 1), as ``limit.successive_differences``. ``block`` fixes the number
    of fine steps streamed at once (default: as many as ``BLOCK_NUMBERS`` normals allow).
    """
    activation, d, sigma = _row(spec)
    n, fine, levels, reps = (
        int(spec["N"]),
        int(spec["fine"]),
        int(spec["levels"]),
        int(spec["seeds"]),
    )
    horizon, seed = float(spec["T"]), int(spec["seed"])
    coarse = sorted({int(L) for L in spec["L"]})
    if levels < 1:
        raise ValueError("the depth run needs levels >= 1 (the reference's own error)")
    ladder = [fine // 2**j for j in range(1, levels + 1)]
    if fine % 2**levels or any(fine % L for L in coarse):
        raise ValueError(f"every L {coarse} and 2^levels = {2**levels} must divide fine = {fine}")
    layer_counts = sorted({fine, *ladder, *coarse}, reverse=True)
    pairs = [(L, fine) for L in coarse] + [(lv, 2 * lv) for lv in ladder]
    strides = [fine // L for L in layer_counts]
    if block is None:
        block = _block_size(fine, strides, reps * n * d, BLOCK_NUMBERS)
    elif fine % block or any(r % block and block % r for r in strides):
        raise ValueError(f"block {block} does not fit fine = {fine} and strides {strides}")

    kappa = zonal_kernel(activation, d, sigma, sigma)
    seeds = list(range(reps))
    x0 = uniform_tokens(seed, seeds, n, d, device)
    sample_at = np.rint(np.linspace(0, fine, X_REF_TIMES)).astype(np.int64)
    ticker = _Ticker(progress, fine)
    sups, x_ref_sample = _depth_ladder(
        x0,
        _head(spec, device),
        horizon,
        GaussianField(kappa),
        brownian_blocks(seed, seeds, fine, n, d, block, device),
        fine,
        layer_counts,
        pairs,
        block,
        sample_at,
        ticker,
    )
    err2 = torch.stack([sups[L, fine] for L in coarse])
    level_diff2 = torch.stack([sups[lv, 2 * lv] for lv in ladder])
    triangle, orthogonal = reference_error_estimates(
        math.sqrt(float(level_diff2[0].mean())), fine / ladder[0]
    )
    ds = xr.Dataset(
        {
            "err2": _var(
                err2,
                ("L", "seed"),
                "sup over layer times t_l of (1/N) sum_i |X_l^i - Xref^i(t_l)|^2",
            ),
            "level_diff2": _var(
                level_diff2,
                ("level", "seed"),
                "sup over the level's layer times of (1/N) sum_i |X_level^i - X_(2 level)^i|^2",
            ),
            "reference_error": _var(
                triangle,
                (),
                "reference RMS error estimate, triangle bound rms(diff fine/2)/(sqrt(2) - 1)",
            ),
            "reference_error_orthogonal": _var(
                orthogonal,
                (),
                "reference RMS error estimate, orthogonal differences rms(diff fine/2)",
            ),
            "x0": _var(x0, ("seed", "token", "component"), "initial tokens X_0"),
            "x_ref_sample": _var(
                x_ref_sample, ("time", "token", "component"), "reference tokens of seed 0"
            ),
        },
        coords={
            "L": ("L", np.asarray(coarse), {"long_name": "number of layers L", "units": "1"}),
            "seed": ("seed", np.arange(reps), {"long_name": "seed index", "units": "1"}),
            "level": (
                "level",
                np.asarray(ladder),
                {"long_name": "layers of the ladder level (compared with 2 level)", "units": "1"},
            ),
            "time": (
                "time",
                sample_at * horizon / fine,
                {"long_name": "time t of the reference sample", "units": "1"},
            ),
        },
        attrs={
            **_row_attrs(spec),
            "T": horizon,
            "N": n,
            "fine": fine,
            **{k: v for k, v in _exponents(activation, d, sigma).items() if k != "kappa_prime_1"},
        },
    )
    return ds


# --------------------------------------------------------------------------- width


def run_width(
    spec: Mapping[str, Any], device: torch.device | str = "cpu", progress: Progress | None = None
) -> xr.Dataset:
    """Width store: err2(m, seed) = sup_l (1/N) Σᵢ |X_{m,l}ⁱ − X_{∞,l}ⁱ|², same normals ξ.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N, L, m, seeds}. Both models run
    ``simulate`` with Δ = T/L on ξ = ``brownian_normals(seed, 0..R−1, L, N, d)``, the width-m one
    with S_m(Y) = C_m(Y)^{1/2} (``finite_width_field``: U, b_U fresh per layer and seed, nested in
    m), the limit with S(Y) = K(Y)^{1/2}. cov_rel_err(m, seed) = ‖C_m(X₀) − K(X₀)‖_F / ‖K(X₀)‖_F
    with the weights of layer 0.
    """
    activation, d, sigma = _row(spec)
    n, layers, reps, seed = int(spec["N"]), int(spec["L"]), int(spec["seeds"]), int(spec["seed"])
    horizon = float(spec["T"])
    widths = sorted({int(m) for m in spec["m"]})
    seeds = list(range(reps))
    kappa = zonal_kernel(activation, d, sigma, sigma)
    head = _head(spec, device)
    x0 = uniform_tokens(seed, seeds, n, d, device)
    xi = brownian_normals(seed, seeds, layers, n, d, device)
    ticker = _Ticker(progress, layers * (1 + len(widths)))
    dt = horizon / layers
    x_inf = simulate(x0, head, dt, _CountedField(GaussianField(kappa), ticker), xi)
    k0 = infinite_width_covariance(x0, kappa)
    err2, cov = [], []
    for m in widths:
        fw = finite_width_field(kappa, m, seed, seeds)
        x_m = simulate(x0, head, dt, _CountedField(fw, ticker), xi)
        err2.append(pathwise_error(x_m, x_inf))
        c0 = fw.covariance(x0, 0)
        cov.append(torch.linalg.matrix_norm(c0 - k0, "fro") / torch.linalg.matrix_norm(k0, "fro"))
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
            **_row_attrs(spec),
            "T": horizon,
            "N": n,
            "L": layers,
            **{k: v for k, v in _exponents(activation, d, sigma).items() if k != "kappa_prime_1"},
        },
    )


# --------------------------------------------------------------------------- chaos


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
    activation, d, sigma = _row(spec)
    ns = sorted({int(n) for n in spec["N"]})
    n_ref, P, layers = int(spec["N_ref"]), int(spec["P"]), int(spec["L"])
    replicas, horizon = int(spec["replicas"]), float(spec["T"])
    if max(ns) > n_ref:
        raise ValueError(f"N up to {max(ns)} exceeds N_ref = {n_ref}")
    base = (int(spec["seed"]), d)
    head = _head(spec, device)
    dt = horizon / layers
    rec = _record_layers(layers, int(spec.get("records", CHAOS_RECORDS)))
    floor_at = _record_layers(layers, int(spec["floor_times"]))
    sup_w2 = np.empty((len(ns), replicas))
    w2_final = np.empty((len(ns), replicas))
    sup_w2_half = np.empty((len(ns), replicas))
    floor = np.empty(replicas)
    ticker = _Ticker(progress, replicas + 1)
    for r in range(replicas):
        parts = (*base, r)
        features = draw_features(P, d, sigma, parts).to(device)
        coeffs = draw_coefficients(P, d, layers, parts).to(device)

        def run(x: torch.Tensor, features: Any = features, coeffs: torch.Tensor = coeffs) -> Any:
            return simulate_particles(x, head, dt, layers, features, coeffs, activation, sigma)

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
            **_row_attrs(spec),
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


# --------------------------------------------------------------------------- sync


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


def _snapshots(
    x0: torch.Tensor,
    head: Head,
    field: NoiseField,
    dt: float,
    at: Sequence[int],
    seed: int,
    paths: int,
) -> torch.Tensor:
    """Tokens of the first ``paths`` paths of ``energy_curve`` at layers ``at`` (snap, paths, N, d).

    Re-runs ``simulate`` layer block by layer block on the same normals as ``energy_curve``
    (layer ℓ: the first ``paths`` rows of ``normal((P, N, d), seed, "sde.sync", N, d, ℓ)``).
    """
    total, n, d = x0.shape
    x = x0[:paths]
    out = []
    done = 0
    for stop in at:
        if stop == done:
            out.append(x)
            continue
        xi = torch.stack(
            [normal((total, n, d), seed, "sde.sync", n, d, k)[:paths] for k in range(done, stop)], 1
        ).to(x0.device)
        x = simulate(x, head, dt, field, xi)[:, -1]
        out.append(x)
        done = stop
    return torch.stack(out)


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
    (1/Δ₂) log E[(r′/ε)²] → λ̄). rate_bound is λ̄′ = −inf F(u) (``energy_rate_bound``).
    """
    activation, d, sigma = _row(spec)
    n, paths, seed, beta = (
        int(spec["N"]),
        int(spec["paths"]),
        int(spec["seed"]),
        float(spec["beta"]),
    )
    sign = int(spec["attention_sign"])
    ex = _exponents(activation, d, sigma)
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
    head = _head(spec, device)
    recorded = np.arange(0, layers + 1, record_every)
    snap_layers = recorded[
        np.unique(np.rint(np.linspace(0, len(recorded) - 1, SNAPSHOTS)).astype(np.int64))
    ]
    pooled = min(paths, COSINE_PATHS)
    ticker = _Ticker(progress, layers + int(snap_layers[-1]) + (1 if sign == 0 else 0))

    x0 = uniform_tokens(seed, list(range(paths)), n, d, device)
    field = _CountedField(GaussianField(kappa), ticker)
    curve = energy_curve(x0, head, field, dt, layers, seed, record_every)
    snaps = _snapshots(x0, head, field, dt, snap_layers.tolist(), seed, pooled)
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
        run = two_point_run(
            d,
            ex["kappa_1"],
            ex["kappa_prime_1"],
            tp_dt,
            int(tp["steps"]),
            int(tp["paths"]),
            seed,
            float(tp["eps"]),
            device,
        )
        ticker.tick()
        logs = run.log_ratios
        data["lyap_per_path"] = _var(
            logs.sum(1) / (logs.shape[1] * run.dt),
            ("path2",),
            "two-point pathwise exponent (1/(steps dt)) sum log(r'/eps) of each path",
        )
        data["moment_ratio_sq"] = _var(
            torch.exp(2.0 * logs).mean(1),
            ("path2",),
            "mean over steps of (r'/eps)^2 of each two-point path",
        )
    return xr.Dataset(
        data,
        coords={"time": ("time", curve.t, {"long_name": "time t (absolute)", "units": "1"})},
        attrs={
            **_row_attrs(spec),
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


# --------------------------------------------------------------------------- kernel table


def run_kernel_table(spec: Mapping[str, Any]) -> pd.DataFrame:
    """κ(1), κ′(1), λ₁, λ̄, oddness and the synchronization condition (``exponents_table``).

    spec = {activations, dims, sigmas, mc_samples, seed}; σ_U = σ_W = σ.
    """
    return exponents_table(
        spec["activations"],
        spec["dims"],
        spec["sigmas"],
        samples=int(spec["mc_samples"]),
        seed=int(spec["seed"]),
    )
