"""The claims of the metastable window of experiment ``lowtemp`` and their evidence rows
(``metastability`` module docstring; the window jobs of ``window_grid``).

Per (variant, head) of the window jobs, from the largest size at ``fits.metastable_fraction``
(the β's whose window is closed and converged in N, ``metastability.fitted_rows``), with the same
fit at ``fits.metastable_check_fraction`` in the note, so that a conclusion that holds at one
threshold only shows:

- ``metastable_window`` (sign, derived from P3's two bounds): the window's length grows with
  log β: the smallest local slope of the length in log β between neighbouring β's, its interval
  from the change of the lengths from the next smaller N, lies above 0 (a straight-line fit in
  log β is in table ``metastable_fits`` and the note, but the length is convex in log β, so its
  t-interval measures the curvature, not the sign); its premise is that windows close within the
  horizon (not the plain flow's);
- ``metastable_open`` (sign, derived, plain variant): the window, once entered, stays open to the
  horizon at every β converged in N (observed ``open``/``closes``, expected ``open``);
- ``metastable_exit`` (rate, derived, consensus variant): the slope of log t_out in log β is 1
  (t_out linear in β, the contracting ring); the line fit's t-interval, the local slopes (their
  intervals from the change from the next smaller N) in the note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis.claims import Claim, Premise
from attnlimits.lowtemp.metastability import (
    fitted_rows,
    local_slopes,
    n_errors,
    window_fits,
    window_table,
)

_CLOSES = Premise(
    "the window closes within the horizon at some β converged in N (the consensus flow; the "
    "plain flow's window stays open, claim metastable_open)"
)


def _identity(row: Mapping[str, Any], config: Mapping[str, Any]) -> bool | None:
    """The row's own premise (``premise_met``), and False for a head of lowtemp.heads whose kind
    is not identity (the derivations take Q = K = V = I); a head the config does not name is
    judged by ``premise_met`` alone."""
    head = config.get("lowtemp", {}).get("heads", {}).get(str(row["head"]))
    if head is not None and head.get("kind") != "identity":
        return False
    met = row.get("premise_met")
    return None if met is None or met is pd.NA else str(met).strip().lower() == "true"


_PLAIN = Premise(
    "the plain flow of a head with Q = K = V = I, its window entered at a β converged in N",
    check=_identity,
)
_RING = Premise(
    "the consensus flow of a head with Q = K = V = I, windows closed and converged in N at 3 "
    "β's or more",
    check=_identity,
)
WHERE = "lowtemp.metastability, module docstring"
CLAIMS: tuple[Claim, ...] = (
    Claim("metastable_window", "sign", "derived", "the window where W2(μ^β_t, T#μ₀) < ε grows "
          "with log β (slope > 0)", where="docs/mathematics.md, lowtemp: t_out − t_in ≳ "
          "log β/(2C) from the two bounds of P3's abstract (lowtemp.metastability)",
          premise=_CLOSES, direction=1),
    Claim("metastable_open", "sign", "derived", "plain: the window never closes (in z the "
          "inverse temperature β e^(2t) grows, the flow freezes near T#μ₀)",
          where=f"{WHERE}: ż = m_(β e^(2t))[ν_t](z) − z for V = I", premise=_PLAIN),
    Claim("metastable_exit", "rate", "derived", "consensus: t_out grows linearly in β (slope 1 "
          "of log t_out in log β; 'faster' means slower growth), not like log β",
          where=f"{WHERE}: the ring contracts, d(r²)/dt ≈ −1/β", premise=_RING),
)  # fmt: skip

Row = Callable[..., dict[str, Any]]


def _betas(values: pd.Series) -> str:
    return ", ".join(f"{b:g}" for b in values) or "none"


def _fit(fits: pd.DataFrame, fraction: float, quantity: str) -> pd.Series | None:
    part = fits[np.isclose(fits["fraction"], fraction) & (fits["quantity"] == quantity)]
    return None if part.empty else part.iloc[-1]  # the largest size (sizes sorted by N)


def _check_text(fits: pd.DataFrame, fraction: float, quantity: str) -> str:
    fit = _fit(fits, fraction, quantity)
    if fit is None or not np.isfinite(fit["slope"]):
        return f"at fraction {fraction:g}: no fit (fewer than 3 closed windows converged in N)"
    return (
        f"at fraction {fraction:g}: {fit['slope']:.3g} [{fit['ci_low']:.3g}, "
        f"{fit['ci_high']:.3g}] over beta = {fit['betas']}"
    )


def _evidence(part: pd.DataFrame, fraction: float, horizon: float) -> str:
    """The window's state per β at the largest size, in words."""
    big = part[(part["N"] == part["N"].max()) & np.isclose(part["fraction"], fraction)]
    entered = big[big["entered"].astype(bool)]
    unconverged = big[~big["n_converged"].astype(bool) & big["entered"].astype(bool)]
    return (
        f"N = {int(big['N'].iloc[0])}, threshold {big['threshold'].iloc[0]:.3g} = {fraction:g} "
        f"W2(mu0, T#mu0), horizon {horizon:g}; closed for beta = "
        f"{_betas(entered.loc[entered['closed'].astype(bool), 'beta'])}; open at the horizon "
        f"for beta = {_betas(entered.loc[~entered['closed'].astype(bool), 'beta'])}; never below "
        f"for beta = {_betas(big.loc[~big['entered'].astype(bool), 'beta'])}; ends not converged "
        f"in N for beta = {_betas(unconverged['beta'])}"
    )


def _local(big: pd.DataFrame, part: pd.DataFrame, values: Callable) -> pd.DataFrame:
    """Local slopes of ``values`` in log β over the fitted rows of ``big`` (the largest size),
    their intervals from the change of the values from the next smaller N
    (``metastability.local_slopes``)."""
    used = fitted_rows(big).sort_values("beta")
    err = n_errors(part, values).reindex(used["beta"]).to_numpy(np.float64)
    x = np.log(used["beta"].to_numpy(np.float64))
    return local_slopes(x, np.asarray(values(used), dtype=np.float64), np.nan_to_num(err))


def _local_text(slopes: pd.DataFrame) -> str:
    return (
        "; ".join(f"{r.slope:.3g} [{r.low:.3g}, {r.high:.3g}]" for r in slopes.itertuples())
        or "none"
    )


def _rows(
    variant: str,
    head: str,
    part: pd.DataFrame,
    fits: pd.DataFrame,
    opts: Mapping[str, Any],
    horizon: float,
    row: Row,
) -> list[dict[str, Any]]:
    """The claim rows of one (variant, head) (module docstring)."""
    main, check = opts["metastable_fraction"], opts["metastable_check_fraction"]
    at_main, at_check = (part[np.isclose(part["fraction"], f)] for f in (main, check))
    big, big_check = (p[p["N"] == p["N"].max()] for p in (at_main, at_check))
    used = fitted_rows(big)
    evidence = _evidence(part, main, horizon)
    rows = []
    length = _local(big, at_main, lambda t: t["length"])
    checked = _local(big_check, at_check, lambda t: t["length"])
    low = length.loc[length["slope"].idxmin()] if len(length) else None
    note = (
        f"{evidence}; local slopes of the length in log beta (interval: the change from the "
        f"next smaller N) {_local_text(length)}; at fraction {check:g}: {_local_text(checked)}; "
        f"line fit {_check_text(fits, main, 'length')}"
    )
    rows.append(row(
        "metastable_window", quantity="window_length", swept="log_beta", predicted=0.0,
        fitted=low["slope"] if low is not None else np.nan,
        ci_low=length["low"].min() if low is not None else np.nan,
        ci_high=length["high"].min() if low is not None else np.nan,
        n_points=len(used), premise_met=bool(len(used)), resolved=len(used) >= 2,
        note=note + ("" if len(used) >= 2 else "; fewer than 2 closed windows converged in N"),
    ))  # fmt: skip
    converged = big[big["entered"].astype(bool) & big["n_converged"].astype(bool)]
    if variant == "plain":
        closes = bool(converged["closed"].astype(bool).any())
        ratio = (converged["w2_end"] / converged["threshold"]).max() if len(converged) else np.nan
        late = converged["late_change"].max() if len(converged) else np.nan
        rows.append(row(
            "metastable_open", quantity="window_state", swept="time", predicted=np.nan,
            n_points=len(converged), premise_met=bool(len(converged)),
            observed="closes" if closes else "open", expected="open",
            note=f"{evidence}; largest W2(t = horizon) / threshold over those beta: {ratio:.3g}; "
            f"largest relative change of W2 over the second half of the horizon: {late:.2g} "
            "(negative: still falling)",
        ))  # fmt: skip
    if variant == "consensus":
        fit = _fit(fits, main, "log_t_out")
        n = int(fit["n_points"]) if fit is not None else 0
        exits = _local(big, at_main, lambda t: np.log(t["t_out"]))
        rows.append(row(
            "metastable_exit", quantity="t_out", swept="log_beta", predicted=1.0,
            fitted=fit["slope"] if fit is not None else np.nan,
            ci_low=fit["ci_low"] if fit is not None else np.nan,
            ci_high=fit["ci_high"] if fit is not None else np.nan, n_points=n,
            premise_met=True, resolved=n >= 3,
            note=f"{evidence}; local slopes of log t_out in log beta {_local_text(exits)}; "
            f"log t_out vs log beta {_check_text(fits, check, 'log_t_out')}",
        ))  # fmt: skip
    return rows


def metastable_tables(
    stores: Sequence[tuple[Any, xr.Dataset]], opts: Mapping[str, Any], row: Callable[..., Any]
) -> dict[str, list]:
    """The tables ``metastability`` and ``metastable_fits`` of the window stores and the claim
    rows; ``row(key, claim, **values)`` makes an evidence row (``claims._claim``)."""
    fractions = [opts["metastable_fraction"], opts["metastable_check_fraction"]]
    table = window_table(stores, fractions, opts["metastable_n_tol"])
    fits = window_fits(table, opts["level"])
    horizon = {(k.variant, k.head): float(ds["time"].values[-1]) for k, ds in stores}
    claims = []
    for (variant, head), part in table.groupby(["variant", "head"], sort=False):
        key = next(k for k, _ in stores if (k.variant, k.head) == (variant, head))
        own = fits[(fits["variant"] == variant) & (fits["head"] == head)]
        claims += _rows(
            variant, head, part, own, opts, horizon[variant, head],
            partial(row, key),
        )  # fmt: skip
    return {"claims": claims, "metastability": [table], "metastable_fits": [fits]}
