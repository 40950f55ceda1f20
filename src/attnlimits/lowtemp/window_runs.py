"""The long-horizon flows of the metastable window (docs/mathematics.md, "The metastable window";
``lowtemp.metastable``).

A spec (``window_grid.window_spec``) is a run's spec (``runs`` module docstring) without the
regime, the exact W2 to the hardmax flow and the hardmax flow itself: ``run_window`` integrates the
finite-β flows of one (head, variant, size) up to a long horizon and stores, per (β, t),
``w2_target`` = W2(μ^β_t, T#μ₀) (plain: measured in z = e^{−tV} x; consensus: in x), and
``w2_start`` = W2(μ₀, T#μ₀), the scale of the window's threshold. No regime check: the fit
compares two sizes instead (``metastability``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.lowtemp.flow import pushforward
from attnlimits.lowtemp.runs import _Distances, _flow, _merged, _start
from attnlimits.storage import variable as _var


def run_window(spec: Mapping[str, Any], device: torch.device | str = "cpu") -> xr.Dataset:
    """The store of the module docstring for one spec; the flows run on ``device``."""
    y, w, head, times = _start(spec, device)
    to_target = _Distances(*_merged(pushforward(y, w, head, spec["variant"]), w), w)
    betas = [float(b) for b in spec["betas"]]
    w2 = np.empty((len(betas), len(times)))
    for b, beta in enumerate(betas):
        path = _flow(spec, y, w, head, times, beta)
        w2[b] = [to_target(p) for p in path]
    return xr.Dataset(
        {
            "w2_target": _var(w2, ("beta", "time"), "W2 of the beta flow to T#mu0"),
            "w2_start": _var(np.float64(to_target(y)), (), "W2(mu0, T#mu0)"),
        },
        coords={"beta": betas, "time": times.cpu().numpy()},
        attrs={"particle_count": len(y)},
    )
