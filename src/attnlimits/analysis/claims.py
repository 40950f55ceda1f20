"""Claims as declared data, and the one engine that judges them (docs/mathematics.md, "Claims and
what each verdict word means").

A :class:`Claim` states its **source** (a paper's :class:`Statement`, a heuristic, or a prediction
derived here), its **kind** (a *bound* error ≤ C·rate, a sharp *rate*, a *sign*, a *value*), its
**premise** and its prediction. An experiment's fit writes one row of evidence per checked claim
and setting (``claim``, ``predicted``, ``fitted``, ``ci_low``, ``ci_high``, ``n_points``, and where
it has them ``fine_slope``/``fine_low``/``fine_high``: the local slope at the fine end of the grid,
``premise_met``, ``resolved`` with ``note``, ``observed``/``expected`` for sign claims);
:func:`judge` turns a row into a **status** from a small vocabulary:

- bound: **holds on the grid** (the constant error/rate does not grow significantly towards the
  fine end: the fitted exponent's interval reaches the rate's, or the local slope at the fine
  end does), **holds, not sharp** (the interval lies entirely on the fast side), or, when the
  constant grows significantly both over the grid and at its fine end, **contradicted** for a
  paper's statement and **exceeded** for a heuristic or derived bound; **unresolved** when the
  constant grows significantly at the fine end but not over the grid (local slopes not settled);
- rate: **matches** (the interval reaches the prediction, or the fit is within the tolerance),
  **faster**, **slower**; **unresolved** when it is off over the grid but the local slope at the
  fine end reaches the prediction (local slopes not settled);
- sign: **as predicted**, **contradicted** (paper) or **opposite** (otherwise), **unresolved**
  when the interval straddles zero (or, for an observed/expected row, its threshold);
- value: **matches** (interval or tolerance), **contradicted** (paper) or **differs**;
  **unresolved** when the row's step-extrapolated value (``extrapolated``: Richardson's
  2·v(Δ) − v(2Δ)) reaches the prediction, i.e. the difference is within the finite-step bias;
- any kind: **outside the premise**, or **unresolved** with the reason (too few points, the
  reference error too close, an interval that is not finite).

"Contradicted" is said only of a paper's statement, inside its premise, on resolved data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

KINDS = ("bound", "rate", "sign", "value")
SOURCES = ("paper", "heuristic", "derived")

HOLDS, NOT_SHARP = "holds on the grid", "holds, not sharp"
CONTRADICTED, EXCEEDED = "contradicted", "exceeded"
MATCHES, FASTER, SLOWER = "matches", "faster", "slower"
AS_PREDICTED, OPPOSITE, DIFFERS = "as predicted", "opposite", "differs"
OUTSIDE, UNRESOLVED = "outside the premise", "unresolved"
#: Every status, and whether the data agree with the claim (True), disagree (False) or cannot say.
STATUSES: dict[str, bool | None] = {
    HOLDS: True, NOT_SHARP: True, MATCHES: True, AS_PREDICTED: True,
    CONTRADICTED: False, EXCEEDED: False, FASTER: False, SLOWER: False, OPPOSITE: False,
    DIFFERS: False, OUTSIDE: None, UNRESOLVED: None,
}  # fmt: skip
#: Fewest points of a fit that can resolve a claim on its own.
MIN_POINTS = 3


@dataclass(frozen=True)
class Statement:
    """A paper's statement: ``paper`` (P1, P2, P3), an id, its words and where it is."""

    paper: str
    id: str
    text: str
    where: str


@dataclass(frozen=True)
class Premise:
    """When a claim applies. ``check(row, config)`` says whether a row satisfies it (None: the
    row's own ``premise_met`` column, absent or empty meaning satisfied)."""

    text: str
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | None = None


ALWAYS = Premise("none beyond the experiment's settings")


@dataclass(frozen=True)
class Claim:
    """A checked statement (module docstring).

    ``source`` is "paper" (then ``statement`` says which), "heuristic" or "derived" (then
    ``where`` names the docs section that derives it). ``predicted`` describes the prediction in
    words (the number is in each row); ``tolerance`` is a number or the name of a fit option
    (rates and values: the distance that still matches; bounds: how much growth of the constant's
    exponent is tolerated). ``fine_end`` is where the grid is fine: "large" values of the swept
    parameter (L, H, N, m, β) or "small" ones (a swept quantity that shrinks, such as s(β)).
    """

    id: str
    kind: str
    source: str
    predicted: str
    premise: Premise = ALWAYS
    statement: Statement | None = None
    where: str = ""
    tolerance: float | str = 0.0
    relative: bool = False
    fine_end: str = "large"
    #: a sign claim's predicted side of 0 of the fitted number (+1 above, −1 below)
    direction: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind {self.kind!r} not in {KINDS}")
        if self.source not in SOURCES:
            raise ValueError(f"claim {self.id}: source {self.source!r} not in {SOURCES}")
        if self.kind == "sign" and self.direction not in (-1, 0, 1):
            raise ValueError(f"claim {self.id}: direction must be -1, 0 (observed/expected) or 1")
        if (self.source == "paper") != (self.statement is not None):
            raise ValueError(f"claim {self.id}: a paper's claim, and only one, names its statement")

    @property
    def source_text(self) -> str:
        if self.statement is not None:
            return f"{self.statement.paper}: {self.statement.where}"
        return self.source if not self.where else f"{self.source} ({self.where})"

    def tolerance_of(self, options: Mapping[str, Any]) -> float:
        if isinstance(self.tolerance, str):
            return float(options[self.tolerance])
        return float(self.tolerance)


def _number(row: Mapping[str, Any], name: str) -> float:
    value = row.get(name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _flag(row: Mapping[str, Any], name: str) -> bool | None:
    value = row.get(name)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def _within(fitted: float, predicted: float, tol: float, relative: bool) -> bool:
    scale = abs(predicted) if relative else 1.0
    return math.isfinite(fitted) and abs(fitted - predicted) <= tol * scale


def judge(
    claim: Claim, row: Mapping[str, Any], config: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[str, str]:
    """The status of ``claim`` on one evidence row, and the reason in words."""
    premise = claim.premise.check(row, config) if claim.premise.check else _flag(row, "premise_met")
    if premise is False:
        return OUTSIDE, f"premise: {claim.premise.text}"
    if _flag(row, "resolved") is False:
        return UNRESOLVED, str(row.get("note") or "the numerics cannot decide")
    paper = claim.source == "paper"
    if claim.kind == "sign" and "observed" in row and isinstance(row.get("expected"), str):
        observed, expected = str(row["observed"]), str(row["expected"])
        if expected == "no prediction":
            return OUTSIDE, f"premise: {claim.premise.text}"
        threshold = _number(row, "predicted")
        lo, hi = _number(row, "ci_low"), _number(row, "ci_high")
        if lo <= threshold <= hi:
            return UNRESOLVED, (
                f"observed {observed}, but the interval [{lo:.3g}, {hi:.3g}] straddles the "
                f"threshold {threshold:.3g}"
            )
        if observed == expected:
            return AS_PREDICTED, f"observed {observed}"
        return (CONTRADICTED if paper else OPPOSITE), f"observed {observed}, predicted {expected}"
    predicted = _number(row, "predicted")
    fitted, low, high = (_number(row, c) for c in ("fitted", "ci_low", "ci_high"))
    points = _number(row, "n_points")
    tol = claim.tolerance_of(options)
    if claim.kind == "value" and not (math.isfinite(low) and math.isfinite(high)):
        low = high = math.nan  # a deterministic value: judged by the tolerance alone
    elif not (math.isfinite(low) and math.isfinite(high) and math.isfinite(predicted)):
        return UNRESOLVED, "no finite interval (too few usable points)"
    if claim.kind in ("bound", "rate") and math.isfinite(points) and points < MIN_POINTS:
        return UNRESOLVED, f"{points:.0f} points left after exclusions (at least {MIN_POINTS})"
    if claim.kind == "bound":
        return _bound(claim, row, predicted, low, high, tol, paper)
    if claim.kind == "rate":
        return _rate(claim, row, predicted, fitted, low, high, tol)
    if claim.kind == "sign":
        side = float(claim.direction)
        if (low > 0) if side > 0 else (high < 0):
            return AS_PREDICTED, "interval on the predicted side of 0"
        if (high < 0) if side > 0 else (low > 0):
            return (CONTRADICTED if paper else OPPOSITE), "interval on the other side of 0"
        return UNRESOLVED, "interval straddles 0"
    if low <= predicted <= high or _within(fitted, predicted, tol, claim.relative):
        return (
            MATCHES,
            "interval reaches the value" if low <= predicted <= high else "within tolerance",
        )
    extrapolated = _number(row, "extrapolated")
    if math.isfinite(extrapolated) and (
        _within(extrapolated, predicted, tol, claim.relative)
        or (extrapolated - predicted) * (fitted - predicted) <= 0
    ):
        return UNRESOLVED, (
            f"finite-step bias: the step-extrapolated value {extrapolated:.4g} reaches the "
            f"prediction {predicted:.4g}"
        )
    return (CONTRADICTED if paper else DIFFERS), "interval excludes the value beyond tolerance"


def _bound(
    claim: Claim, row: Mapping[str, Any], p: float, low: float, high: float, tol: float, paper: bool
) -> tuple[str, str]:
    """error ≤ C x^p, judged by the growth exponent of C = error / x^p towards the fine end,
    (fitted − p) for a fine end at large x and (p − fitted) at small x, with its interval
    (docs/mathematics.md, "Claims and what each verdict word means").

    When the constant grows significantly at the fine end (the local slope there, growth above
    ``tol`` on its whole interval): contradicted (or exceeded, for a heuristic or derived bound)
    if it grows significantly over the grid too, else unresolved (local slopes not settled).
    Otherwise: not sharp when the grid's interval lies below 0 (the constant decays); holds on the
    grid when it reaches a growth of at most ``tol``, or when it does not but the fine end does;
    unresolved when it grows over the grid and there is no local slope at the fine end."""
    sign = 1.0 if claim.fine_end == "large" else -1.0

    def growth(lo: float, hi: float) -> tuple[float, float]:
        a, b = sign * (lo - p), sign * (hi - p)
        return min(a, b), max(a, b)

    g_low, g_high = growth(low, high)
    grid_text = f"growth exponent of the constant [{g_low:.3g}, {g_high:.3g}]"
    fine = tuple(_number(row, c) for c in ("fine_slope", "fine_low", "fine_high"))
    has_fine = all(math.isfinite(v) for v in fine)
    fine_text = f"local slope at the fine end {fine[0]:.3g} [{fine[1]:.3g}, {fine[2]:.3g}]"
    if has_fine and growth(fine[1], fine[2])[0] > tol:  # the constant grows at the fine end
        if g_low > tol:
            why = f"the constant grows over the grid ({grid_text}) and at its fine end "
            why += f"({fine_text})"
            return (CONTRADICTED if paper else EXCEEDED), why
        return UNRESOLVED, (
            f"local slopes not settled: the constant does not grow over the grid ({grid_text}) "
            f"but grows at its fine end ({fine_text})"
        )
    if g_high < 0:
        return NOT_SHARP, f"the constant decays over the grid ({grid_text})"
    if g_low <= tol:
        return HOLDS, f"the constant does not grow significantly over the grid ({grid_text})"
    if has_fine:
        return HOLDS, f"the constant grows over the grid but not at its fine end ({fine_text})"
    return UNRESOLVED, f"the constant grows over the grid ({grid_text}), no fine-end slope"


def _rate(
    claim: Claim,
    row: Mapping[str, Any],
    p: float,
    fitted: float,
    low: float,
    high: float,
    tol: float,
) -> tuple[str, str]:
    if low <= p <= high:
        return MATCHES, "interval reaches the predicted exponent"
    if _within(fitted, p, tol, claim.relative):
        return MATCHES, f"within the tolerance {tol:g} of the prediction"
    off = FASTER if high < p else SLOWER
    if claim.fine_end == "small":
        off = SLOWER if off == FASTER else FASTER
    fine = tuple(_number(row, c) for c in ("fine_slope", "fine_low", "fine_high"))
    if all(math.isfinite(v) for v in fine) and fine[1] <= p <= fine[2]:
        return UNRESOLVED, (
            f"local slopes not settled: {off} over the grid, but the local slope at the fine "
            f"end, {fine[0]:.3g} [{fine[1]:.3g}, {fine[2]:.3g}], reaches the prediction"
        )
    return off, f"interval excludes the prediction ({off} decay)"


def caption(rows: str) -> str:
    """The report caption of an experiment's judged ``claims`` table; ``rows`` says what a row
    is in that experiment."""
    return (
        f"The claims checked: {rows} Each row has the prediction, the fitted value with its "
        "bootstrap interval and the points used, the evidence the judgement reads (the local "
        "slope at the fine end of the grid, whether the premise holds), and the judgement: "
        "``source`` (a paper's statement, a heuristic, or derived here), ``kind`` (bound, rate, "
        "sign, value), ``premise``, ``status`` and its ``reason``. The statuses of every "
        "experiment, by paper, are on the first page."
    )


#: Columns every judged claims table has, after the experiment's own.
JUDGED_COLUMNS = ["source", "statement", "kind", "premise", "status", "reason"]


def judge_tables(
    tables: Mapping[str, pd.DataFrame],
    claims: Sequence[Claim],
    config: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """``tables`` with its ``claims`` table judged: every row gets :data:`JUDGED_COLUMNS`.

    ``options`` (default: the ``fits`` block of the row's experiment) hold the tolerances that
    claims name. Raises ValueError for a row whose claim is not declared.
    """
    by_id = {c.id: c for c in claims}
    frame = tables["claims"].copy()
    unknown = sorted(set(frame["claim"].astype(str)) - set(by_id))
    if unknown:
        raise ValueError(f"claims without a declaration: {', '.join(unknown)}")
    out: dict[str, list[Any]] = {c: [] for c in JUDGED_COLUMNS}
    for _, row in frame.iterrows():
        claim = by_id[str(row["claim"])]
        opts = options if options is not None else config[str(row["experiment"])]["fits"]
        status, reason = judge(claim, row.to_dict(), config, opts)
        out["source"].append(claim.source_text)
        out["statement"].append(claim.statement.id if claim.statement else "")
        out["kind"].append(claim.kind)
        out["premise"].append(claim.premise.text)
        out["status"].append(status)
        out["reason"].append(reason)
    for column, values in out.items():
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return {**tables, "claims": frame}


def write_judged_tables(
    tables: Mapping[str, pd.DataFrame],
    claims: Sequence[Claim],
    config: Mapping[str, Any],
    folder: str | Path,
    log: logging.Logger | None = None,
) -> list[Path]:
    """Judge the ``claims`` table of ``tables`` (:func:`judge_tables`) and write every table to
    ``folder`` (:func:`attnlimits.analysis.tables.write_tables`): what every fit job ends with."""
    from attnlimits.analysis.tables import write_tables

    paths = write_tables(judge_tables(tables, claims, config), folder)
    if log is not None:
        log.info("wrote %s", ", ".join(p.name for p in paths))
    return paths
