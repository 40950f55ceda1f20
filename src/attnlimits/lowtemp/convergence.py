"""The N sweep of experiment ``lowtemp`` (docs/mathematics.md, "The mean-field regime"): one (head,
variant, family, size) at the β's and times of the main run.

A spec (``convergence_grid.sweep_spec``) is a run's spec (``runs`` module docstring) with the
particle family (``families``), the horizon cut to the largest time of ``times`` and the same
step horizon / (records · substeps) as the main run, so that the grid family at the main run's size
reproduces the main run's numbers at those times. ``run_sweep`` stores, per (β, t) for t in
``times``,

- ``w2_hardmax``: W2(μ^{β,N}_t, μ^{∞,N}_t) between the β flow and the hardmax flow of the same
  particles, exact (``transport.w2_squared``) when N ≤ ``exact_max``, else NaN;
- ``coupling_hardmax``: the identity-coupling bound of that W2 (every N);

and, per t, ``hardmax_spread``: (Σ w |z − z̄|²)^(1/2) of the hardmax flow, the scale of the
measure. No regime check: the sweep exists to find the regime.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.lowtemp.families import family_measure
from attnlimits.lowtemp.heads import make_head
from attnlimits.lowtemp.runs import _Distances, _flow
from attnlimits.storage import variable as _var


def _indices(spec: Mapping[str, Any]) -> list[int]:
    """The record indices of ``spec["times"]`` on the grid i · horizon / records."""
    step = spec["horizon"] / spec["records"]
    return [round(t / step) for t in spec["times"]]


def run_sweep(spec: Mapping[str, Any], device: torch.device | str = "cpu") -> xr.Dataset:
    """The store of the module docstring for one spec; the flows run on ``device``."""
    m, fam = spec["measure"], spec["family"]
    points, weights = family_measure(fam["name"], m["kind"], m["size"], m["d"], fam["seed"])
    y, w = (torch.as_tensor(a).to(device) for a in (points, weights))
    head = make_head(spec["head"], m["d"]).to(device)
    grid = torch.linspace(0.0, spec["horizon"], spec["records"] + 1, dtype=torch.float64)
    times = grid.to(device)
    at = _indices(spec)
    hard = _flow(spec, y, w, head, times, math.inf)[at]
    betas = [float(b) for b in spec["betas"]]
    exact = len(y) <= spec["exact_max"]
    shape = (len(betas), len(at))
    w2, coupling = np.full(shape, np.nan), np.empty(shape)
    to_hard = [_Distances(h.cpu().numpy(), w.cpu().numpy(), w) for h in hard]
    for b, beta in enumerate(betas):
        flow = _flow(spec, y, w, head, times, beta)[at]
        for i in range(len(at)):
            if exact:
                w2[b, i] = to_hard[i](flow[i])
            coupling[b, i] = math.sqrt(float(w @ (flow[i] - hard[i]).square().sum(-1)))
    mean = torch.einsum("n,tnk->tk", w, hard)
    spread = torch.einsum("n,tn->t", w, (hard - mean[:, None]).square().sum(-1)).sqrt()
    return xr.Dataset(
        {
            "w2_hardmax": _var(w2, ("beta", "time"), "W2 between the beta and hardmax flows"),
            "coupling_hardmax": _var(coupling, ("beta", "time"), "identity-coupling bound"),
            "hardmax_spread": _var(spread, ("time",), "spread of the hardmax flow"),
        },
        coords={"beta": betas, "time": grid.numpy()[at]},
        attrs={"particle_count": len(y), "exact_w2": int(exact), "family": fam["name"]},
    )
