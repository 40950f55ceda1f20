"""runtime.dask: the fit's lazy reads give the same statistics on every scheduler, a cluster too."""

from __future__ import annotations

import distributed  # noqa: E402  (a test extra: installed by `make test`)
import numpy as np
import pytest
import xarray as xr

from attnlimits.analysis.statistics import cell_statistics, replicate_weights
from attnlimits.runtime import dask_scheduler


def consolidated(seed: int = 0) -> xr.Dataset:
    """A small dask-backed dataset shaped like heads.zarr (two grid dims), with holes."""
    rng = np.random.default_rng(seed)
    seeds, inputs, layers = 4, 2, 3
    dims = ("L", "H")
    ds = xr.Dataset(
        {
            "e2": ((*dims, "seed", "input"), rng.random((3, 4, seeds, inputs))),
            "e_inf": ((*dims, "seed", "input"), rng.random((3, 4, seeds, inputs))),
            "gram": (
                (*dims, "input", "layer", "seed", "seed_"),
                rng.random((3, 4, inputs, layers, seeds, seeds)),
            ),
        },
        coords={"L": [2, 4, 8], "H": [1, 2, 4, 8], "seed": np.arange(seeds)},
    )
    ds["e2"][1, 2] = np.nan
    return ds.chunk({"L": 1, "H": 2})


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_local_schedulers_agree(scheduler: str) -> None:
    ds, weights = consolidated(), replicate_weights(4, 5, 0)
    with dask_scheduler({"dask": "synchronous"}):
        reference = cell_statistics(ds, weights)
    with dask_scheduler({"dask": scheduler, "torch_threads": 2}):
        other = cell_statistics(ds, weights)
    xr.testing.assert_identical(reference, other)
    assert int(reference["err"].isel(replicate=0).notnull().sum()) == 11


def test_an_existing_cluster_by_its_address() -> None:
    ds, weights = consolidated(), replicate_weights(4, 5, 0)
    reference = cell_statistics(ds, weights)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with dask_scheduler({"dask": cluster.scheduler_address}):
            client = distributed.get_client()
            assert client.scheduler.address == cluster.scheduler_address
            stats = cell_statistics(ds, weights)
            processed = client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.task_prefixes)
            )
    xr.testing.assert_identical(reference, stats)
    assert processed > 0  # the reads ran on the cluster
