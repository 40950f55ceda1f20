"""Tables and the evidence of the claims of experiment ``lowtemp`` (docs/mathematics.md,
``lowtemp``).

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

  - ``regime_rule``: whether the power rule N ≥ factor β^(k/2) (the first guess of
    docs/mathematics.md, "The mean-field regime") admits only β's whose local slopes converged in N
    at the main run's N (``lowtemp.regime``), per (head, variant, t) of the N sweep;
  - ``metastable_window``, ``metastable_open``, ``metastable_exit``: the window in which
    W2(μ^β_t, T#μ₀) < ε, from the long-horizon window stores (``lowtemp.metastable_claims``);

  Under ``regime.premise: converged`` the β-slope rows of a run that the N sweep covers are fitted
  only over the β's whose local slopes converged in N at the run's N (``regime.converged_betas``;
  unresolved, with the all-β fit shown, when fewer than 3); under ``power``, or where no sweep
  covers the run, the premise is N ≥ factor β^(k/2) as before.

- ``slopes`` (every record time t > 0, over every β, each row with the ``status`` the engine gives
  it as a ``beta_slope`` or ``beta_shape`` row under the power rule), ``best_times``, ``phase``,
  ``terminal``: the full tables behind the claims; ``w2``, ``phase_curves``, ``terminal_curves``:
  the curves that the plots draw; with an N sweep ``n_slopes`` (local β-slopes per family and N),
  ``n_fits`` (the all-β slope per family and N) and ``regime`` (N* per pair of β's); with
  window stores ``metastability`` (the window per size, threshold and β) and ``metastable_fits``.
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
from attnlimits.lowtemp.convergence_grid import SweepKey
from attnlimits.lowtemp.grid import RunKey, TerminalKey
from attnlimits.lowtemp.metastability import FIT_COLUMNS as METASTABLE_FIT_COLUMNS
from attnlimits.lowtemp.metastability import TABLE_COLUMNS as METASTABLE_COLUMNS
from attnlimits.lowtemp.metastable_claims import CLAIMS as METASTABLE_CLAIMS
from attnlimits.lowtemp.metastable_claims import metastable_tables
from attnlimits.lowtemp.regime import (
    FIT_COLUMNS,
    REGIME_COLUMNS,
    SLOPE_COLUMNS,
    boundary,
    converged_betas,
    local_slopes,
    n_fits,
    sweep_series,
)
from attnlimits.lowtemp.window_grid import WindowKey

#: The column order of the claims table.
CLAIM_COLUMNS = [
    "experiment", "claim", "variant", "head", "time", "beta", "quantity", "swept", "predicted",
    "fitted", "ci_low", "ci_high", "n_points", "premise_met", "resolved", "observed", "expected",
    "note",
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
_REGIME = Premise(
    "mean-field regime (lowtemp.regime.premise: converged, the β's whose local slopes converged "
    "in N across particle families; power, or no N sweep of the run: N ≥ factor β^(k/2)) and "
    "QᵀK positive definite"
)
_SWEPT = Premise("an N sweep of two or more particle families covers the run's N and β's")
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
          where="docs/mathematics.md, lowtemp: the low-temperature rate read as a power of β",
          premise=_REGIME),
    Claim("t_star", "sign", "paper", "t*(β) grows with log β (slope > 0)", statement=CONCENTRATION,
          premise=_APPROACH, direction=1),
    Claim("terminal_law", "value", "derived", "W2(μ^∞_T, T#μ₀) below terminal_tol at the horizon",
          where="docs/mathematics.md, lowtemp: our reading of the projection map", premise=_MAP,
          tolerance="terminal_tol"),
    Claim("terminal_time", "sign", "derived", "W2(μ^∞_t, T#μ₀) decays in t (rate < 0)",
          where="docs/mathematics.md, lowtemp: our reading of the projection map", premise=_MAP,
          direction=-1),
    Claim("terminal_N", "bound", "derived", "W2(μ^∞_T, T#μ₀) does not grow with N",
          where="docs/mathematics.md, lowtemp: mean-field regime", premise=_MAP, tolerance=0.1),
    Claim("phase", "value", "derived", "long-time rate of the off-axis moment = −2 λ₂ of V",
          where="docs/mathematics.md, lowtemp: the long-time phase", tolerance="phase_rate_tol"),
    Claim("regime_rule", "sign", "heuristic", "every β with N ≥ factor β^(k/2) has its local "
          "β-slope converged in N", premise=_SWEPT),
    *METASTABLE_CLAIMS,
)  # fmt: skip
BY_ID = {claim.id: claim for claim in CLAIMS}
TERMINAL_COLUMNS = [
    "variant", "head", "size", "N", "w2_start", "w2_end", "horizon", "rate", "ci_low", "ci_high",
    "n_points",
]  # fmt: skip
TERMINAL_CURVE_COLUMNS = ["variant", "head", "N", "time", "w2_target"]
#: The tables of the N sweep and of the metastable window, and their columns.
OPTIONAL_TABLES = {
    "n_slopes": SLOPE_COLUMNS,
    "n_fits": FIT_COLUMNS,
    "regime": REGIME_COLUMNS,
    "metastability": METASTABLE_COLUMNS,
    "metastable_fits": METASTABLE_FIT_COLUMNS,
}


def _claim(key: RunKey | TerminalKey | WindowKey, claim: str, **values: Any) -> dict[str, Any]:
    row = {"experiment": "lowtemp", "claim": claim, "variant": key.variant, "head": key.head}
    return {**dict.fromkeys(CLAIM_COLUMNS, np.nan), **row, "note": "", **values}


def _quantity(ds: xr.Dataset) -> str:
    """W2 where it was computed exactly, else its identity-coupling bound."""
    return "w2_hardmax" if ds.attrs["exact_w2"] else "coupling_hardmax"


def _keyed(frame: pd.DataFrame, key: RunKey | TerminalKey) -> pd.DataFrame:
    return frame.assign(variant=key.variant, head=key.head)[["variant", "head", *frame.columns]]


def _run_tables(
    key: RunKey, ds: xr.Dataset, opts: Mapping[str, Any], regime: pd.DataFrame | None = None
) -> dict[str, list]:
    """The tables of one run (lists of frames) and its claim rows; ``regime`` (the N sweep's
    boundary, under ``regime.premise: converged``) revises the β-slope rows (module docstring)."""
    level = opts["level"]
    slopes = beta_slopes(ds, _quantity(ds), level)
    indefinite = _qk_indefinite(ds)
    outside = "; ".join(filter(None, [str(ds.attrs.get("outside_regime", "")), indefinite]))
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
    if regime is not None:
        claims = [_converged_row(row, ds, regime, indefinite, level) for row in claims]
    times, fit = best_times(ds, level)
    claims.append(_t_star_claim(key, ds, times, fit, opts))
    phase, curves = phase_rates(ds, key.variant, tuple(opts["phase_window"]), level)
    for row in phase.itertuples():
        if np.isfinite(row.predicted):
            claims.append(_phase_claim(key, row, opts["phase_rate_tol"]))
    w2 = _w2_curves(ds)
    tables = {
        "claims": claims,
        "slopes": [_keyed(slopes, key)],
        "best_times": [_keyed(times, key)],
        "phase": [_keyed(phase, key)],
        "phase_curves": [_keyed(curves, key)],
        "w2": [_keyed(w2, key)],
    }
    return tables


def _converged_row(
    row: dict[str, Any], ds: xr.Dataset, regime: pd.DataFrame, indefinite: str, level: float
) -> dict[str, Any]:
    """A β-slope row under ``regime.premise: converged``: refitted over the β's converged in N at
    the run's N; unresolved (the all-β fit kept) when fewer than 3; unchanged, with the power
    rule's premise, where the N sweep does not cover the run's (variant, head, time)."""
    betas = converged_betas(regime, row["variant"], row["head"], row["time"])
    if betas is None:
        note = "no N sweep covers this run: premise by N >= factor beta^(k/2)"
        return {**row, "note": "; ".join(filter(None, [row["note"], note]))}
    n = int(ds.attrs["particle_count"])
    row = {**row, "premise_met": not indefinite, "note": indefinite}
    if len(betas) < 3:
        kept = ", ".join(f"{b:g}" for b in betas) or "none"
        note = (
            f"local beta-slopes not converged in N at N = {n} (beta's converged: {kept}; "
            "fewer than 3): the slope over every beta is shown, no verdict"
        )
        return {**row, "resolved": False, "note": "; ".join(filter(None, [indefinite, note]))}
    refit = beta_slopes(ds.sel(beta=betas), row["quantity"], level)
    refit = refit[np.isclose(refit["time"], row["time"]) & (refit["regressor"] == row["swept"])]
    fit = refit.iloc[0]
    note = f"fitted over beta = {betas[0]:g}..{betas[-1]:g}, the beta's converged in N at N = {n}"
    return {
        **row, "fitted": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
        "n_points": fit.n_points, "note": "; ".join(filter(None, [indefinite, note])),
    }  # fmt: skip


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


def _approaches(ds: xr.Dataset, opts: Mapping[str, Any]) -> tuple[bool, fits.LineFit]:
    """Whether the hardmax flow approaches T#μ₀: the interval of the rate of its W2 to T#μ₀ over
    the second half of the horizon lies below 0; and that rate."""
    horizon = float(ds["time"].values[-1])
    approach = terminal_rate(ds, (horizon / 2, horizon), opts["terminal_floor"], opts["level"])
    return bool(np.isfinite(approach.ci_low) and approach.ci_high < 0), approach


def _t_star_claim(
    key: RunKey, ds: xr.Dataset, times: pd.DataFrame, fit: fits.LineFit, opts: Mapping[str, Any]
) -> dict[str, Any]:
    """The t* claim. Its premise is that the hardmax flow approaches T#μ₀ (so that t* is the time
    of best approach to the terminal law): its W2 to T#μ₀ must decay over the second half of the
    horizon (the interval of its rate lies below 0); where it does not, the claim is outside its
    premise and the note says so."""
    premise, approach = _approaches(ds, opts)
    horizon = float(ds["time"].values[-1])
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


def _regime_tables(
    runs: Sequence[tuple[RunKey, xr.Dataset]],
    sweeps: Sequence[tuple[SweepKey, xr.Dataset]],
    lowtemp: Mapping[str, Any],
) -> dict[str, list]:
    """The N sweep's tables (``regime`` module docstring) and its ``regime_rule`` rows."""
    opts, measure = lowtemp["fits"], lowtemp["measure"]
    series = sweep_series(runs, sweeps, lowtemp)
    slopes = local_slopes(series)
    n_main = int(runs[0][1].attrs["particle_count"]) if runs else 0
    factor = float(lowtemp["regime"]["factor"])
    table = boundary(slopes, opts["n_slope_tol"], n_main, factor, int(measure["d"]))
    claims = []
    for (variant, head, t), cell in table.groupby(["variant", "head", "time"], sort=False):
        admitted = cell[cell["power_rule_admits"]]
        ok = admitted["converged_at_main"]
        failed = ", ".join(f"{b:g}" for b in admitted.loc[~ok, "beta_high"]) or "none"
        stars = ", ".join(
            f"{b:g}: {'>' + str(m) if not np.isfinite(s) else f'{s:.0f}'}"
            for b, s, m in zip(cell["beta_high"], cell["N_star"], cell["N_max"], strict=True)
        )
        claims.append(
            _claim(
                RunKey(head, variant), "regime_rule", time=t, quantity="local_slope",
                swept="N", predicted=np.nan, fitted=float(ok.mean()) if len(ok) else np.nan,
                n_points=len(admitted),
                observed="converged" if ok.all() else "not converged",
                expected="converged" if len(admitted) else "no prediction",
                note=f"N = {n_main}; the power rule admits beta <= "
                f"{admitted['beta_high'].max() if len(admitted) else 0:g}; not converged there "
                f"at beta = {failed}; N* by the pair's larger beta: {stars}",
            )
        )  # fmt: skip
    return {
        "claims": claims,
        "n_slopes": [slopes],
        "n_fits": [n_fits(series, opts["level"])],
        "regime": [table],
    }


def lowtemp_tables(
    runs: Sequence[tuple[RunKey, xr.Dataset]],
    terminals: Sequence[tuple[TerminalKey, xr.Dataset]],
    opts: Mapping[str, Any],
    sweeps: Sequence[tuple[SweepKey, xr.Dataset]] = (),
    lowtemp: Mapping[str, Any] | None = None,
    windows: Sequence[tuple[WindowKey, xr.Dataset]] = (),
) -> dict[str, pd.DataFrame]:
    """Every table of the module docstring, by name; the N sweep's when ``lowtemp`` (the config
    block) is given and ``lowtemp.convergence.heads`` is not empty; the metastable window's when
    there are window stores (``windows``)."""
    parts: dict[str, list] = {}
    regime, swept = None, {}
    if lowtemp is not None and lowtemp["convergence"]["heads"]:
        swept = _regime_tables(runs, sweeps, lowtemp)
        if lowtemp["regime"]["premise"] == "converged":
            regime = swept["regime"][0]
    for key, ds in runs:
        for name, items in _run_tables(key, ds, opts, regime).items():
            parts.setdefault(name, []).extend(items)
    window = metastable_tables(windows, opts, _claim) if windows else {}
    for name, items in [
        *_terminal_tables(terminals, opts).items(),
        *swept.items(),
        *window.items(),
    ]:
        parts.setdefault(name, []).extend(items)
    tables = {"claims": pd.DataFrame(parts.pop("claims"), columns=CLAIM_COLUMNS)}
    tables.update({name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()})
    for name, columns in OPTIONAL_TABLES.items():  # written even without a sweep or a window
        tables.setdefault(name, pd.DataFrame(columns=columns))
    return tables
