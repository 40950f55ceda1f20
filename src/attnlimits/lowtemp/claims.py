"""Tables and the evidence of the claims of experiment ``lowtemp`` (MODELS.md, ``lowtemp``).

From the run stores (one per (head, variant)) and the terminal stores (one per (head, variant,
size)), ``lowtemp_tables`` builds

- ``claims``: one evidence row per checked claim (declared in :data:`CLAIMS`, judged by
  :mod:`attnlimits.analysis.claims`), with the predicted value, the fitted one and its interval:

  - ``beta_slope`` / ``beta_shape``: the slope of log W2(μ^β_t, μ^∞_t) in log β (predicted −1/2)
    and in log s(β), s(β) = sqrt(log(β+1)/β) (predicted 1), at each t of ``fits.times``
    (``analysis.beta_slopes``; W2 exact, or its identity-coupling bound where N > exact_max);
    ``premise_met`` false where the run lies outside the mean-field regime or its QᵀK is not
    positive definite (symmetric part, :func:`qk_min_eigenvalue`);
  - ``t_star``: the slope of t*(β) in log β over the βs whose t* lies inside the horizon
    (``analysis.best_times``): t* grows like log β (slope > 0); ``premise_met`` says whether the
    hardmax flow approaches T#μ₀;
  - ``terminal_law``: W2(μ^∞_T, T#μ₀) at the terminal horizon and the largest N (a value, 0
    within ``fits.terminal_tol``); ``terminal_time``: its rate in t (``analysis.terminal_rate``,
    negative); ``terminal_N``: the slope of log W2(μ^∞_T, T#μ₀) in log N (must not grow);
  - ``phase``: the long-time rate of the mass off V's top eigendirection against the derived rate
    (``analysis.predicted_phase_rate``, within ``fits.phase_rate_tol``);

- ``slopes`` (every record time t > 0, each row with the ``status`` the engine gives it as a
  ``beta_slope`` or ``beta_shape`` row), ``best_times``, ``phase``, ``terminal``: the full tables
  behind the claims; ``w2``, ``phase_curves``, ``terminal_curves``: the curves that the plots draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.claims import Claim, Premise, Statement, judge
from attnlimits.lowtemp.analysis import (
    best_times,
    beta_slopes,
    phase_rates,
    terminal_rate,
)
from attnlimits.lowtemp.grid import RunKey, TerminalKey

#: The column order of the claims table.
CLAIM_COLUMNS = [
    "experiment", "claim", "variant", "head", "time", "beta", "quantity", "swept", "predicted",
    "fitted", "ci_low", "ci_high", "n_points", "premise_met", "note",
]  # fmt: skip

BETA = Statement(
    "P3",
    "P3.beta",
    "W2(μ^β_t, μ^∞_t) ≲ sqrt(log(β+1)/β) e^(Ct) at fixed t, in the mean-field regime, QᵀK "
    "positive definite.",
    "low-temperature estimate (abstract)",
)
CONCENTRATION = Statement(
    "P3",
    "P3.concentration",
    "W2(μ^∞_t, μ^∞_∞) ≲ e^(−ct), so W2(μ^β_t, push-forward) is smallest at a time t*(β) that "
    "grows like log β.",
    "concentration on the projection map's push-forward (abstract)",
)
_REGIME = Premise("mean-field regime N ≥ factor β^(k/2) and QᵀK positive definite")
_APPROACH = Premise("the hardmax flow approaches T#μ₀ (its W2 to it decays over the second half)")
_MAP = Premise(
    "a head whose projection map we derived: V = I or diagonal V (not a random head)",
    check=lambda row, config: (
        config["lowtemp"]["heads"][str(row["head"])]["kind"] in ("identity", "diagonal")
    ),
)
CLAIMS: tuple[Claim, ...] = (
    Claim("beta_shape", "bound", "paper", "W2 ≤ C s(β), s(β) = sqrt(log(β+1)/β): slope 1 in log s",
          statement=BETA, premise=_REGIME, fine_end="small"),
    Claim("beta_slope", "rate", "derived", "slope −1/2 of log W2 in log β (the bound, log aside)",
          where="docs: the low-temperature rate read as a power of β", premise=_REGIME),
    Claim("t_star", "sign", "paper", "t*(β) grows with log β (slope > 0)", statement=CONCENTRATION,
          premise=_APPROACH, direction=1),
    Claim("terminal_law", "value", "derived", "W2(μ^∞_T, T#μ₀) below terminal_tol at the horizon",
          where="MODELS.md, lowtemp: our reading of the projection map", premise=_MAP,
          tolerance="terminal_tol"),
    Claim("terminal_time", "sign", "derived", "W2(μ^∞_t, T#μ₀) decays in t (rate < 0)",
          where="MODELS.md, lowtemp: our reading of the projection map", premise=_MAP,
          direction=-1),
    Claim("terminal_N", "bound", "derived", "W2(μ^∞_T, T#μ₀) does not grow with N",
          where="MODELS.md, lowtemp: mean-field regime", premise=_MAP, tolerance=0.1),
    Claim("phase", "value", "derived", "long-time rate of the off-axis moment = −2 λ₂ of V",
          where="docs: the long-time phase", tolerance="phase_rate_tol"),
)  # fmt: skip
BY_ID = {claim.id: claim for claim in CLAIMS}
TERMINAL_COLUMNS = [
    "variant", "head", "size", "N", "w2_start", "w2_end", "horizon", "rate", "ci_low", "ci_high",
    "n_points",
]  # fmt: skip
TERMINAL_CURVE_COLUMNS = ["variant", "head", "N", "time", "w2_target"]


def _claim(key: RunKey | TerminalKey, claim: str, **values: Any) -> dict[str, Any]:
    row = {"experiment": "lowtemp", "claim": claim, "variant": key.variant, "head": key.head}
    return {**dict.fromkeys(CLAIM_COLUMNS, np.nan), **row, "note": "", **values}


def _quantity(ds: xr.Dataset) -> str:
    """W2 where it was computed exactly, else its identity-coupling bound."""
    return "w2_hardmax" if ds.attrs["exact_w2"] else "coupling_hardmax"


def _keyed(frame: pd.DataFrame, key: RunKey | TerminalKey) -> pd.DataFrame:
    return frame.assign(variant=key.variant, head=key.head)[["variant", "head", *frame.columns]]


def _run_tables(key: RunKey, ds: xr.Dataset, opts: Mapping[str, Any]) -> dict[str, list]:
    """The tables of one run (lists of frames) and its claim rows."""
    level = opts["level"]
    slopes = beta_slopes(ds, _quantity(ds), level)
    outside = "; ".join(filter(None, [str(ds.attrs.get("outside_regime", "")), _qk_indefinite(ds)]))
    evidence = [
        _claim(
            key, "beta_slope" if row.regressor == "log_beta" else "beta_shape", time=row.time,
            quantity=row.quantity, swept=row.regressor, predicted=row.predicted,
            fitted=row.slope, ci_low=row.ci_low, ci_high=row.ci_high, n_points=row.n_points,
            premise_met=not outside, note=outside,
        )
        for row in slopes.itertuples()
    ]  # fmt: skip
    # every time's slope judged as its claim would be (the premise is the row's premise_met);
    # the claims table keeps the times of fits.times
    slopes["status"] = [judge(BY_ID[row["claim"]], row, {}, opts)[0] for row in evidence]
    claims = [row for row in evidence if any(np.isclose(row["time"], t) for t in opts["times"])]
    times, fit = best_times(ds, level)
    claims.append(_t_star_claim(key, ds, times, fit, opts))
    phase, curves = phase_rates(ds, key.variant, tuple(opts["phase_window"]), level)
    for row in phase.itertuples():
        if np.isfinite(row.predicted):
            claims.append(_phase_claim(key, row, opts["phase_rate_tol"]))
    w2 = _w2_curves(ds)
    return {
        "claims": claims,
        "slopes": [_keyed(slopes, key)],
        "best_times": [_keyed(times, key)],
        "phase": [_keyed(phase, key)],
        "phase_curves": [_keyed(curves, key)],
        "w2": [_keyed(w2, key)],
    }


def qk_min_eigenvalue(ds: xr.Dataset) -> float:
    """The smallest eigenvalue of the symmetric part of QᵀK (the run store's head): QᵀK is
    positive definite, as P3's premise asks, iff it is > 0."""
    m = ds["head_q"].values.astype(np.float64).T @ ds["head_k"].values.astype(np.float64)
    return float(np.linalg.eigvalsh((m + m.T) / 2).min())


def _qk_indefinite(ds: xr.Dataset) -> str:
    """The note of a run whose QᵀK is not positive definite (empty when it is)."""
    if "head_q" not in ds or "head_k" not in ds:
        return ""
    low = qk_min_eigenvalue(ds)
    return "" if low > 0 else f"Q^T K not positive definite (smallest eigenvalue {low:.3g})"


def _t_star_claim(
    key: RunKey, ds: xr.Dataset, times: pd.DataFrame, fit: fits.LineFit, opts: Mapping[str, Any]
) -> dict[str, Any]:
    """The t* claim. Its premise is that the hardmax flow approaches T#μ₀ (so that t* is the time
    of best approach to the terminal law): its W2 to T#μ₀ must decay over the second half of the
    horizon (the interval of its rate lies below 0); where it does not, the claim is outside its
    premise and the note says so."""
    horizon = float(ds["time"].values[-1])
    approach = terminal_rate(ds, (horizon / 2, horizon), opts["terminal_floor"], opts["level"])
    premise = bool(np.isfinite(approach.ci_low) and approach.ci_high < 0)
    censored = int(times["at_horizon"].sum())
    note = (
        f"t* at the horizon (not reached) for {censored} of {len(times)} betas; predicted: t* "
        f"grows like log beta (slope > 0); W2(hardmax, T#mu0) rate over [{horizon / 2:g}, "
        f"{horizon:g}]: {approach.slope:.3g}"
    )
    if not premise:
        note += "; premise fails: the hardmax flow does not approach T#mu0, no prediction"
    return _claim(
        key, "t_star", quantity="t_star", swept="log_beta", predicted=0.0, fitted=fit.slope,
        ci_low=fit.ci_low, ci_high=fit.ci_high, n_points=fit.n_points, premise_met=premise,
        note=note,
    )  # fmt: skip


def _phase_claim(key: RunKey, row: Any, tol: float) -> dict[str, Any]:
    return _claim(
        key, "phase", beta=row.beta, quantity="off_axis_moment", swept="time",
        predicted=row.predicted, fitted=row.rate, ci_low=row.ci_low, ci_high=row.ci_high,
        n_points=row.n_points,
        note=f"V's eigenvalues {row.lambda_1:g}, {row.lambda_2:g}; derived rate -2 lambda_2 "
        f"(0 without a gap); tolerance {tol:g}",
    )  # fmt: skip


def _w2_curves(ds: xr.Dataset) -> pd.DataFrame:
    """W2 to the hardmax flow and to T#μ₀ per (β, t); β = inf rows for the hardmax flow."""
    frame = ds[["w2_hardmax", "coupling_hardmax", "w2_target"]].to_dataframe().reset_index()
    hard = ds["hardmax_w2_target"].to_dataframe().reset_index()
    hard = hard.rename(columns={"hardmax_w2_target": "w2_target"}).assign(beta=np.inf)
    return pd.concat([frame, hard], ignore_index=True)


def _terminal_tables(
    terminals: Sequence[tuple[TerminalKey, xr.Dataset]], opts: Mapping[str, Any]
) -> dict[str, list]:
    level, window = opts["level"], tuple(opts["terminal_window"])
    rows, curves = [], [pd.DataFrame(columns=TERMINAL_CURVE_COLUMNS)]
    for key, ds in terminals:
        fit = terminal_rate(ds, window, opts["terminal_floor"], level)
        w2 = ds["hardmax_w2_target"].values
        rows.append(
            {
                "variant": key.variant, "head": key.head, "size": key.size,
                "N": int(ds.attrs["particle_count"]), "w2_start": float(w2[0]),
                "w2_end": float(w2[-1]), "horizon": float(ds["time"].values[-1]),
                "rate": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                "n_points": fit.n_points,
            }
        )  # fmt: skip
        curves.append(
            pd.DataFrame(
                {
                    "variant": key.variant,
                    "head": key.head,
                    "N": rows[-1]["N"],
                    "time": ds["time"].values,
                    "w2_target": w2,
                }
            )  # fmt: skip
        )
    table = pd.DataFrame(rows, columns=TERMINAL_COLUMNS)
    claims = []
    for (variant, head), group in table.groupby(["variant", "head"], sort=False):
        key = TerminalKey(head, variant, 0)
        largest = group.loc[group["N"].idxmax()]
        claims.append(
            _claim(
                key, "terminal_law", time=largest["horizon"], quantity="hardmax_w2_target",
                swept="time", predicted=0.0, fitted=largest["w2_end"], n_points=1,
                note=f"W2 at t = {largest['horizon']:g}, N = {largest['N']}",
            )
        )  # fmt: skip
        claims.append(
            _claim(
                key, "terminal_time", quantity="hardmax_w2_target", swept="time",
                predicted=0.0, fitted=largest["rate"], ci_low=largest["ci_low"],
                ci_high=largest["ci_high"], n_points=largest["n_points"],
                note=f"rate of log W2 in t at N = {largest['N']}",
            )
        )  # fmt: skip
        fit = fits.line_fit(np.log(group["N"]), np.log(group["w2_end"]), level)
        claims.append(
            _claim(
                key, "terminal_N", time=largest["horizon"], quantity="hardmax_w2_target",
                swept="N", predicted=0.0, fitted=fit.slope, ci_low=fit.ci_low,
                ci_high=fit.ci_high, n_points=fit.n_points, note="slope of log W2 in log N",
            )
        )  # fmt: skip
    return {"claims": claims, "terminal": [table], "terminal_curves": curves}


def lowtemp_tables(
    runs: Sequence[tuple[RunKey, xr.Dataset]],
    terminals: Sequence[tuple[TerminalKey, xr.Dataset]],
    opts: Mapping[str, Any],
) -> dict[str, pd.DataFrame]:
    """Every table of the module docstring, by name."""
    parts: dict[str, list] = {}
    for key, ds in runs:
        for name, items in _run_tables(key, ds, opts).items():
            parts.setdefault(name, []).extend(items)
    for name, items in _terminal_tables(terminals, opts).items():
        parts.setdefault(name, []).extend(items)
    tables = {"claims": pd.DataFrame(parts.pop("claims"), columns=CLAIM_COLUMNS)}
    tables.update({name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()})
    return tables
