"""The N sweep's jobs (``lowtemp.convergence``): keys, specs, paths and estimates.

A *sweep* key is one (head, variant, family, size) of ``lowtemp.convergence``: the flows of a
particle set of ``family`` (``families``) with N = the grid family's count at ``size``, at the
main run's β's, up to the largest time of ``fits.times`` with the main run's step
(``convergence.run_sweep``). The key whose family is ``grid`` and whose size is
``lowtemp.measure.size`` is the main run itself: it is not a sweep job, the fit reads those numbers
from the main run's store (:func:`is_main`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.budget import Estimate
from attnlimits.lowtemp import grid as g

SWEEP_PATTERN = "lowtemp/sweep/{head}/{variant}_{family}_size{size}_{hash}.zarr"
WILDCARD_CONSTRAINTS = {**g.WILDCARD_CONSTRAINTS, "family": "[a-z]+"}


@dataclass(frozen=True)
class SweepKey:
    head: str
    variant: str
    family: str
    size: int


def is_main(lowtemp: Mapping[str, Any], family: str, size: int) -> bool:
    """Whether (family, size) is the main run's particle set (the grid family at its size)."""
    return family == "grid" and int(size) == int(lowtemp["measure"]["size"])


def sweep_keys(lowtemp: Mapping[str, Any]) -> list[SweepKey]:
    """Every (head, variant, family, size) of ``lowtemp.convergence`` but the main run's."""
    conv = lowtemp["convergence"]
    return [
        SweepKey(h, v, f, int(s))
        for h in conv["heads"]
        for v in conv["variants"]
        for f in conv["families"]
        for s in conv["sizes"]
        if not is_main(lowtemp, f, s)
    ]


def sweep_times(lowtemp: Mapping[str, Any]) -> tuple[float, int]:
    """(horizon, records) of the sweep: the largest time of ``fits.times`` on the main run's record
    grid, and its number of record intervals (the same step as the main run)."""
    step = float(lowtemp["horizon"]) / int(lowtemp["records"])
    records = round(max(lowtemp["fits"]["times"]) / step)
    return records * step, records


def sweep_spec(lowtemp: Mapping[str, Any], key: SweepKey) -> dict[str, Any]:
    """Everything a sweep job needs, as plain data (``convergence`` module docstring)."""
    horizon, records = sweep_times(lowtemp)
    conv = lowtemp["convergence"]
    return {
        "variant": key.variant,
        "measure": g._measure(lowtemp, key.size),
        "family": {"name": key.family, "seed": int(conv["seed"]) if key.family == "iid" else 0},
        "head": g._head(lowtemp, key.head),
        "betas": [float(b) for b in lowtemp["betas"]],
        "horizon": horizon,
        "records": records,
        "substeps": int(lowtemp["substeps"]),
        "times": [float(t) for t in lowtemp["fits"]["times"]],
        "exact_max": int(lowtemp["exact_max"]),
    }


def sweep_path(lowtemp: Mapping[str, Any], key: SweepKey) -> str:
    """``lowtemp/sweep/{head}/{variant}_{family}_size{size}_{hash}.zarr`` (relative path)."""
    return g._path(SWEEP_PATTERN, sweep_spec(lowtemp, key), key)


def sweep_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a sweep job: the flows of a run (``grid.run_cost``) on its own record
    grid, and one exact W2 per β at each of ``times`` when N ≤ ``exact_max``."""
    m = spec["measure"]
    n = g.particles_bound(m["kind"], m["size"], m["d"])
    exact = 1.0 if n <= spec["exact_max"] else 0.0
    share = len(spec["times"]) / (spec["records"] + 1)
    betas = len(spec["betas"])
    return g._lowtemp_cost(spec, betas, share * betas * exact)


def estimate_sweep(lowtemp: Mapping[str, Any], key: SweepKey) -> Estimate:
    """The estimate of a sweep job (:func:`sweep_cost`)."""
    spec = sweep_spec(lowtemp, key)
    m = spec["measure"]
    memory, seconds = sweep_cost(spec)
    sizes = {
        "convergence.sizes": key.size,
        "measure.d": m["d"],
        "betas": lowtemp["betas"],
        "fits.times": lowtemp["fits"]["times"],
    }
    return Estimate(memory, seconds, sizes)
