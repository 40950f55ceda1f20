"""Claims and tables of the joint (L, m) and (L, N) grids of experiment ``sde``.

Inputs are the stores of ``runs.joint`` (``err2_layers``, ``err2_path`` over (L, m or N, seed));
``t`` is the fit's row collector (``claims._Tables``: bootstrap weights over seeds, options
``sde.fits``). Per store and quantity (``mse_layers``: sup over layer times; ``mse_path``: sup
over the interpolated path), the mean-square error E(L, x) = Σ_s w_s err2 on every replicate,
its grid points within ``floor_factor`` × the reference's RMS error (on sqrt E) left out, and
the laws of :mod:`attnlimits.sde.joint_fits` fitted with g = 1/m (width grid) or g = 1/N (token
grid). Claims (one row each per store, on the quantity named):

- ``joint_bound`` (``mse_path``, P2.strong): E ≤ C r with r = log L / L + 1/m (width grid) or
  log L / L (token grid, infinite width): the power law of E against x = 1/r, predicted exponent
  −1, judged as a bound (the constant E·x must not grow towards large x);
- ``joint_log`` (``mse_path``, sign): the log's share of the depth term at the largest L in the
  ``log`` law, θ₁ log L / (θ₀ + θ₁ log L), is positive;
- ``joint_log_layers`` (``mse_layers``, value): the same share is 0 over layer times
  (``tolerance_joint``);
- ``joint_commute`` (both quantities, value): the share of the cross term θ₃ g/L of the ``cross``
  law at the coarsest point (smallest L, largest g) is 0 (``tolerance_joint``): the limits in L
  and in m (or N) commute.

Tables: ``joint_laws`` (per store, quantity and law: coefficients with intervals, weighted RSS,
AIC and its difference to the best law, RMS of the log residuals) and ``joint_points`` (every
grid point with its interval, whether it was left out, and each law's value there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.claims import Claim
from attnlimits.analysis.statistics import replicate_interval, scalar_interval
from attnlimits.sde.joint_fits import BASES, LAWS, LawFit, cross_share, fit_law, log_share
from attnlimits.sde.statements import STRONG

#: The grid of each joint store kind: its second axis and that axis' name in the tables.
GRIDS = {"joint_width": ("m", "width"), "joint_tokens": ("N", "tokens")}
QUANTITIES = {"mse_layers": "err2_layers", "mse_path": "err2_path"}
#: The sup each quantity takes (the claims' ``sup`` column, part of the verdict's setting).
SUPS = {"mse_layers": "layer times", "mse_path": "interpolated path"}
#: Residual degrees of freedom a law's fit must keep for its value claims to be resolved.
MIN_DOF = 2
_LOG_WHERE = (
    "docs/mathematics.md, sde: the log disappears when the sup runs over layer times only (the "
    "oscillation of the reference within a layer, maximal over L layers, grows like Δ log L)"
)
JOINT_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "joint_bound", "bound", "paper",
        "sup over the interpolated path: E ≤ c (log L / L + 1/m) on the joint grid",
        statement=STRONG, tolerance="tolerance_depth",
    ),
    Claim(
        "joint_log", "sign", "derived",
        "the sup over the interpolated path carries a log L: the log's share at the largest L > 0",
        where=_LOG_WHERE, direction=1,
    ),
    Claim(
        "joint_log_layers", "value", "derived",
        "the sup over layer times carries no log L: the log's share at the largest L = 0",
        where=_LOG_WHERE, tolerance="tolerance_joint",
    ),
    Claim(
        "joint_commute", "value", "derived",
        "the limits commute: the cross term's share at the coarsest grid point = 0",
        where=(
            "docs/mathematics.md, sde: the additive bound c (log L / L + 1/m) read as an expansion"
        ),
        tolerance="tolerance_joint",
    ),
)  # fmt: skip
_KEYS = ["activation", "d", "sigma", "attention_sign"]
_COEFFICIENTS = [f"{b}{s}" for b in BASES for s in ("", "_low", "_high")]
JOINT_COLUMNS: dict[str, list[str]] = {
    "joint_laws": [
        *_KEYS, "grid", "quantity", "law", "n_points", *_COEFFICIENTS, "rss", "aic", "delta_aic",
        "rms_log",
    ],
    "joint_points": [
        *_KEYS, "grid", "quantity", "L", "axis", "x", "y", "y_low", "y_high", "excluded",
        *LAWS,
    ],
}  # fmt: skip


def _value_row(reps: np.ndarray, level: float, fit: LawFit, note: str) -> dict[str, Any]:
    """The columns of a value claim on the share ``reps`` (replicates) of the law ``fit``, with
    its ``note``: unresolved where the law could not be fitted (too few points left after
    exclusions)."""
    lo, hi = scalar_interval(reps, level)
    row = {
        "predicted": 0.0, "fitted": float(reps[0]), "ci_low": lo, "ci_high": hi,
        "n_points": fit.n_points, "note": note,
    }  # fmt: skip
    need = len(fit.names) + MIN_DOF
    if not np.isfinite(reps[0]) or fit.n_points < need:
        row.update(
            resolved=False,
            note=f"the {fit.law} law needs {need} points, {fit.n_points} left; {note}",
        )
    return row


def _law_rows(
    t: Any, keys: Mapping[str, Any], grid: str, quantity: str, laws: dict[str, LawFit]
) -> None:
    best = min((f.aic for f in laws.values() if np.isfinite(f.aic)), default=np.nan)
    for name, f in laws.items():
        row: dict[str, Any] = {**keys, "grid": grid, "quantity": quantity, "law": name}
        for b in BASES:
            i = f.names.index(b) if b in f.names else None
            row[b] = float(f.theta[i]) if i is not None else np.nan
            row[f"{b}_low"] = float(f.ci[i, 0]) if i is not None else np.nan
            row[f"{b}_high"] = float(f.ci[i, 1]) if i is not None else np.nan
        row.update(
            n_points=f.n_points, rss=f.rss, aic=f.aic, delta_aic=f.aic - best, rms_log=f.rms_log
        )
        t.rows["joint_laws"].append(row)


def joint_rows(t: Any, ds: xr.Dataset, keys: Mapping[str, Any], kind: str) -> None:
    """The claims, ``joint_laws`` and ``joint_points`` rows of one joint store (module
    docstring); ``keys`` the store's row (``claims.store_keys``), ``kind`` its job kind."""
    axis, grid = GRIDS[kind]
    opt, level = t.options, t.level
    replicates = int(opt["law_replicates"])
    L_axis = ds["L"].values.astype(float)
    x_axis = ds[axis].values.astype(float)
    L, x = (a.ravel() for a in np.meshgrid(L_axis, x_axis, indexing="ij"))
    g = np.where(np.isfinite(x), 1.0 / x, 0.0)
    w = t.weights(ds.sizes["seed"])
    if "reference_error_by_N" in ds and axis == "N":
        by_n = ds["reference_error_by_N"].transpose("N").values.astype(float)
        ref = np.broadcast_to(by_n, (len(L_axis), len(x_axis))).ravel()
    else:
        ref = np.full(len(L), float(ds["reference_error"]))
    factor = float(opt["floor_factor"])
    note = f"points with sqrt(E) <= {factor:g} x the reference's RMS error excluded"
    coarsest = (float(L.min()), float(g.max()))
    for quantity, name in QUANTITIES.items():
        where = {"grid": grid, "sup": SUPS[quantity], "quantity": quantity}
        err2 = ds[name].transpose("L", axis, "seed").values.reshape(len(L), -1)
        y = w @ err2.T  # (B+1, n)
        excluded = ~(np.sqrt(np.maximum(y[0], 0.0)) > factor * ref)
        laws = {law: fit_law(law, L, g, y, excluded, level, replicates) for law in LAWS}
        _law_rows(t, keys, grid, quantity, laws)
        lo, hi = replicate_interval(y, level)
        for j in range(len(L)):
            t.rows["joint_points"].append(
                {
                    **keys, "grid": grid, "quantity": quantity, "L": L[j], "axis": axis,
                    "x": x[j], "y": y[0, j], "y_low": lo[j], "y_high": hi[j],
                    "excluded": bool(excluded[j]),
                    **{law: float(f.predict(L[j : j + 1], g[j : j + 1])[0])
                       for law, f in laws.items()},
                }
            )  # fmt: skip
        fitted = {k: f.aic for k, f in laws.items() if np.isfinite(f.aic)}
        aic = f"lowest AIC: {min(fitted, key=fitted.get)}" if fitted else "no law fitted"
        cross = cross_share(laws["cross"], *coarsest)
        t.claim(
            keys, "joint_commute", **where, swept=f"L,{axis}",
            n_excluded=int(excluded.sum()),
            **_value_row(
                cross, level, laws["cross"],
                f"cross share theta_3 g/L / law at L = {coarsest[0]:g}, g = {coarsest[1]:.3g}; "
                f"{aic}; {note}",
            ),
        )  # fmt: skip
        share = log_share(laws["log"], float(L.max()))
        log_note = f"log share at L = {L.max():g} of the law (a + b log L)/L + c g; {aic}; {note}"
        if quantity == "mse_layers":
            t.claim(
                keys, "joint_log_layers", **where, swept=f"L,{axis}",
                n_excluded=int(excluded.sum()), **_value_row(share, level, laws["log"], log_note),
            )  # fmt: skip
            continue
        lo_s, hi_s = scalar_interval(share, level)
        t.claim(
            keys, "joint_log", **where, swept=f"L,{axis}", predicted=0.0,
            fitted=float(share[0]), ci_low=lo_s, ci_high=hi_s, n_points=laws["log"].n_points,
            n_excluded=int(excluded.sum()), note=log_note,
        )  # fmt: skip
        rate = np.log(L) / L + (g if axis == "m" else 0.0)
        bound = fits.power_law_fit(1.0 / rate, y, excluded, level)
        t.claim(
            keys, "joint_bound", **where, swept=f"1/rate(L,{axis})", predicted=-1.0,
            fitted=bound.slope, ci_low=bound.ci_low, ci_high=bound.ci_high,
            n_points=bound.n_points, n_excluded=int(excluded.sum()),
            note=f"power law of E against 1/rate, rate = log L / L"
            f"{' + 1/m' if axis == 'm' else ' (infinite width)'}; {note}",
        )  # fmt: skip
