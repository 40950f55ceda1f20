"""The long-horizon jobs of the metastable window (``lowtemp.metastable``): keys, specs, paths and
estimates.

A *window* key is one (head, variant, size) of ``fits.metastable_heads`` × ``metastable.variants``
× ``metastable.sizes``: the finite-β flows of the measure of that size at the main run's β's, on
the variant's time grid ``metastable.<variant>`` (horizon, records, RK4 substeps;
``window_runs.run_window``), only their W2 to T#μ₀ stored. Two sizes or more, so that the fit can
check that the window's ends no longer depend on N (``metastability``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.budget import Estimate
from attnlimits.lowtemp import grid as g

WINDOW_PATTERN = "lowtemp/window/{head}/{variant}_size{size}_{hash}.zarr"
WILDCARD_CONSTRAINTS = g.WILDCARD_CONSTRAINTS


@dataclass(frozen=True)
class WindowKey:
    head: str
    variant: str
    size: int


def window_keys(lowtemp: Mapping[str, Any]) -> list[WindowKey]:
    """Every (head, variant, size) of the metastable window, heads and sizes in config order."""
    meta = lowtemp["metastable"]
    return [
        WindowKey(h, v, int(s))
        for h in lowtemp["fits"]["metastable_heads"]
        for v in meta["variants"]
        for s in meta["sizes"]
    ]


def window_spec(lowtemp: Mapping[str, Any], key: WindowKey) -> dict[str, Any]:
    """Everything a window job needs, as plain data (``window_runs`` module docstring)."""
    grid = lowtemp["metastable"][key.variant]
    return {
        "variant": key.variant,
        "measure": g._measure(lowtemp, key.size),
        "head": g._head(lowtemp, key.head),
        "betas": [float(b) for b in lowtemp["betas"]],
        "horizon": float(grid["horizon"]),
        "records": int(grid["records"]),
        "substeps": int(grid["substeps"]),
    }


def window_path(lowtemp: Mapping[str, Any], key: WindowKey) -> str:
    """``lowtemp/window/{head}/{variant}_size{size}_{hash}.zarr`` (relative path)."""
    return g._path(WINDOW_PATTERN, window_spec(lowtemp, key), key)


def window_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a window job: one flow per β (``grid._lowtemp_cost`` counts one flow
    more, the hardmax flow that it does not run) and one W2 to T#μ₀ per β at every record."""
    return g._lowtemp_cost(spec, len(spec["betas"]) - 1, float(len(spec["betas"])))


def estimate_window(lowtemp: Mapping[str, Any], key: WindowKey) -> Estimate:
    """The estimate of a window job (:func:`window_cost`)."""
    grid = lowtemp["metastable"][key.variant]
    sizes = {
        "metastable.sizes": key.size,
        "measure.d": lowtemp["measure"]["d"],
        "betas": lowtemp["betas"],
        f"metastable.{key.variant}.records": grid["records"],
        f"metastable.{key.variant}.substeps": grid["substeps"],
    }
    return Estimate(*window_cost(window_spec(lowtemp, key)), sizes)
