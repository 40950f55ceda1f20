"""The one claims engine (attnlimits.analysis.claims.judge): each kind's statuses on rows built
by hand, so that every branch of docs/mathematics.md's "Claims and what each verdict word means" is
exercised."""

from __future__ import annotations

import math

import pytest

from attnlimits.analysis.claims import Claim, Premise, Statement, judge

PAPER = Statement("P9", "P9.thm", "a statement", "a theorem")


def paper(kind: str, **kw) -> Claim:
    return Claim("c", kind, "paper", "prediction", statement=PAPER, **kw)


def heuristic(kind: str, **kw) -> Claim:
    return Claim("c", kind, "heuristic", "prediction", **kw)


def row(predicted=-0.5, fitted=-0.5, low=-0.55, high=-0.45, n=6, **kw) -> dict:
    return {"predicted": predicted, "fitted": fitted, "ci_low": low, "ci_high": high,
            "n_points": n, **kw}  # fmt: skip


def status(claim: Claim, r: dict, tol_options: dict | None = None) -> str:
    return judge(claim, r, {}, tol_options or {})[0]


FINE_FLAT = {"fine_slope": -0.5, "fine_low": -0.6, "fine_high": -0.4}
FINE_GROWS = {"fine_slope": -0.2, "fine_low": -0.25, "fine_high": -0.15}


def test_bound_holds_when_the_growth_interval_reaches_zero():
    # growth exponent of the constant [−0.05, 0.15]: not significant
    assert status(paper("bound"), row(fitted=-0.45, low=-0.55, high=-0.35)) == "holds on the grid"
    # a tolerance of growth
    assert status(paper("bound", tolerance=0.1), row(fitted=-0.35, low=-0.42, high=-0.32),
                  ) == "holds on the grid"  # fmt: skip


def test_bound_not_sharp_when_the_constant_decays():
    assert status(paper("bound"), row(fitted=-1.0, low=-1.1, high=-0.9)) == "holds, not sharp"


def test_bound_growing_over_the_grid_is_judged_at_its_fine_end():
    grows = row(fitted=-0.3, low=-0.35, high=-0.25)
    assert status(paper("bound"), {**grows, **FINE_FLAT}) == "holds on the grid"
    assert status(paper("bound"), {**grows, **FINE_GROWS}) == "contradicted"
    assert status(heuristic("bound"), {**grows, **FINE_GROWS}) == "exceeded"
    # no local slope at the fine end: growth over the grid alone does not contradict
    assert status(paper("bound"), grows) == "unresolved"


def test_bound_with_a_small_fine_end():
    # swept quantity shrinking (fine end at small x): growth is p − fitted
    claim = paper("bound", fine_end="small")
    assert status(claim, row(predicted=1.0, fitted=0.6, low=0.55, high=0.65)) == "unresolved"
    assert status(claim, row(predicted=1.0, fitted=1.4, low=1.3, high=1.5)) == "holds, not sharp"


def test_rate_matches_faster_slower_and_unsettled():
    assert status(paper("rate"), row()) == "matches"
    assert status(paper("rate"), row(fitted=-0.8, low=-0.85, high=-0.75)) == "faster"
    assert status(paper("rate"), row(fitted=-0.3, low=-0.35, high=-0.25)) == "slower"
    assert status(paper("rate", tolerance=0.25), row(fitted=-0.3, low=-0.35, high=-0.25)
                  ) == "matches"  # fmt: skip
    assert status(paper("rate"), {**row(fitted=-0.3, low=-0.35, high=-0.25), **FINE_FLAT}
                  ) == "unresolved"  # fmt: skip


def test_sign_by_direction_and_by_observation():
    above = paper("sign", direction=1)
    assert status(above, row(predicted=0.0, fitted=0.3, low=0.1, high=0.5)) == "as predicted"
    assert status(above, row(predicted=0.0, fitted=-0.3, low=-0.5, high=-0.1)) == "contradicted"
    assert status(heuristic("sign", direction=1), row(fitted=-0.3, low=-0.5, high=-0.1)
                  ) == "opposite"  # fmt: skip
    assert status(above, row(predicted=0.0, fitted=0.1, low=-0.1, high=0.3)) == "unresolved"
    seen = paper("sign")
    base = row(predicted=1e-3, fitted=1e-5, low=1e-6, high=1e-4, expected="clusters")
    assert status(seen, {**base, "observed": "clusters"}) == "as predicted"
    far = row(predicted=1e-3, fitted=0.5, low=0.4, high=0.6, expected="clusters")
    assert status(seen, {**far, "observed": "no clusters"}) == "contradicted"
    # an interval that straddles the threshold decides nothing
    near = row(predicted=1e-3, fitted=2e-3, low=5e-4, high=4e-3, expected="clusters")
    assert status(seen, {**near, "observed": "no clusters"}) == "unresolved"
    assert status(seen, {**base, "observed": "clusters", "expected": "no prediction"}
                  ) == "outside the premise"  # fmt: skip


def test_value_matches_contradicted_and_step_bias():
    claim = paper("value", tolerance=0.01, relative=True)
    assert status(claim, row(predicted=-0.48, fitted=-0.479, low=-0.4795, high=-0.4785)
                  ) == "matches"  # fmt: skip
    off = row(predicted=-0.48, fitted=-0.47, low=-0.471, high=-0.469)
    assert status(claim, off) == "contradicted"
    assert status(heuristic("value", tolerance=0.01, relative=True), off) == "differs"
    # Richardson's value reaches the prediction, or crosses it: the step explains the gap
    assert status(claim, {**off, "extrapolated": -0.4801}) == "unresolved"
    assert status(claim, {**off, "extrapolated": -0.49}) == "unresolved"
    assert status(claim, {**off, "extrapolated": -0.465}) == "contradicted"
    assert status(claim, {**off, "extrapolated": math.nan}) == "contradicted"


def test_premise_and_resolution_come_first():
    outside = paper("rate", premise=Premise("never", lambda r, c: False))
    assert status(outside, row(fitted=5.0, low=4.0, high=6.0)) == "outside the premise"
    assert status(paper("rate"), row(fitted=5.0, low=4.0, high=6.0, premise_met=False)
                  ) == "outside the premise"  # fmt: skip
    status_, reason = judge(paper("rate"), row(resolved=False, note="reference too close"), {}, {})
    assert (status_, reason) == ("unresolved", "reference too close")
    assert status(paper("rate"), row(n=2)) == "unresolved"
    assert status(paper("rate"), row(low=math.nan)) == "unresolved"


def test_tolerance_by_option_name():
    claim = paper("rate", tolerance="tolerance_x")
    assert status(claim, row(fitted=-0.3, low=-0.35, high=-0.25), {"tolerance_x": 0.3}) == "matches"
    with pytest.raises(KeyError):
        status(claim, row(), {})


def test_bound_flat_over_the_grid_but_growing_at_the_fine_end_is_unresolved():
    flat = row(fitted=-0.5, low=-0.55, high=-0.45)
    steep = {"fine_slope": 1.2, "fine_low": 0.9, "fine_high": 1.5}
    status_, reason = judge(paper("bound"), {**flat, **steep}, {}, {})
    assert status_ == "unresolved" and "not settled" in reason
    # nor "not sharp" when the grid's interval lies below the rate
    assert status(paper("bound"), {**row(fitted=-1.0, low=-1.1, high=-0.9), **steep}
                  ) == "unresolved"  # fmt: skip
