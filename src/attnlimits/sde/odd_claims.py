"""Claim and table of the odd-field runs of experiment ``sde`` (P2's first figure).

Input: the stores of ``runs.odd`` (tokens over time and paths). Per store and record time, the
fractions of :func:`attnlimits.sde.odd.antipodal_fractions` (tokens in two antipodal clusters,
tokens in one cluster, within the angle ``fits.cluster_angle``) averaged over paths on every
bootstrap replicate over paths (``t``: the fit's row collector, ``claims._Tables``).

Claim ``antipodal`` (P2.odd, a sign claim read as observation against prediction): ``fitted`` is
the mean over paths of the fraction of tokens in two antipodal clusters at the last time,
``predicted`` the threshold ``fits.antipodal_threshold``; ``observed`` is "two antipodal
clusters" if that mean exceeds the threshold, else "one cluster" if the mean fraction in one
cluster does, else "no clusters"; ``expected`` is "two antipodal clusters" for an odd field
without attention, "one cluster" for a field that is not odd with λ̄ < 0 and no attention (the
control: synchronization, P2.sync), "no prediction" otherwise (outside the premise). The engine
calls the row unresolved when the interval of ``fitted`` straddles the threshold; a row that
observes "no clusters" is unresolved too (the horizon was too short to tell the outcomes apart).

Table ``odd_clusters``: per store and time, the two fractions with their intervals and the mean
interaction energy (which an odd field keeps away from 0: two antipodal clusters have energy
½(1 − e^{−2β}) × 2 p(1 − p) for a share p of tokens on one side).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from attnlimits.analysis.claims import Claim, Premise
from attnlimits.analysis.statistics import replicate_interval
from attnlimits.sde.odd import antipodal_fractions
from attnlimits.sde.statements import ODD

TWO, ONE, NONE = "two antipodal clusters", "one cluster", "no clusters"
ODD_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "antipodal", "sign", "paper",
        "odd field, no attention: the tokens end in two antipodal clusters, not one",
        statement=ODD,
        premise=Premise(
            "no attention and either an odd field (σ_U = σ_W = 0, odd φ: two antipodal clusters) "
            "or a field that is not odd with λ̄ < 0 (the control: one cluster)"
        ),
    ),
)  # fmt: skip
_KEYS = ["activation", "d", "sigma", "attention_sign"]
ODD_COLUMNS: dict[str, list[str]] = {
    "odd_clusters": [
        *_KEYS, "time", "two", "two_low", "two_high", "one", "one_low", "one_high", "energy",
        "energy_low", "energy_high",
    ],
}  # fmt: skip


def expected_outcome(odd: bool, lambda_bar: float, sign: int) -> str | None:
    """The predicted outcome (module docstring), None where nothing is predicted."""
    if sign != 0:
        return None
    if odd:
        return TWO
    return ONE if lambda_bar < 0 else None


def odd_rows(t: Any, ds: xr.Dataset, keys: Mapping[str, Any]) -> None:
    """The ``antipodal`` claim row and the ``odd_clusters`` rows of one odd store."""
    opt, level = t.options, t.level
    tokens = ds["tokens"].transpose("time", "path", "token", "component").values
    two, one = antipodal_fractions(tokens, float(opt["cluster_angle"]))  # (time, path)
    w = t.weights(ds.sizes["path"])
    two_r, one_r = w @ two.T, w @ one.T  # (B+1, time)
    energy = w @ ds["energy"].transpose("path", "time").values.astype(float)
    intervals = {k: replicate_interval(v, level) for k, v in
                 (("two", two_r), ("one", one_r), ("energy", energy))}  # fmt: skip
    values = {"two": two_r, "one": one_r, "energy": energy}
    for j, time in enumerate(ds["time"].values.astype(float)):
        row: dict[str, Any] = {**keys, "time": time}
        for name, reps in values.items():
            row[name] = reps[0, j]
            row[f"{name}_low"], row[f"{name}_high"] = intervals[name][0][j], intervals[name][1][j]
        t.rows["odd_clusters"].append(row)
    threshold = float(opt["antipodal_threshold"])
    odd = bool(ds.attrs.get("odd_field", False))
    expected = expected_outcome(odd, float(ds.attrs["lambda_bar"]), int(keys["attention_sign"]))
    final_two, final_one = float(two_r[0, -1]), float(one_r[0, -1])
    observed = TWO if final_two > threshold else ONE if final_one > threshold else NONE
    angle = float(opt["cluster_angle"])
    # neither outcome reached: the horizon was too short to tell them apart, not a contradiction
    undecided = {"resolved": False} if observed == NONE and expected is not None else {}
    prefix = "not clustered within the horizon (neither share above the threshold); "
    prefix = prefix if undecided else ""
    note = (
        f"fitted: mean over paths of the fraction of tokens in two antipodal clusters (within "
        f"{angle:g} rad of ±p) at t = {float(ds['time'].values[-1]):.3g}; in one cluster: "
        f"{final_one:.3g}; odd field: {odd}"
    )
    t.claim(
        keys, "antipodal", quantity="antipodal_fraction", swept="time", predicted=threshold,
        fitted=final_two, ci_low=float(intervals["two"][0][-1]),
        ci_high=float(intervals["two"][1][-1]), n_points=ds.sizes["path"], n_excluded=0,
        observed=observed, expected=expected or "no prediction",
        premise_met=expected is not None, **undecided, note=prefix + note,
    )  # fmt: skip
