"""Synthetic study cells of experiment adamw with known answers (no model is trained).

``site_stores`` builds fake cell stores (the variables ``adamw.sites`` reads) for a study block:
the worst-step error of task t, head seed s at dimension d is

    ``E = c · d^slope · task_factor[t, d] · (1 + head_noise · z[t, s, d])``,

reached at step ``peak`` (smaller before and after), so that the d-slope, the spread over tasks
and the worst step are known.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import xarray as xr

from attnlimits.adamw.studies import StudyCell, cells, settings

STUDY = {
    "seeds": 6,
    "task_seeds": [1, 2, 3, 4],
    "lr_scaling": ["fixed", "inverse_sqrt"],
    "d0": 3,
    "task": {},
    "optimizer": {},
    "limit": {},
    "grid": {
        "variant": ["standard", "blockwise"],
        "eps": [1e-8],
        "N": [8],
        "d": [3, 6, 12, 24],
        "beta": [1.0],
        "L": [8],
        "H": [4],
    },
}
#: d-slope per (variant, variable), the same under both scalings.
SLOPES = {
    ("blockwise", "x"): 0.0,
    ("blockwise", "p"): 0.6,
    ("blockwise", "theta"): 1.0,
    ("standard", "x"): 0.3,
    ("standard", "p"): 0.0,
    ("standard", "theta"): -0.8,
}
STEPS, INPUTS = 4, 2


def adamw_block(base: dict, **study: Any) -> dict:
    """``base`` (a validated adamw block) with one study ``syn`` (STUDY updated by ``study``)."""
    adamw = copy.deepcopy(base)
    adamw["studies"] = {"syn": {**copy.deepcopy(STUDY), **study}}
    return adamw


def site_stores(
    adamw: dict,
    task_spread: float = 0.0,
    head_noise: float = 0.0,
    peak: int = 2,
    own: float = 1e-6,
    seed: int = 0,
) -> dict[StudyCell, xr.Dataset]:
    """A fake store per study cell of ``adamw`` (module docstring)."""
    rng = np.random.default_rng(seed)
    stores = {}
    base = settings(adamw, "syn")
    for cell in cells(adamw):
        spec = adamw["studies"][cell.study]
        seeds = spec["seeds"]
        task = np.exp(task_spread * rng.standard_normal())
        shape = (1.0 - 0.5 * np.abs(np.arange(STEPS + 1) - peak) / STEPS)[:, None, None]
        data = {}
        for var in ("x", "p", "theta"):
            level = 0.1 * cell.d ** SLOPES[(cell.variant, var)] * task
            heads = 1.0 + head_noise * rng.standard_normal((1, seeds, 1))
            errors = level * shape * heads * np.ones((STEPS + 1, seeds, INPUTS))
            if var == "theta":
                data["theta_error"] = (("step", "seed"), errors[..., 0])
            else:
                data[f"e2_{var}"] = (("step", "seed", "input"), errors)
        attrs = {f"limit_error_{v}": own for v in ("x", "p", "theta")}
        stores[cell] = xr.Dataset(data, attrs={**attrs, "lr": base["optimizer"]["lr"]})
    return stores
