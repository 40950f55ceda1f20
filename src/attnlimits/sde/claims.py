"""Claims of experiment ``sde`` (docs/mathematics.md, experiment ``sde`` and "How rates are
fitted").

Inputs are the stores of ``sde.runs.*.run_*`` (depth, width, chaos, sync); ``options`` is the
config block ``sde.fits``. Every statistic is computed on replicate 0 (the sample) and on B
bootstrap replicates, with the weights of
:func:`attnlimits.analysis.statistics.replicate_weights` over the
store's independent units (seeds of a depth or width store, replicas of a chaos store, paths of a
sync store); intervals are percentile intervals over replicates 1..B. All variables of one store
sharing a dimension are resampled jointly.

Claims (one row each in ``claims``):

- ``depth_L`` (depth store): RMS error (Σ_s w_s err2)^(1/2) vs L, slope predicted −1/2; target:
  within ``tolerance_depth`` of −1/2 or significantly faster. Depths whose RMS error is at most
  ``floor_factor`` × ``reference_error`` are excluded (``n_excluded``).
- ``width_m`` (width store): RMS error vs m, slope −1/2 within ``tolerance_width``.
- ``chaos_N_ambient``, ``chaos_N_intrinsic`` (chaos store): E sup W2² (mean over replicas) vs N
  against r(N) for k = d and k = d − 1; N whose mean is at most ``floor_factor`` × that N's
  reference error are excluded, the reference error being measured by halving N_ref
  (``chaos.halving_reference_error``: |mean sup_w2 − mean sup_w2_half|, the bias of W2² to the
  N_ref reference as an estimate of W2² to the limit); stores without ``sup_w2_half`` fall back to
  ``floor_factor`` × the mean floor (½ sup W2² between two references, an estimate of
  W2²(μ^{N_ref}, μ), which overstates that bias for N ≪ N_ref); target: the interval reaches the
  exponent or lies below it.
- ``energy_rate`` (sync store): late-time exponential rate of the mean energy, fitted on the last
  (1 − ``late_fraction``) of the times before either the mean energy reaches its numerical floor
  (``ENERGY_FLOOR`` × E(0)) or fewer than ``min_effective_paths`` effective paths carry it
  (``effective_paths``: past that, the sample mean of a near-log-normal energy decays faster than
  its expectation, a bias the bootstrap does not see). Pure noise: against
  λ̄, within ``tolerance_energy`` (relative); attention ±1: against the bound's rate λ̄′
  (``rate_bound``), decaying at least as fast. Both need ``synchronization`` (λ̄ < 0 and a field
  that is not odd; ``premise_met``); otherwise the claim is outside its premise.
- ``lyapunov`` (sync store, sign 0): mean of ``lyap_per_path`` against λ₁, ``tolerance_lyapunov``
  relative; ``moment_rate``: (1/two_point_dt) log mean(moment_ratio_sq) against λ̄,
  ``tolerance_energy`` relative. Both rows carry ``extrapolated`` = 2·v(Δ) − v(2Δ), v(2Δ) the
  same estimator on the ``*_coarse`` variables (step 2Δ, same Brownian increments): Richardson's
  first-order removal of the finite-step bias; a difference that the extrapolation closes is
  unresolved, not contradicted.
- ``cluster`` (sync store): ``fitted`` is E(end)/E(start) of the mean energy, ``predicted`` the
  threshold ``cluster_threshold``; ``observed`` is the observation ("clusters" if the ratio is
  below the threshold on the sample, else "no clusters"), ``expected`` the prediction ("clusters"
  iff ``synchronization`` for sign 0; "clusters" if λ̄′ < 0 and else "no prediction" for sign +1;
  "no prediction" for sign −1); the engine compares them, and calls the row unresolved when the
  ratio's interval straddles the threshold.
  The sync horizon is a fixed multiple of 1/|λ̄| (``run_sync``), so "no clusters" for λ̄ > 0 reads:
  within the time in which a row with λ̄ < 0 loses e^{−horizon} of its mean energy, a row with
  λ̄ > 0 does not lose the threshold's share. Its mean energy may still decrease, slowly: with
  λ₁ < 0 < λ̄ (intermittency) pairs of tokens merge on most paths while rare paths carry E[E_β].

- ``joint_bound``, ``joint_log``, ``joint_log_layers``, ``joint_commute`` (joint stores): see
  :mod:`attnlimits.sde.joint_claims`; ``antipodal`` (odd stores): :mod:`attnlimits.sde.odd_claims`.

Tables: ``claims``, ``reference`` (the depth reference's own error against the smallest RMS
error), ``chaos_truncation`` (error of the random-feature kernel κ_P), ``chaos_reference`` (per
chaos store and N, replicate 0: ``sup_w2`` and ``sup_w2_half`` the mean sup W2² to the reference
and to the halved reference, ``reference_error`` their absolute difference, ``floor`` the mean
floor (information), ``rule`` the yardstick of the exclusion ("halving", or "floor" for stores
without sup_w2_half), ``ratio`` = sup_w2 / that yardstick, ``margin`` = floor_factor, ``excluded``
whether the N was left out of the fit), ``points`` (every plotted
point with its interval and whether it was left out of its fit; local slopes between neighbouring
grid points appear as quantity ``<quantity>_local_slope`` at the larger x of each pair),
``lines`` (fitted lines with bootstrap bands), ``joint_laws`` and ``joint_points``
(``joint_claims``) and ``odd_clusters`` (``odd_claims``). The claims of the joint grids name their
``grid`` (width, tokens) and ``sup`` (layer times, interpolated path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.claims import Claim, Premise
from attnlimits.analysis.statistics import replicate_interval, replicate_weights, scalar_interval
from attnlimits.analysis.tables import line_rows, write_tables
from attnlimits.sde.chaos import halving_reference_error
from attnlimits.sde.joint_claims import JOINT_CLAIMS, JOINT_COLUMNS, joint_rows
from attnlimits.sde.odd_claims import ODD_CLAIMS, ODD_COLUMNS, odd_rows
from attnlimits.sde.statements import CHAOS, EXPONENTS, STRONG, SYNC

__all__ = [
    "CLAIMS",
    "COLUMNS",
    "EXPERIMENT",
    "KEYS",
    "rms_replicates",
    "sde_claims",
    "store_keys",
    "write_tables",
]

EXPERIMENT = "sde"

_SYNCHRONIZES = Premise("λ̄ < 0 and a noise field that is not odd (pure noise or attractive)")
_ATTRACTIVE = Premise("λ̄ < 0, a field that is not odd, attractive head Q = K = V = I (ε = 0)")
_PREDICTS = Premise("a prediction exists: λ̄ < 0 and not odd (noise), λ̄′ < 0 (attractive)")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "depth_L", "bound", "paper", "RMS error ≤ c L^(−1/2) (up to log L)", statement=STRONG,
        tolerance="tolerance_depth",
    ),
    Claim(
        "width_m", "bound", "paper", "RMS error ≤ c m^(−1/2)", statement=STRONG,
        tolerance="tolerance_width",
    ),
    Claim("chaos_N_ambient", "bound", "paper", "E sup W2² ≤ c r(N), k = d", statement=CHAOS),
    Claim(
        "chaos_N_intrinsic", "bound", "derived", "E sup W2² ≤ c r(N), k = d − 1",
        where="docs/mathematics.md, sde: the sphere's intrinsic dimension may show instead of d",
    ),
    Claim(
        "energy_bound", "bound", "paper", "E[E_β] decays at least at the rate λ̄′ (ε = 0)",
        statement=SYNC, premise=_ATTRACTIVE,
    ),
    Claim(
        "energy_rate", "value", "paper", "late-time decay rate of E[E_β] = λ̄ (pure noise)",
        statement=EXPONENTS, premise=_SYNCHRONIZES, tolerance="tolerance_energy", relative=True,
    ),
    Claim(
        "moment_rate", "value", "paper", "two-point moment rate = λ̄", statement=EXPONENTS,
        tolerance="tolerance_energy", relative=True,
    ),
    Claim(
        "lyapunov", "value", "paper", "pathwise exponent of log|Xⁱ − Xʲ| = λ₁",
        statement=EXPONENTS, tolerance="tolerance_lyapunov", relative=True,
    ),
    Claim(
        "cluster", "sign", "paper", "the tokens cluster: E(end)/E(start) below the threshold",
        statement=SYNC, premise=_PREDICTS,
    ),
    *JOINT_CLAIMS,
    *ODD_CLAIMS,
)  # fmt: skip
#: Columns identifying the store a row comes from.
KEYS: list[str] = ["activation", "d", "sigma", "attention_sign"]
#: Number of points of each fitted line in the ``lines`` table.
LINE_POINTS = 25
#: Mean energies at or below this value are left out of the rate fits.
#: Energies below this fraction of the initial mean energy are numerical: the field's covariance
#: is computed from cosines, which cannot resolve token separations below about 1e-8 (energy
#: about 1e-16 of its initial value), so collapsed runs level off there. Fits stop above it.
ENERGY_FLOOR = 1e-13
#: Predicted exponent of the RMS error in L and in m.
STRONG_ORDER = -0.5

COLUMNS: dict[str, list[str]] = {
    "claims": [
        "experiment", "claim", *KEYS, "grid", "sup", "quantity", "swept", "predicted", "fitted",
        "ci_low", "ci_high", "n_points", "n_excluded", "fine_slope", "fine_low", "fine_high",
        "premise_met", "resolved", "observed", "expected", "extrapolated", "note",
    ],
    "reference": [
        *KEYS, "reference_error", "reference_error_orthogonal", "smallest_rms_error", "ratio",
        "ratio_orthogonal", "margin", "margin_met",
    ],
    "chaos_truncation": [
        *KEYS, "P", "N_ref", "kappa_1", "truncation_rms", "truncation_max", "relative_rms",
        "relative_max",
    ],
    "chaos_reference": [
        *KEYS, "N", "N_ref", "sup_w2", "sup_w2_half", "reference_error", "floor", "rule", "ratio",
        "margin", "excluded",
    ],
    "points": [*KEYS, "quantity", "swept", "x", "y", "y_low", "y_high", "excluded"],
    "lines": [*KEYS, "quantity", "swept", "fit", "x", "y", "y_low", "y_high"],
    **JOINT_COLUMNS,
    **ODD_COLUMNS,
}  # fmt: skip


def store_keys(ds: xr.Dataset) -> dict[str, Any]:
    """activation, d, sigma and attention_sign of a store, from its attrs, as plain Python."""
    a = ds.attrs
    return {
        "activation": str(a["activation"]),
        "d": int(a["d"]),
        "sigma": float(a["sigma"]),
        "attention_sign": int(round(float(a["attention_sign"]))),
    }


def rms_replicates(err2: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(Σ_s w_s err2[j, s])^(1/2) for ``err2`` (n, R) and weights (B+1, R): shape (B+1, n)."""
    return np.sqrt(np.asarray(weights, float) @ np.asarray(err2, float).T)


def _attr(ds: xr.Dataset, name: str, default: float = np.nan) -> float:
    value = ds.attrs.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _flag(ds: xr.Dataset, name: str) -> bool | None:
    """A boolean attr (stored as bool, int or "true"/"false"), None if absent."""
    if name not in ds.attrs:
        return None
    value = ds.attrs[name]
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class _Tables:
    """Row collector for the tables of :data:`COLUMNS`."""

    def __init__(self, options: Mapping[str, Any]):
        self.options = options
        self.level = float(options["level"])
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in COLUMNS}

    def weights(self, units: int) -> np.ndarray:
        """Bootstrap weights (B+1, units) of the options."""
        return replicate_weights(
            int(units), int(self.options["bootstrap"]), int(self.options["bootstrap_seed"])
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, rows in self.rows.items():
            frame = pd.DataFrame(rows, columns=COLUMNS[name])
            frame["d"] = frame["d"].astype("Int64")
            frame["attention_sign"] = frame["attention_sign"].astype("Int64")
            if name == "claims":
                frame["premise_met"] = frame["premise_met"].astype("boolean")
                frame["resolved"] = frame["resolved"].astype("boolean")
                frame["n_points"] = frame["n_points"].astype("Int64")
                frame["n_excluded"] = frame["n_excluded"].astype("Int64")
            if name in ("points", "chaos_reference", "joint_points"):
                frame["excluded"] = frame["excluded"].astype(bool)
            if name == "chaos_reference":
                frame["N"] = frame["N"].astype("Int64")
                frame["N_ref"] = frame["N_ref"].astype("Int64")
            out[name] = frame
        return out

    def points(
        self,
        keys: Mapping[str, Any],
        quantity: str,
        swept: str,
        x: np.ndarray,
        reps: np.ndarray,
        excluded: np.ndarray | None = None,
    ) -> None:
        """One row per x: replicate 0 and the bootstrap interval of ``reps`` (B+1, n)."""
        reps = np.asarray(reps, float)
        lo, hi = replicate_interval(reps, self.level)
        excluded = np.zeros(reps.shape[1], bool) if excluded is None else excluded
        for j, xj in enumerate(np.asarray(x, float)):
            self.rows["points"].append(
                {
                    **keys,
                    "quantity": quantity,
                    "swept": swept,
                    "x": xj,
                    "y": reps[0, j],
                    "y_low": lo[j],
                    "y_high": hi[j],
                    "excluded": bool(excluded[j]),
                }
            )

    def local(
        self, keys: Mapping[str, Any], quantity: str, swept: str, x: np.ndarray, reps: np.ndarray
    ) -> None:
        """Local slopes d log y / d log x between neighbouring x, as points at the larger x."""
        order = np.argsort(x)
        x, reps = np.asarray(x, float)[order], np.asarray(reps, float)[:, order]
        if len(x) < 2:
            return
        slopes = fits.local_slopes(x, reps)
        self.points(keys, f"{quantity}_local_slope", swept, x[1:], slopes)

    def line(
        self,
        keys: Mapping[str, Any],
        quantity: str,
        swept: str,
        fit: fits.PowerLawFit,
        x: np.ndarray,
        name: str = "power_law",
    ) -> None:
        """``fit`` evaluated over the range of the x it used, with its bootstrap band."""
        used = np.asarray(x, float)[fit.used]
        if fit.n_points < 2 or not np.isfinite(fit.intercept):
            return
        if fit.log_x:
            along = np.geomspace(used.min(), used.max(), LINE_POINTS)
        else:
            along = np.linspace(used.min(), used.max(), LINE_POINTS)
        lo, hi = fit.band(along)
        self.rows["lines"] += line_rows(
            keys, quantity, swept, name, along, fit.predict(along), lo, hi
        )

    def claim(self, keys: Mapping[str, Any], claim: str, **row: Any) -> None:
        base = {column: pd.NA for column in COLUMNS["claims"]}
        base.update(experiment=EXPERIMENT, claim=claim, note="", **keys)
        base.update(row)
        self.rows["claims"].append(base)


def _rate_row(
    fit: fits.PowerLawFit, predicted: float, *, excluded: int | None = None
) -> dict[str, Any]:
    """The fit columns of a claims row."""
    return {
        "predicted": predicted,
        "fitted": fit.slope,
        "ci_low": fit.ci_low,
        "ci_high": fit.ci_high,
        "n_points": fit.n_points,
        "n_excluded": len(fit.used) - fit.n_points if excluded is None else excluded,
    }


def _depth(t: _Tables, ds: xr.Dataset) -> None:
    """Claim ``depth_L``, the reference row, points (RMS error, level differences) and lines."""
    keys = store_keys(ds)
    opt = t.options
    L = ds["L"].values.astype(float)
    w = t.weights(ds.sizes["seed"])
    rms = rms_replicates(ds["err2"].transpose("L", "seed").values, w)
    ref = float(ds["reference_error"]) if "reference_error" in ds else np.nan
    ref_orth = (
        float(ds["reference_error_orthogonal"]) if "reference_error_orthogonal" in ds else np.nan
    )
    factor = float(opt["floor_factor"])
    floor = factor * ref if np.isfinite(ref) else 0.0
    excluded = ~(rms[0] > floor)
    fit = fits.power_law_fit(L, rms, excluded, t.level)
    t.points(keys, "rms_error", "L", L, rms, ~fit.used)
    t.line(keys, "rms_error", "L", fit, L)
    t.local(keys, "rms_error", "L", L, rms)
    if "level_diff2" in ds:
        levels = ds["level"].values.astype(float)
        diffs = rms_replicates(ds["level_diff2"].transpose("level", "seed").values, w)
        t.points(keys, "level_diff", "level", levels, diffs)
    t.claim(
        keys, "depth_L", quantity="rms_error", swept="L", **_rate_row(fit, STRONG_ORDER),
        **_fine(L, rms, ~fit.used, t.level),
        note=f"depths with RMS error <= {factor:g} x reference_error ({ref:.3g}) excluded",
    )  # fmt: skip
    smallest = float(np.nanmin(rms[0])) if np.isfinite(rms[0]).any() else np.nan
    ratio = smallest / ref if ref > 0 else np.inf
    ratio_orth = smallest / ref_orth if ref_orth > 0 else np.inf
    t.rows["reference"].append(
        {
            **keys,
            "reference_error": ref,
            "reference_error_orthogonal": ref_orth,
            "smallest_rms_error": smallest,
            "ratio": ratio,
            "ratio_orthogonal": ratio_orth,
            "margin": factor,
            "margin_met": bool(ratio >= factor),
        }
    )


def _width(t: _Tables, ds: xr.Dataset) -> None:
    """Claim ``width_m``; points and lines of the RMS error (and of cov_rel_err) vs m."""
    keys = store_keys(ds)
    m = ds["m"].values.astype(float)
    w = t.weights(ds.sizes["seed"])
    rms = rms_replicates(ds["err2"].transpose("m", "seed").values, w)
    fit = fits.power_law_fit(m, rms, level=t.level)
    t.points(keys, "rms_error", "m", m, rms, ~fit.used)
    t.line(keys, "rms_error", "m", fit, m)
    t.local(keys, "rms_error", "m", m, rms)
    if "cov_rel_err" in ds:
        cov = rms_replicates(ds["cov_rel_err"].transpose("m", "seed").values ** 2, w)
        cov_fit = fits.power_law_fit(m, cov, level=t.level)
        t.points(keys, "cov_rel_err", "m", m, cov, ~cov_fit.used)
        t.line(keys, "cov_rel_err", "m", cov_fit, m)
    t.claim(
        keys, "width_m", quantity="rms_error", swept="m", **_rate_row(fit, STRONG_ORDER),
        **_fine(m, rms, ~fit.used, t.level),
    )  # fmt: skip


def _notes(ds: xr.Dataset) -> str:
    """Every attr whose name contains "note", joined."""
    return "; ".join(str(v) for k, v in ds.attrs.items() if "note" in k.lower() and v)


def _chaos(t: _Tables, ds: xr.Dataset) -> None:
    """Claims ``chaos_N_ambient`` and ``chaos_N_intrinsic``, the truncation and reference rows,
    points, lines.

    An N is left out of the fit when its mean sup W2² (replicate 0) is at most ``floor_factor`` ×
    its reference error, |mean sup_w2 − mean sup_w2_half| (``halving_reference_error``, on every
    bootstrap replicate; points quantity ``reference_error``). Stores without ``sup_w2_half`` fall
    back to ``floor_factor`` × the mean floor (points quantity ``floor``, drawn in either case).
    """
    keys = store_keys(ds)
    factor = float(t.options["floor_factor"])
    N = ds["N"].values.astype(float)
    w = t.weights(ds.sizes["replica"])

    def mean_of(name: str) -> np.ndarray:
        """Replicates (B+1, nN) of the mean over replicas of an (N, replica) variable."""
        return w @ ds[name].transpose("replica", "N").values.astype(float)

    mean = mean_of("sup_w2")
    floor = w @ ds["floor"].transpose("replica").values.astype(float) if "floor" in ds else None
    floor0 = float(floor[0]) if floor is not None else 0.0
    if "sup_w2_half" in ds:
        half = mean_of("sup_w2_half")
        ref_err = halving_reference_error(mean, half)  # (B+1, nN)
        rule, yardstick = "halving", ref_err[0]
        by_n = ", ".join(f"{n:g}: {e:.3g}" for n, e in zip(N, ref_err[0], strict=True))
        rule_note = (
            f"N with mean <= {factor:g} x its reference error |mean(N_ref) - mean(N_ref/2)| "
            f"(by N: {by_n}) excluded; floor {floor0:.3g} not used"
        )
    else:
        half = ref_err = None
        rule, yardstick = "floor", np.full(len(N), floor0)
        rule_note = f"N with mean <= {factor:g} x mean floor ({floor0:.3g}) excluded"
    excluded = ~(mean[0] > factor * yardstick)
    fit = fits.power_law_fit(N, mean, excluded, t.level)
    t.points(keys, "sup_w2", "N", N, mean, ~fit.used)
    t.line(keys, "sup_w2", "N", fit, N)
    t.local(keys, "sup_w2", "N", N, mean)
    if "w2_final" in ds:
        t.points(keys, "w2_final", "N", N, mean_of("w2_final"))
    if floor is not None:
        t.points(keys, "floor", "N", N, np.repeat(floor[:, None], len(N), axis=1))
    if ref_err is not None:
        t.points(keys, "reference_error", "N", N, ref_err)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean[0] / yardstick
    for j, n in enumerate(N):
        t.rows["chaos_reference"].append(
            {
                **keys,
                "N": int(n),
                "N_ref": int(ds.attrs["N_ref"]) if "N_ref" in ds.attrs else pd.NA,
                "sup_w2": mean[0, j],
                "sup_w2_half": half[0, j] if half is not None else np.nan,
                "reference_error": ref_err[0, j] if ref_err is not None else np.nan,
                "floor": floor0 if floor is not None else np.nan,
                "rule": rule,
                "ratio": ratio[j],
                "margin": factor,
                "excluded": not fit.used[j],
            }
        )
    d = keys["d"]
    note = _notes(ds)
    for name, k in (("ambient", d), ("intrinsic", d - 1)):
        predicted = _attr(ds, f"rate_{name}_exponent")
        t.claim(
            keys, f"chaos_N_{name}", quantity="sup_w2", swept="N", **_rate_row(fit, predicted),
            **_fine(N, mean, ~fit.used, t.level),
            note="; ".join(filter(None, [f"k = {k}", rule_note, note if k == 4 else ""])),
        )  # fmt: skip
    if "kappa_truncation" in ds:
        trunc = ds["kappa_truncation"]
        values = np.abs(trunc.values.astype(float))

        def stat(name: str, default: float) -> float:
            value = trunc.attrs.get(name, ds.attrs.get(name, default))
            return float(value)

        rms_t = stat("truncation_rms", float(np.sqrt(np.mean(values**2))))
        max_t = stat("truncation_max", float(np.max(values)))
        kappa_1 = _attr(ds, "kappa_1")
        t.rows["chaos_truncation"].append(
            {
                **keys,
                "P": int(ds.attrs["P"]) if "P" in ds.attrs else pd.NA,
                "N_ref": int(ds.attrs["N_ref"]) if "N_ref" in ds.attrs else pd.NA,
                "kappa_1": kappa_1,
                "truncation_rms": rms_t,
                "truncation_max": max_t,
                "relative_rms": rms_t / abs(kappa_1) if kappa_1 else np.nan,
                "relative_max": max_t / abs(kappa_1) if kappa_1 else np.nan,
            }
        )


def _fine(x: np.ndarray, reps: np.ndarray, excluded: np.ndarray, level: float) -> dict[str, float]:
    """The claims columns of the local slope at the fine end (largest x) of a fit's points."""
    order = np.argsort(x)
    slope, low, high = fits.fine_end_slope(
        np.asarray(x, float)[order], np.asarray(reps, float)[:, order], excluded[order], level
    )
    return {"fine_slope": slope, "fine_low": low, "fine_high": high}


def _scalar_claim(
    t: _Tables,
    keys: Mapping[str, Any],
    claim: str,
    quantity: str,
    reps: np.ndarray,
    predicted: float,
    name: str,
    n_points: int,
    note: str = "",
    extrapolated: float = np.nan,
) -> None:
    """A claim on a bootstrapped scalar ``reps`` (B+1,) against ``predicted`` (named ``name``);
    also its parity point (x = predicted) in ``points``. ``extrapolated`` is the sample's
    step-extrapolated value (NaN if none)."""
    lo, hi = scalar_interval(reps, t.level)
    t.claim(
        keys, claim, quantity=quantity, predicted=predicted, fitted=float(reps[0]), ci_low=lo,
        ci_high=hi, n_points=n_points, n_excluded=0, extrapolated=extrapolated,
        note=f"{note}; predicted: {name}",
    )  # fmt: skip
    t.points(keys, quantity, "predicted", [predicted], np.asarray(reps, float)[:, None])


def effective_paths(energy: np.ndarray) -> np.ndarray:
    """Effective number of paths (Σ_p E_p)² / Σ_p E_p² per time, energy (paths, times).

    It is the number of equally weighted paths with the same spread of weights E_p / Σ E_p: close
    to the number of paths when all carry the mean alike, close to 1 when one path dominates it.
    """
    total = energy.sum(axis=0)
    squares = (energy * energy).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(squares > 0, total * total / squares, 0.0)


def _sync(t: _Tables, ds: xr.Dataset) -> None:
    """Claims ``energy_rate``, ``cluster`` and, for sign 0, ``lyapunov`` and ``moment_rate``."""
    keys = store_keys(ds)
    opt = t.options
    sign = keys["attention_sign"]
    ds = ds.sortby("time")
    time = ds["time"].values.astype(float)
    energy = ds["energy"].transpose("path", "time").values.astype(float)
    mean = t.weights(ds.sizes["path"]) @ energy  # (B+1, times)
    start = float(time.min())
    # Times where the sample mean estimates E[E_β]: above the numerical floor, and carried by
    # enough paths. Near collapse the energy is roughly log-normal across paths (log r has variance
    # growing like (λ̄ − 2λ₁) t), so E[E_β] is dominated by ever rarer paths; once the effective
    # number of paths (Σ E)² / Σ E² is small, the sample mean decays faster than E[E_β] (towards the
    # typical rate 2λ₁), and the bootstrap does not see it.
    effective = effective_paths(energy)
    min_effective = float(opt["min_effective_paths"])
    resolved = np.logical_and.accumulate(
        (mean[0] > ENERGY_FLOOR * mean[0, 0]) & (effective >= min_effective)
    )
    # the late window is taken within the times before either condition first fails
    horizon = float(time[resolved].max()) if resolved.any() else float(time.max())
    late_start = start + float(opt["late_fraction"]) * (horizon - start)
    late = (time >= late_start) & (time <= horizon)
    exclude = ~(late & resolved)
    fit = fits.exponential_rate_fit(time, mean, exclude, t.level)
    t.points(keys, "energy", "time", time, mean, ~fit.used)
    t.line(keys, "energy", "time", fit, time, name="exponential")

    lam_bar, lam_1 = _attr(ds, "lambda_bar"), _attr(ds, "lambda_1")
    bound = _attr(ds, "rate_bound")
    sync = _flag(ds, "synchronization")
    odd = _flag(ds, "odd_field")
    if sync is None:
        sync = bool(lam_bar < 0 and not odd)
    if sign == 0:
        predicted, name = lam_bar, "lambda_bar"
        note = "near-collapse rate of E[E_beta] against lambda_bar"
    else:
        predicted, name = bound, "rate_bound"
        note = "bound e^{lambda_bar' t} with epsilon = 0 (attractive head Q = K = V = I)"
    # Premise: λ̄ < 0 and a field that is not odd; for the bound also ε = 0, which holds for the
    # attractive head Q = K = V = I only (a repulsive head has a rate of its own).
    premise = bool(sync) and sign >= 0
    if not sync:
        note += f"; needs lambda_bar < 0 and a field that is not odd ({name} = {predicted:.3g})"
    elif sign < 0:
        note += "; the bound's epsilon = 0 holds for attractive attention only"
    t.claim(
        keys, "energy_bound" if sign else "energy_rate", quantity="energy", swept="time",
        **_rate_row(fit, predicted), premise_met=premise,
        note=f"fitted on {late_start:.3g} <= t <= {horizon:.3g} (of {float(time.max()):.3g}: "
        f"energy above {ENERGY_FLOOR:g} E(0) and >= {min_effective:g} effective paths); " + note,
    )  # fmt: skip
    if sign == 0 and sync:
        reps = np.concatenate([[fit.slope], fit.boot_slopes[:, 0]])
        t.points(keys, "energy_rate", "predicted", [lam_bar], reps[:, None])

    if sign == 0 and "lyap_per_path" in ds:
        w2 = t.weights(ds.sizes["path2"])
        dt = _attr(ds, "two_point_dt")

        def two_point(name: str) -> tuple[np.ndarray, float]:
            """Replicates (B+1,) of the weighted mean over paths of ``name`` (step Δ), and the
            sample mean of ``<name>_coarse`` (step 2Δ, coupled; NaN for a store without it)."""
            fine = w2 @ ds[name].transpose("path2").values.astype(float)
            if f"{name}_coarse" not in ds:
                return fine, np.nan
            return fine, float(w2[0] @ ds[f"{name}_coarse"].transpose("path2").values)

        lyap, lyap_coarse = two_point("lyap_per_path")
        _scalar_claim(
            t, keys, "lyapunov", "lyapunov", lyap, lam_1, "lambda_1", ds.sizes["path2"],
            "pathwise exponent of log|X^i - X^j| (two-point run)",
            extrapolated=2 * lyap[0] - lyap_coarse,
        )  # fmt: skip
        if "moment_ratio_sq" in ds:
            moment, moment_coarse = two_point("moment_ratio_sq")
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.log(moment) / dt
                rate_coarse = np.log(moment_coarse) / (2 * dt)
            _scalar_claim(
                t, keys, "moment_rate", "moment_rate", rate, lam_bar, "lambda_bar",
                ds.sizes["path2"], "(1/dt) log E[(r'/eps)^2] (two-point run)",
                extrapolated=2 * rate[0] - rate_coarse,
            )  # fmt: skip
    _cluster(t, ds, keys, mean, sync, bound)


def _cluster(
    t: _Tables,
    ds: xr.Dataset,
    keys: Mapping[str, Any],
    mean: np.ndarray,
    sync: bool,
    bound: float,
) -> None:
    """The ``cluster`` claim from the mean energy replicates ``mean`` (B+1, times)."""
    threshold = float(t.options["cluster_threshold"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean[:, -1] / mean[:, 0]
    lo, hi = scalar_interval(ratio, t.level)
    observed = bool(ratio[0] < threshold)
    sign = keys["attention_sign"]
    if sign == 0:
        predicted: bool | None = True if sync else None
        why = "synchronization (lambda_bar < 0 and the field is not odd)"
    elif sign > 0:
        # the bound only guarantees decay when λ̄′ < 0; otherwise it predicts nothing
        predicted = True if np.isfinite(bound) and bound < 0 else None
        why = "rate_bound < 0 (the bound predicts nothing when it is >= 0)"
    else:
        predicted, why = None, "no prediction for repulsive attention"
    label = {True: "clusters", False: "no clusters", None: "no prediction"}
    t.claim(
        keys, "cluster", quantity="energy_ratio", swept="time", predicted=threshold,
        fitted=float(ratio[0]), ci_low=lo, ci_high=hi, observed=label[observed],
        expected=label[predicted], premise_met=predicted is not None, n_points=2, n_excluded=0,
        note=f"fitted = E(end)/E(start), clusters if below predicted (the threshold); from {why}",
    )  # fmt: skip


def sde_claims(
    depth: Sequence[xr.Dataset],
    width: Sequence[xr.Dataset],
    chaos: Sequence[xr.Dataset],
    sync: Sequence[xr.Dataset],
    options: Mapping[str, Any],
    joint: Mapping[str, Sequence[xr.Dataset]] | None = None,
    odd: Sequence[xr.Dataset] = (),
) -> dict[str, pd.DataFrame]:
    """All tables of the module docstring from the stores of each kind; ``joint`` maps the kinds
    ``joint_width`` and ``joint_tokens`` to their stores (``joint_claims``), ``odd`` the odd-field
    stores (``odd_claims``).

    ``options`` is the config block ``sde.fits`` (bootstrap, bootstrap_seed, level,
    tolerance_depth, tolerance_width, tolerance_energy, tolerance_lyapunov, floor_factor,
    late_fraction, cluster_threshold).
    """
    tables = _Tables(options)
    for runner, stores in ((_depth, depth), (_width, width), (_chaos, chaos), (_sync, sync)):
        for ds in stores:
            runner(tables, ds)
    for kind, stores in (joint or {}).items():
        for ds in stores:
            joint_rows(tables, ds, store_keys(ds), kind)
    for ds in odd:
        odd_rows(tables, ds, store_keys(ds))
    return tables.frames()
