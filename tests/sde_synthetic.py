"""Synthetic stores of experiment ``sde`` with known exponents, for the claims and plots tests.

They follow the store contract (variables, dims, attrs) of the runners; the values are drawn
from simple laws with multiplicative log-normal noise of mean 1, so that the means over seeds,
replicas or paths follow the laws exactly in expectation:

- depth: err2(L, seed) = (a L^p)² ξ, so the RMS error over seeds has slope p in L;
- width: err2(m, seed) = (a m^p)² ξ;
- chaos: sup_w2(N, replica) = a N^p ξ, floor(replica) = f ξ, and optionally sup_w2_half(N,
  replica) = sup_w2 + e_N, so that the halving reference error is exactly e_N on every replicate;
- sync: energy(path, time) = E₀ e^(rate t) ξ_path ξ_(path, time); lyap_per_path = λ₁ (1 + s z);
  moment_ratio_sq = e^(λ̄ dt) ξ (small spread).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from attnlimits.sde.chaos import chaos_rates

#: Halving reference errors of the d = 3 chaos store of ``synthetic_stores`` (N = 16..512): only
#: N = 512 (mean sup W2² ≈ 0.044) lies within 10× of its own.
CHAOS_REFERENCE_ERROR = (1e-4, 1e-4, 2e-4, 2e-4, 5e-4, 1e-2)


def _noise(rng: np.random.Generator, spread: float, shape: tuple[int, ...]) -> np.ndarray:
    """Log-normal factors of mean 1."""
    return np.exp(spread * rng.standard_normal(shape) - 0.5 * spread**2)


def _var(dims: tuple[str, ...], values: np.ndarray, name: str, units: str = "1") -> xr.Variable:
    return xr.Variable(dims, values, attrs={"long_name": name, "units": units})


def _sphere(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _row_attrs(activation: str, d: int, sigma: float, sign: int) -> dict[str, object]:
    """Attrs common to the stores, with exponents of a made-up kernel."""
    return {
        "activation": activation,
        "d": d,
        "sigma": sigma,
        "attention_sign": sign,
        "beta": 1.0,
        "kappa_1": 1.2,
    }


def synthetic_depth(
    activation: str = "tanh",
    d: int = 5,
    sigma: float = 0.1,
    attention_sign: int = 1,
    L: Sequence[int] = (4, 8, 16, 32, 64),
    seeds: int = 32,
    slope: float = -0.5,
    scale: float = 0.3,
    reference_error: float = 1e-4,
    fine: int = 1024,
    levels: int = 3,
    N: int = 8,
    spread: float = 0.2,
    seed: int = 0,
) -> xr.Dataset:
    """A depth store whose RMS error is ``scale`` L^``slope``."""
    rng = np.random.default_rng([seed, d, attention_sign + 1])
    L = np.asarray(sorted(L))
    level = np.asarray([fine // 2**k for k in range(1, levels + 1)])
    err2 = (scale * L[:, None] ** slope) ** 2 * _noise(rng, spread, (len(L), seeds))
    diff2 = (scale * level[:, None] ** slope) ** 2 * _noise(rng, spread, (levels, seeds))
    x0 = _sphere(rng, (seeds, N, d))
    path = x0[0] + 0.1 * rng.standard_normal((65, N, d)).cumsum(axis=0)
    path /= np.linalg.norm(path, axis=-1, keepdims=True)
    return xr.Dataset(
        {
            "err2": _var(("L", "seed"), err2, "sup over layers of the mean squared error"),
            "level_diff2": _var(("level", "seed"), diff2, "sup of the level differences"),
            "reference_error": _var((), np.float64(reference_error), "reference RMS error"),
            "reference_error_orthogonal": _var(
                (), np.float64(reference_error / 2), "reference RMS error, orthogonal"
            ),
            "x0": _var(("seed", "token", "component"), x0, "initial tokens"),
            "x_ref_sample": _var(("time", "token", "component"), path, "reference path"),
        },
        coords={"L": L, "seed": np.arange(seeds), "level": level, "time": np.linspace(0, 1, 65)},
        attrs={
            **_row_attrs(activation, d, sigma, attention_sign),
            "T": 1.0,
            "N": N,
            "fine": fine,
            "lambda_1": -1.0,
            "lambda_bar": -0.5,
        },
    )


def synthetic_width(
    activation: str = "tanh",
    d: int = 5,
    sigma: float = 0.1,
    attention_sign: int = 1,
    m: Sequence[int] = (16, 64, 256, 1024),
    seeds: int = 32,
    slope: float = -0.5,
    scale: float = 2.0,
    spread: float = 0.2,
    seed: int = 1,
) -> xr.Dataset:
    """A width store whose RMS error is ``scale`` m^``slope``."""
    rng = np.random.default_rng([seed, d, attention_sign + 1])
    m = np.asarray(sorted(m))
    err2 = (scale * m[:, None] ** slope) ** 2 * _noise(rng, spread, (len(m), seeds))
    cov = m[:, None] ** -0.5 * _noise(rng, spread, (len(m), seeds))
    return xr.Dataset(
        {
            "err2": _var(("m", "seed"), err2, "sup over layers of the mean squared error"),
            "cov_rel_err": _var(("m", "seed"), cov, "relative covariance error"),
        },
        coords={"m": m, "seed": np.arange(seeds)},
        attrs={
            **_row_attrs(activation, d, sigma, attention_sign),
            "T": 1.0,
            "N": 8,
            "L": 16,
            "lambda_1": -1.0,
            "lambda_bar": -0.5,
        },
    )


def synthetic_chaos(
    d: int = 3,
    N: Sequence[int] = (16, 32, 64, 128, 256, 512),
    replicas: int = 16,
    slope: float = -0.5,
    scale: float = 1.0,
    floor: float = 1e-3,
    reference_error: float | Sequence[float] | None = None,
    spread: float = 0.2,
    seed: int = 2,
) -> xr.Dataset:
    """A chaos store with E sup W2² = ``scale`` N^``slope`` and a mean floor ``floor``.

    ``reference_error`` (one value, or one per sorted N): add ``sup_w2_half`` = sup_w2 + it, so
    that |mean sup_w2 − mean sup_w2_half| is exactly it; None gives a store without sup_w2_half
    (as written before the halving measurement existed).
    """
    rng = np.random.default_rng([seed, d])
    N = np.asarray(sorted(N))
    sup = scale * N[:, None] ** slope * _noise(rng, spread, (len(N), replicas))
    half = {}
    if reference_error is not None:
        shift = np.broadcast_to(np.asarray(reference_error, float), (len(N),))[:, None]
        half["sup_w2_half"] = _var(
            ("N", "replica"), sup + shift, "sup W2^2 to the halved reference"
        )
    u = np.linspace(-1.0, 1.0, 21)
    trunc = 0.01 * (1.0 + u**2)
    rates = chaos_rates(N, d)
    attrs = {
        **_row_attrs("relu", d, 0.0, 1),
        "T": 1.0,
        "N_ref": 2048,
        "P": 1024,
        "L": 32,
        "rate_ambient_exponent": rates["ambient"]["exponent"],
        "rate_intrinsic_exponent": rates["intrinsic"]["exponent"],
    }
    if 4 in (d, d - 1):
        attrs["rate_note"] = "k = 4: nominal -1/2, r(N) = N^(-1/2) log(1+N)"
    return xr.Dataset(
        {
            "sup_w2": _var(("N", "replica"), sup, "sup over layer times of W2^2"),
            "w2_final": _var(("N", "replica"), 0.5 * sup, "W2^2 at t = T"),
            "floor": _var(("replica",), floor * _noise(rng, spread, (replicas,)), "floor"),
            **half,
            "kappa_truncation": xr.Variable(
                ("u",),
                trunc,
                attrs={
                    "long_name": "pair-averaged |kappa_P - kappa|",
                    "units": "1",
                    "truncation_rms": float(np.sqrt(np.mean(trunc**2))),
                    "truncation_max": float(trunc.max()),
                },
            ),
        },
        coords={"N": N, "replica": np.arange(replicas), "u": u},
        attrs=attrs,
    )


def synthetic_sync(
    activation: str = "tanh",
    d: int = 5,
    sigma: float = 0.1,
    attention_sign: int = 0,
    rate: float = -1.0,
    lambda_bar: float = -1.0,
    lambda_1: float = -0.8,
    rate_bound: float = -0.6,
    odd_field: bool = False,
    paths: int = 64,
    path2: int = 64,
    N: int = 8,
    horizon: float = 12.0,
    times: int = 121,
    two_point_dt: float = 0.01,
    spread: float = 0.5,
    seed: int = 3,
) -> xr.Dataset:
    """A sync store whose mean energy decays at ``rate`` (tokens contract when rate < 0)."""
    rng = np.random.default_rng([seed, d, attention_sign + 1])
    t = np.linspace(0.0, horizon, times)
    energy = (
        0.3
        * np.exp(rate * t)[None, :]
        * _noise(rng, spread, (paths, 1))
        * _noise(rng, 0.05, (paths, times))
    )
    snapshot_time = np.linspace(0.0, horizon, 9)
    pooled = 4
    centre = _sphere(rng, (pooled, 1, d))
    x0 = _sphere(rng, (pooled, N, d))
    shrink = np.exp(0.5 * min(rate, 0.0) * snapshot_time)[:, None, None, None]
    wander = 0.0 if rate < 0 else 0.3
    tokens = centre + shrink * (x0 - centre) + wander * rng.standard_normal((9, pooled, N, d))
    tokens /= np.linalg.norm(tokens, axis=-1, keepdims=True)  # (snapshot, pooled, N, d)
    i, j = np.triu_indices(N, 1)
    cos = np.einsum("spnk,spmk->spnm", tokens, tokens)[:, :, i, j].reshape(9, -1)
    sync = bool(lambda_bar < 0 and not odd_field)
    data = {
        "energy": _var(("path", "time"), energy, "interaction energy e^-beta E_beta"),
        "tokens_sample": _var(("snapshot", "token", "component"), tokens[:, 0], "tokens"),
        "cosines": _var(("snapshot", "pair"), np.clip(cos, -1, 1), "pairwise cosines"),
        "snapshot_time": _var(("snapshot",), snapshot_time, "time of the snapshot"),
    }
    if attention_sign == 0:
        lyap = lambda_1 * (1.0 + 0.1 * rng.standard_normal(path2))
        moment = np.exp(lambda_bar * two_point_dt) * _noise(rng, 0.001, (path2,))
        data["lyap_per_path"] = _var(("path2",), lyap, "pathwise Lyapunov exponent")
        data["moment_ratio_sq"] = _var(("path2",), moment, "mean of (r'/eps)^2")
    return xr.Dataset(
        data,
        coords={
            "path": np.arange(paths),
            "time": t,
            "path2": np.arange(path2),
            "snapshot": np.arange(9),
            "token": np.arange(N),
            "component": np.arange(d),
        },
        attrs={
            **_row_attrs(activation, d, sigma, attention_sign),
            "N": N,
            "dt": horizon / (times - 1) / 10,
            "horizon": horizon,
            "kappa_prime_1": 0.4,
            "lambda_1": lambda_1,
            "lambda_bar": lambda_bar,
            "rate_bound": rate_bound,
            "odd_field": odd_field,
            "synchronization": sync,
            "two_point_dt": two_point_dt,
        },
    )


def synthetic_stores() -> dict[str, list[xr.Dataset]]:
    """A small set of every kind: two rows × signs, two chaos dimensions.

    - depth: row (tanh, 5, 0.1) sign +1 with slope −1/2 (reference far below); sign 0 with slope
      −1 (sharper) and a reference error that excludes the deepest cell; row (relu, 64, 0.1) sign
      +1 with slope −1/4 (violated).
    - width: slope −1/2 for (tanh, 5), −1/4 for (relu, 64).
    - chaos: d = 3 with slope −1/2 and its largest N within 10× of its halving reference error
      (a floor that would exclude every N ≥ 32 is not used); d = 6 without sup_w2_half (the floor
      rule, excluding nothing) with slope −0.4 (sharper than the ambient −1/3, consistent with
      the intrinsic −2/5).
    - sync: (tanh, 5) clusters for signs +1, 0 (rate −1 = λ̄) and −1; (relu, 64) with λ̄ > 0
      does not cluster (rate 0), sign 0 and +1 (λ̄′ > 0).
    - joint_width: (tanh, 5) on the additive laws ``JOINT_LAYERS`` (no log) and ``JOINT_PATH``
      (with a log); (relu, 5) with a cross term −2 g/L on the path. joint_tokens: (tanh, 5).
    - odd: (tanh, 4) odd with two antipodal clusters at the end; (sigmoid, 4) one cluster.
    """
    depth = [
        synthetic_depth(attention_sign=1),
        synthetic_depth(attention_sign=0, slope=-1.0, reference_error=1e-3, L=(4, 8, 16, 32)),
        synthetic_depth(activation="relu", d=64, attention_sign=1, slope=-0.25),
    ]
    width = [synthetic_width(), synthetic_width(activation="relu", d=64, slope=-0.25)]
    chaos = [
        synthetic_chaos(d=3, floor=0.02, reference_error=CHAOS_REFERENCE_ERROR),
        synthetic_chaos(d=6, slope=-0.4, floor=1e-5),
    ]
    flat = {"activation": "relu", "d": 64, "rate": 0.0, "lambda_bar": 0.5, "lambda_1": -0.2}
    flat["rate_bound"] = 0.7
    sync = [
        synthetic_sync(attention_sign=1, rate=-1.2),
        synthetic_sync(attention_sign=0, rate=-1.0),
        synthetic_sync(attention_sign=-1, rate=-0.3),
        synthetic_sync(attention_sign=0, **flat),
        synthetic_sync(attention_sign=1, **flat),
    ]
    crossed = synthetic_joint(activation="relu", path=(0.6, 0.15, 0.8, -2.0))
    joint_width = [synthetic_joint(), crossed]
    joint_tokens = [synthetic_joint(axis="N", values=(4, 8, 16))]
    odd = [synthetic_odd(), synthetic_odd(activation="sigmoid", odd=False, clusters=1)]
    return {
        "depth": depth, "width": width, "chaos": chaos, "sync": sync,
        "joint_width": joint_width, "joint_tokens": joint_tokens, "odd": odd,
    }  # fmt: skip


#: Coefficients (of 1/L, log L / L, g, g/L) of the laws of ``synthetic_joint``'s two quantities.
JOINT_LAYERS, JOINT_PATH = (0.05, 0.0, 0.7, 0.0), (0.6, 0.15, 0.6, 0.0)


def joint_law(L: np.ndarray, g: np.ndarray, theta: Sequence[float]) -> np.ndarray:
    """θ₀/L + θ₁ log L / L + θ₂ g + θ₃ g/L."""
    return theta[0] / L + theta[1] * np.log(L) / L + theta[2] * g + theta[3] * g / L


def synthetic_joint(
    activation: str = "tanh",
    axis: str = "m",
    values: Sequence[float] = (16, 64, 256, 1024, np.inf),
    L: Sequence[int] = (2, 4, 8, 16, 32),
    layers: Sequence[float] = JOINT_LAYERS,
    path: Sequence[float] = JOINT_PATH,
    seeds: int = 32,
    reference_error: float = 1e-5,
    spread: float = 0.2,
    seed: int = 7,
) -> xr.Dataset:
    """A joint store (``runs.joint``) whose seeds scatter around the laws ``layers`` and ``path``
    (log-normal factors of mean 1): err2(L, x, seed) = law(L, 1/x) ξ."""
    rng = np.random.default_rng(seed)
    x = np.asarray(values, float)
    grid_L, grid_x = np.meshgrid(np.asarray(L, float), x, indexing="ij")
    g = np.where(np.isfinite(grid_x), 1.0 / grid_x, 0.0)
    dims = ("L", axis, "seed")

    def draw(theta: Sequence[float]) -> np.ndarray:
        law = joint_law(grid_L, g, theta)[..., None]
        return law * _noise(rng, spread, (*law.shape[:2], seeds))

    ds = xr.Dataset(
        {
            "err2_layers": _var(dims, draw(layers), "sup over layer times"),
            "err2_path": _var(dims, draw(path), "sup over the interpolated path"),
            "reference_error": _var((), np.float64(reference_error), "reference RMS error"),
        },
        coords={"L": ("L", np.asarray(L)), axis: (axis, x), "seed": ("seed", np.arange(seeds))},
        attrs={**_row_attrs(activation, 5, 0.1, 1), "lambda_bar": 0.3, "lambda_1": -0.2},
    )
    if axis == "N":
        ds["reference_error_by_N"] = _var(("N",), np.full(len(x), reference_error), "by N")
    return ds


def synthetic_odd(
    activation: str = "tanh",
    odd: bool = True,
    clusters: int = 2,
    sign: int = 0,
    lambda_bar: float = -0.3,
    paths: int = 16,
    n: int = 6,
    d: int = 4,
    times: int = 4,
    seed: int = 11,
) -> xr.Dataset:
    """An odd store (``runs.odd``): tokens uniform at every time but the last, where each path
    has its tokens within 0.01 rad of ±p (``clusters`` = 2: the first two tokens at −p) or of p
    (``clusters`` = 1), p uniform per path, or uniform still (``clusters`` = 0)."""
    rng = np.random.default_rng(seed)
    tokens = _sphere(rng, (times, paths, n, d))
    p = _sphere(rng, (paths, 1, d))
    final = p + 0.002 * rng.standard_normal((paths, n, d))
    if clusters == 2:
        final[:, :2] *= -1.0
    tokens[-1] = final / np.linalg.norm(final, axis=-1, keepdims=True)
    if clusters == 0:  # not clustered: uniform at the last time too
        tokens[-1] = _sphere(rng, (paths, n, d))
    energy = rng.uniform(0.1, 0.3, (paths, times))
    return xr.Dataset(
        {
            "tokens": _var(("time", "path", "token", "component"), tokens, "tokens"),
            "energy": _var(("path", "time"), energy, "energy"),
        },
        coords={"time": ("time", np.arange(times) * 10.0)},
        attrs={
            **_row_attrs(activation, d, 0.0, sign),
            "lambda_bar": lambda_bar,
            "lambda_1": -0.2,
            "odd_field": odd,
        },
    )
