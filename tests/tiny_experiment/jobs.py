"""The runners of the tiny experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.claims import judge_tables
from attnlimits.analysis.tables import write_tables
from attnlimits.jobs import JobContext
from attnlimits.storage import open_dataset, write_dataset


def draw(job: JobContext) -> None:
    """|mean of N standard normals| for each seed."""
    n, seeds = int(job.spec["N"]), int(job.spec["seeds"])
    err = [abs(np.random.default_rng([seed, n]).standard_normal(n).mean()) for seed in range(seeds)]
    ds = xr.Dataset({"err": (("seed",), np.asarray(err))}, coords={"N": n})
    ds.attrs.update(job.provenance(job.spec, {"seeds": seeds}))
    write_dataset(ds, job.output[0])


def fit(job: JobContext) -> None:
    """The RMS error against N, its rate, the claim."""
    ds = xr.concat([open_dataset(p, chunks=None) for p in job.input.draws], dim="N")
    write_dataset(ds, job.output.results)
    from attnlimits.analysis.statistics import replicate_weights

    w = replicate_weights(ds.sizes["seed"], 200, 0)
    rms = np.sqrt(w @ (ds["err"].transpose("seed", "N").values ** 2))
    fit = fits.power_law_fit(ds["N"].values.astype(float), rms, level=job.spec["level"])
    claims = pd.DataFrame(
        [
            {
                "experiment": "tiny", "claim": "mean_N", "quantity": "err", "swept": "N",
                "predicted": -0.5, "fitted": fit.slope, "ci_low": fit.ci_low,
                "ci_high": fit.ci_high, "n_points": fit.n_points, "note": "",
            }
        ]
    )  # fmt: skip
    from tiny_experiment.experiment import CLAIMS

    tables = judge_tables({"claims": claims}, CLAIMS, job.config, options={})
    write_tables(tables, job.folder("tables"))


def open_results(results: Path) -> xr.Dataset:
    """err (N, seed), lazily."""
    return open_dataset(Path(results) / "tiny" / "results.zarr")
