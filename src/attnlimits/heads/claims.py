"""Statistics and tables of experiment ``heads``: the P1 rate analysis
(:mod:`attnlimits.p1.rates`) of the consolidated dataset, and the limit solver's own error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis.statistics import cell_statistics, replicate_weights
from attnlimits.p1.claims import CLAIMS as P1_CLAIMS
from attnlimits.p1.claims import UNIFORM_CLAIMS
from attnlimits.p1.rates import as_python, claims_tables

#: P1's claims on the random-input grids, and those on the worst-case inputs.
CLAIMS = (*P1_CLAIMS, *UNIFORM_CLAIMS)

__all__ = ["CLAIMS", "heads_claims", "heads_statistics", "solver_table"]


def heads_statistics(ds: xr.Dataset, options: Mapping[str, Any]) -> xr.Dataset:
    """Cell statistics of the consolidated dataset with the bootstrap set by ``options``."""
    weights = replicate_weights(ds.sizes["seed"], options["bootstrap"], options["bootstrap_seed"])
    return cell_statistics(ds, weights)


def heads_claims(ds: xr.Dataset, options: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """All tables of the module docstring.

    ``ds`` is either the consolidated ``heads`` dataset (statistics are computed with
    :func:`heads_statistics`) or the output of :func:`heads_statistics` (it has a ``replicate``
    dimension). ``options`` is the config block ``heads.fits``.
    """
    stats = ds if "replicate" in ds.dims else heads_statistics(ds, options)
    stats = stats.drop_vars(["weights", "seed"], errors="ignore").load()
    return {**claims_tables(stats, options), "solver": solver_table(stats, options)}


def solver_table(stats: xr.Dataset, options: Mapping[str, Any]) -> pd.DataFrame:
    """The limit solver's own error against the smallest discrete error it is compared with.

    One row per limit (mask, normalisation, N, d, β): ``limit_error`` (step-halving estimate),
    ``smallest_err`` (min over its (L, H) cells of err, replicate 0), their ratio, and whether
    the ratio reaches ``solver_margin`` (docs/mathematics.md, "How rates are fitted": 10×).
    """
    margin = float(options["solver_margin"])
    smallest = stats["err"].isel(replicate=0).min(["L", "H"])
    rows = []
    for key in smallest.stack(limit=list(smallest.dims)).transpose("limit"):
        if not np.isfinite(float(key)):
            continue
        coords = {d: as_python(key[d].values) for d in smallest.dims}
        lim = float(stats["limit_error"].sel(coords))
        ratio = float(key) / lim if lim > 0 else np.inf
        rows.append(
            {
                **coords,
                "limit_error": lim,
                "smallest_err": float(key),
                "ratio": ratio,
                "margin": margin,
                "margin_met": bool(ratio >= margin),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[*smallest.dims, "limit_error", "smallest_err", "ratio", "margin", "margin_met"],
    )
