"""The d-slopes of the studies of experiment ``adamw`` and their claims (docs/mathematics.md,
``adamw``).

Along every line of sites (``adamw.sites``) that differ only in d (at least :data:`MIN_DIMS`
values), for each learning-rate scaling η(d) = η (d/d₀)^(−a) and variant, the exponent s of
``E ∝ d^s`` (worst step k ≤ K, pooled over task and head seeds) of X, P and θ, fitted by
weighted least squares on log–log axes (``analysis.fits.power_law_fit_multi``). Its interval
comes from the hierarchical bootstrap of ``adamw.hierarchy`` (task seeds, and head seeds within
each); ``ci_heads_low``/``ci_heads_high`` is the interval of the same fit when only the head seeds
are resampled (the tasks held fixed), to show how much the task draws add. ``vs_zero`` says where
the interval lies with respect to 0. Claims (one row per line and variable in ``claims``, grid
``<study>_<scaling>``):

- ``err_d`` (P1's statement: under block-wise AdamW the constants do not depend on d), a bound
  with predicted exponent 0 and tolerance ``max_slope_d``, for X and P; its premise is the
  block-wise variant, so the standard variant's rows are judged *outside the premise*; it is read
  under each scaling (P1's abstract does not say how η scales with d).
- ``theta_d`` (derived here): the parameter error grows with d (exponent > 0). AdamW moves every
  entry by about η(d) per step whatever the size of its gradient, so the discrete and limit
  updates differ entry by entry by about η(d) times the relative fluctuation of the normalised
  update, and the Frobenius norm over the 3d² entries of Q, K, V adds those up: ~ d η(d), i.e.
  d¹ (fixed η) or d^(1/2) (η ∝ d^(−1/2)) if that fluctuation does not shrink with d. Only the sign
  is claimed.

Sites whose error is below ``solver_margin`` × the limit's own error are excluded from the fits.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attnlimits.adamw.sites import SITE_KEYS, TRACKED, Site
from attnlimits.analysis import fits
from attnlimits.analysis.claims import Claim, Premise, judge
from attnlimits.p1.claims import DIMENSION

MIN_DIMS = 3

BLOCKWISE = Premise(
    "block-wise AdamW (P1's d-statement; the standard variant is reported, not judged); read "
    "under the row's learning-rate scaling (grid <study>_<scaling>): P1's abstract does not say "
    "how η scales with d",
    check=lambda row, config: row.get("variant") == "blockwise",
)
ERR_D = Claim(
    "err_d", "bound", "paper",
    "worst-step error of X and P does not grow with d (exponent ≤ 0), interval over task seeds "
    "and head seeds",
    premise=BLOCKWISE, statement=DIMENSION, tolerance="max_slope_d",
)  # fmt: skip
THETA_D = Claim(
    "theta_d", "sign", "derived", "the worst-step parameter error grows with d (exponent > 0)",
    where="attnlimits.adamw.dims: AdamW moves each of the 3d² entries by about η(d) per step",
    direction=1,
)  # fmt: skip
#: The claim of each tracked variable.
CLAIM_OF = {"x": ERR_D, "p": ERR_D, "theta": THETA_D}
LINE_KEYS = tuple(k for k in SITE_KEYS if k != "d")


def _vs_zero(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    return "above 0" if low > 0 else ("below 0" if high < 0 else "contains 0")


def _lines(all_sites: Sequence[Site]) -> list[list[Site]]:
    """The sites grouped by every key but d, each group sorted by d, those with ≥ MIN_DIMS d."""
    groups: dict[tuple, list[Site]] = {}
    for site in all_sites:
        groups.setdefault(tuple(site.key[k] for k in LINE_KEYS), []).append(site)
    return [
        sorted(group, key=lambda s: s.key["d"])
        for group in groups.values()
        if len({s.key["d"] for s in group}) >= MIN_DIMS
    ]


def dims_tables(
    all_sites: Sequence[Site], options: Mapping[str, Any]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The ``dims`` table (module docstring) and the claim rows (``claims`` columns)."""
    level, margin = float(options["level"]), float(options["solver_margin"])
    rows, claims = [], []
    for line, var in itertools.product(_lines(all_sites), TRACKED):
        fixed = {k: line[0].key[k] for k in LINE_KEYS}
        ds = np.array([s.key["d"] for s in line], dtype=np.float64)
        y = np.stack([s.stats[var]["worst"] for s in line], axis=1)
        own = np.array([s.own[var] for s in line])
        exclude = (y[0] < margin * own) | ~np.isfinite(y[0])
        fit = fits.power_law_fit_multi(ds[:, None], y, exclude, level)
        heads = np.stack([s.heads[var] for s in line], axis=1)
        fit_heads = fits.power_law_fit_multi(ds[:, None], heads, exclude, level)
        fine = fits.fine_end_slope(ds, y, exclude, level)
        claim = CLAIM_OF[var]
        evidence = {
            "experiment": "adamw",
            "claim": claim.id,
            "grid": f"{fixed['study']}_{fixed['lr_scaling']}",
            "variable": var,
            "selection": "worst",
            **{k: fixed[k] for k in ("variant", "eps", "N", "beta", "L", "H")},
            "d": pd.NA,
            "quantity": "err",
            "swept": "d",
            "predicted": 0.0,
            "fitted": fit.slope,
            "ci_low": fit.ci_low,
            "ci_high": fit.ci_high,
            "n_points": fit.n_points,
            "n_excluded": len(ds) - fit.n_points,
            **dict(zip(("fine_slope", "fine_low", "fine_high"), fine, strict=True)),
        }
        status, reason = judge(claim, evidence, {}, options)
        rows.append(
            {
                **fixed,
                "variable": var,
                "slope": fit.slope,
                "ci_low": fit.ci_low,
                "ci_high": fit.ci_high,
                "ci_heads_low": fit_heads.ci_low,
                "ci_heads_high": fit_heads.ci_high,
                "vs_zero": _vs_zero(fit.ci_low, fit.ci_high),
                "claim": claim.id,
                "status": status,
                "reason": reason,
                "n_points": fit.n_points,
                "n_excluded": len(ds) - fit.n_points,
                "tasks": len(line[0].task_seeds),
                **{f"err_d{int(d)}": float(y[0, j]) for j, d in enumerate(ds)},
            }
        )
        claims.append(evidence)
    return pd.DataFrame(rows), claims
