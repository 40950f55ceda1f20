"""Atomic stores, provenance, grid expansion and paths, determinism of a cell job."""

import copy

import numpy as np
import pytest
import torch
import xarray as xr

from attnlimits.config import load_config
from attnlimits.grids import key_wildcards
from attnlimits.heads import grid, pipeline
from attnlimits.provenance import VOLATILE_ATTRS, code_version, params_hash
from attnlimits.storage import open_dataset, write_atomic, write_dataset

DEFAULT = load_config("config/config.yaml")


def small_heads(**grids):
    heads = copy.deepcopy(DEFAULT["heads"])
    heads.update(seeds=3, masks=["causal"])
    heads["inputs"]["count"] = 2
    heads["limit"].update(records=8, substeps=2)
    heads["grids"] = grids or {"g": {"N": [5], "d": [3], "beta": [1.0], "L": [4, 8], "H": [2]}}
    return heads


def test_interrupted_write_leaves_no_store(tmp_path):
    target = tmp_path / "a.zarr"

    def dies_half_way(tmp):
        xr.Dataset({"x": ("i", np.arange(3.0))}).to_zarr(tmp, zarr_format=2)
        raise KeyboardInterrupt("killed while writing")

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, dies_half_way)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_dataset_roundtrip_and_replace(tmp_path):
    target = tmp_path / "b.zarr"
    write_dataset(xr.Dataset({"x": ("i", np.arange(3.0))}), target)
    write_dataset(xr.Dataset({"x": ("i", np.arange(4.0))}), target)
    assert open_dataset(target)["x"].values.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_grid_is_union_of_products_and_paths_are_readable():
    heads = small_heads(
        a={"N": [5], "d": [3], "beta": [1.0], "L": [4, 8], "H": [2, 4]},
        b={"N": [5, 7], "d": [3], "beta": [1.0], "L": [8], "H": [4]},
    )
    cells = grid.cells(heads)
    assert len(cells) == 5  # (8, 4) at N=5 is in both grids
    assert len(grid.limits(heads)) == 2
    path = grid.cell_path(heads, cells[0])
    assert path.startswith("heads/cells/causal_sphere_N5_d3_beta1/L4_H2_")
    key = grid.find(
        cells,
        {
            "mask": "causal",
            "normalisation": "sphere",
            "N": "5",
            "d": "3",
            "beta": "1",
            "L": "8",
            "H": "4",
            "hash": "x",
        },
    )
    assert key.L == 8 and key.H == 4
    # the limit's hash ignores the seeds, the cell's does not
    other = copy.deepcopy(heads)
    other["seeds"] = 5
    assert grid.limit_path(other, cells[0].limit) == grid.limit_path(heads, cells[0].limit)
    assert grid.cell_path(other, cells[0]) != path


def test_find_agrees_with_a_scan_and_follows_a_grown_list():
    heads = small_heads(a={"N": [5, 7], "d": [3], "beta": [0.5, 1.0], "L": [2, 4], "H": [1, 3]})
    cells = grid.cells(heads)
    for cell in cells:  # every cell is found from its own path wildcards, whatever else is given
        wildcards = {**key_wildcards(cell), "hash": "0123"}
        assert grid.find(cells, wildcards) is cell
    missing = {**key_wildcards(cells[0]), "H": "2"}
    with pytest.raises(KeyError, match="no configured heads cell"):
        grid.find(cells, missing)
    cells.append(grid.Cell("causal", "sphere", 5, 3, 0.5, 2, 2))  # the table is rebuilt
    assert grid.find(cells, missing) is cells[-1]


def test_params_hash_is_order_independent_and_code_version_tracks_modules():
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})
    assert code_version(["attnlimits.p1.discrete"]) != code_version(["attnlimits.p1.limit"])


def test_code_fingerprint_ignores_comments_docstrings_and_layout():
    from attnlimits.provenance import source_fingerprint

    a = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    b = "def f(x):\n\n    return (x\n            + 1)\n"
    assert source_fingerprint(a) == source_fingerprint(b)
    assert source_fingerprint(a) != source_fingerprint(a.replace("+ 1", "+ 2"))


def run_small(tmp_path, heads):
    key = grid.limits(heads)[0]
    limit = tmp_path / grid.limit_path(heads, key)
    pipeline.run_limit(grid.limit_spec(heads, key), torch.device("cpu"), limit)
    cell = grid.cells(heads)[-1]
    out = tmp_path / grid.cell_path(heads, cell)
    pipeline.run_cell(grid.cell_spec(heads, cell), torch.device("cpu"), limit, out)
    return open_dataset(limit, chunks=None), open_dataset(out, chunks=None)


def test_cell_store_is_deterministic_and_self_describing(tmp_path):
    heads = small_heads()
    lim1, cell1 = run_small(tmp_path / "1", heads)
    lim2, cell2 = run_small(tmp_path / "2", heads)
    for a, b in ((lim1, lim2), (cell1, cell2)):
        for name in a.variables:
            assert a[name].values.tobytes() == b[name].values.tobytes(), name
        strip = {k: v for k, v in a.attrs.items() if k not in VOLATILE_ATTRS}
        assert strip == {k: v for k, v in b.attrs.items() if k not in VOLATILE_ATTRS}
    for var in cell1.data_vars.values():
        assert var.attrs["long_name"] and var.attrs["units"]
    for key in ("git_commit", "git_dirty", "params_hash", "seeds", "libraries", "code_version"):
        assert key in cell1.attrs
    # the errors stored agree with the trajectories stored
    x_lim = lim1["x"].values[:, :: 8 // 8]
    dev = cell1["X"].values - x_lim[None]
    e2 = np.sqrt((dev**2).sum(-1).mean(-1).max(-1))
    np.testing.assert_allclose(cell1["e2"].values, e2, rtol=1e-12)
    g = np.einsum("rsnid,qsnid->snrq", dev, dev) / dev.shape[-2]
    np.testing.assert_allclose(cell1["gram"].values, g, rtol=1e-12)
    assert 0 < lim1["limit_error"].max() < 1e-4  # 16 RK4 steps, halved: small but not zero
