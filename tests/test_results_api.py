"""The downstream API (``attnlimits.experiments``, ``open_results``, ``open_statistics``) on small
real stores of the four experiments, made by their own job runners on the test configurations
(trimmed to a handful of cheap cells), and the README's examples run against them."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
import zarr
from config_edits import set_in

import attnlimits
from attnlimits.config import load_config
from attnlimits.jobs import JobContext
from attnlimits.registry import Dataset, Experiment, registered, resolve
from attnlimits.storage import open_dataset, write_dataset

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("heads", "sde", "adamw", "lowtemp")
#: Each experiment's test configuration and the edits that keep it to a few cheap cells.
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "heads": (
        "test.yaml",
        {
            "heads.grids": {
                "depth_heads": {"N": [6], "d": [3], "beta": [1.0], "L": [2, 4], "H": [1, 4]},
                "tokens": {"N": [4], "d": [3], "beta": [1.0], "L": [4], "H": [2]},
            },
            "heads.fits.bootstrap": 10,
        },
    ),
    "sde": ("test_sde.yaml", {"sde.depth.fine": 64, "sde.fits.bootstrap": 10}),
    "adamw": (
        "test_adamw.yaml",
        {
            "adamw.grids": {
                "depth_heads": {
                    "variant": ["blockwise"],
                    "eps": [1.0e-8],
                    "N": [4],
                    "d": [3],
                    "beta": [1.0],
                    "L": [2, 4],
                    "H": [1, 4],
                },
                "dims": {
                    "variant": ["standard"],
                    "eps": [1.0e-8],
                    "N": [4],
                    "d": [3, 4],
                    "beta": [1.0],
                    "L": [4],
                    "H": [4],
                },
            },
            "adamw.studies": {},  # the studies' tables: tests/test_workflow_adamw.py
            "adamw.fits": {"bootstrap": 10},
        },
    ),
    "lowtemp": ("test_lowtemp.yaml", {}),
}
#: Outputs of the single jobs that the datasets read (plots and the sde exponents are not).
READ = {"results", "statistics", "tables"}


class Files(list):
    """A job's inputs or outputs as the runners see Snakemake's: by position and by name."""

    def __init__(self, named: dict[str, Any]):
        super().__init__(named.values())
        self.__dict__.update(named)

    def __getitem__(self, index):
        return self.__dict__[index] if isinstance(index, str) else super().__getitem__(index)


def run_jobs(config: dict[str, Any], name: str, results: Path) -> None:
    """Every job of experiment ``name`` whose outputs the datasets read, in declaration order,
    through its registered runner (what the workflow's ``job.py`` does, without Snakemake)."""
    experiment = registered()[name]
    log = logging.getLogger(f"test.{name}")
    for job in experiment.jobs:
        if not job.keyed and not READ & set(job.outputs):
            continue
        for key in job.keys(config) if job.keyed else [None]:
            needs = {
                k: [str(results / p) for p in v] if isinstance(v, list) else str(results / v)
                for k, v in experiment.reads_of(config, job.name, key).items()
            }
            if job.keyed:
                outputs = {"store": str(results / experiment.store_path(config, job.name, key))}
            else:
                outputs = {k: str(results / p) for k, p in experiment.outputs(job).items()}
            context = JobContext(
                experiment=name,
                name=job.name,
                spec=job.spec(config, key),
                input=Files(needs),
                output=Files(outputs),
                log=log,
                code="test",
                config=config,
                read={
                    other: [str(results / p) for p in experiment.store_paths(config, other)]
                    for other in job.reads
                },
            )
            resolve(job.runner)(context)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The results folder with the stores and tables of the four experiments, and the path of
    each experiment's (trimmed) configuration file."""
    root = tmp_path_factory.mktemp("results_api")
    results = root / "results"
    paths = {}
    for name, (base, edits) in CONFIGS.items():
        raw = yaml.safe_load((ROOT / "config" / base).read_text(encoding="utf-8"))
        for dotted, value in edits.items():
            set_in(raw, dotted, value)
        raw["results"] = str(results)
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(raw), encoding="utf-8")
        run_jobs(load_config(paths[name]), name, results)
    return results, paths


def groups(data: xr.Dataset | xr.DataTree) -> dict[str, xr.Dataset]:
    if isinstance(data, xr.Dataset):
        return {"": data}
    return {name: node.to_dataset() for name, node in data.children.items()}


def assert_lazy(data: xr.Dataset | xr.DataTree) -> None:
    for name, ds in groups(data).items():
        assert ds.data_vars, name
        for var, array in ds.data_vars.items():
            assert array.chunks is not None, (name, var)


def assert_run_is_store(
    group: xr.Dataset, key: dict[str, Any], results: Path, path: str, rename=None
) -> None:
    """The run ``key`` of ``group`` holds the store's values: indexed dimensions at the store's
    coordinates, the others at its first positions (NaN after them); ``rename`` maps the
    store's dimension names to the group's."""
    rename = rename or {}
    store = open_dataset(results / path).compute()
    run = group.sel(key)
    assert "run" not in run.dims
    assert str(run["store"].values) == path
    for name, var in store.data_vars.items():
        got = run[name]
        at: dict[str, Any] = {}
        for dim in var.dims:
            if dim in store.indexes and dim not in rename:
                at[dim] = store[dim].values
            else:
                at[rename.get(dim, dim)] = slice(0, store.sizes[dim])
        window = got.sel({d: v for d, v in at.items() if not isinstance(v, slice)})
        window = window.isel({d: v for d, v in at.items() if isinstance(v, slice)})
        own = window.transpose(*(rename.get(d, d) for d in var.dims)).values
        np.testing.assert_array_equal(own, var.values, err_msg=f"{path}: {name}")
        beyond = {
            rename.get(d, d): slice(store.sizes[d], None)
            for d in var.dims
            if d not in store.indexes or d in rename
        }
        if beyond:
            padded = got.isel(beyond).values
            assert np.isnan(padded).all() if padded.size else True, (path, name)


def stored(results: Path, pattern: str) -> list[Path]:
    return sorted(results.glob(pattern))


# --------------------------------------------------------------------------- the API


def test_experiments_lists_the_four():
    found = attnlimits.experiments()
    assert list(found) == list(EXPERIMENTS)
    assert found == {name: e.title for name, e in registered().items()}
    assert all(isinstance(title, str) and title for title in found.values())


def test_importing_the_package_and_listing_imports_neither_xarray_nor_torch():
    code = (
        "import sys, attnlimits; attnlimits.experiments(); attnlimits.open_results; "
        "print('xarray' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("opener", [attnlimits.open_results, attnlimits.open_statistics])
def test_an_unknown_experiment_names_the_registered_ones(opener, tmp_path):
    with pytest.raises(ValueError, match=r"unknown experiment 'nope'.*heads, sde, adamw, lowtemp"):
        opener("nope", results=tmp_path)


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("opener", [attnlimits.open_results, attnlimits.open_statistics])
def test_a_missing_store_says_run_snakemake_first(opener, name, tmp_path):
    with pytest.raises(FileNotFoundError, match="run snakemake first") as raised:
        opener(name, results=tmp_path)
    assert str(tmp_path / name) in str(raised.value)


def test_a_configuration_asks_for_exactly_its_stores(built, tmp_path):
    results, paths = built
    raw = yaml.safe_load(paths["adamw"].read_text(encoding="utf-8"))
    raw["adamw"]["seeds"] = 5  # another hash for every cell: none of them was run
    with pytest.raises(FileNotFoundError, match=r"6 of the 6 stores of the configuration"):
        attnlimits.open_results("adamw", results=results, config=raw)


def test_the_results_folder_comes_from_the_argument_the_config_or_results(built, monkeypatch):
    results, paths = built
    by_config = attnlimits.open_statistics("heads", config=paths["heads"])
    by_argument = attnlimits.open_statistics("heads", results=results)
    xr.testing.assert_identical(by_config, by_argument)
    monkeypatch.chdir(results.parent)
    xr.testing.assert_identical(attnlimits.open_statistics("heads"), by_argument)


def plugin_schema() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": {}}


def open_plugin(results: Path) -> xr.Dataset:
    """An opener that takes the results folder alone."""
    return open_dataset(results / "plugin" / "results.zarr")


#: A plugin experiment (this module, in ``plugins``) that publishes results only.
EXPERIMENT = Experiment(
    name="plugin",
    title="tests: a plugin",
    jobs=(),
    tables={},
    figures={},
    claims="test_results_api:CLAIMS",
    schema="test_results_api:plugin_schema",
    datasets={"results": Dataset(opener="test_results_api:open_plugin", doc="x (i)")},
)


def test_a_plugin_is_listed_and_opened_with_its_config(tmp_path):
    config = {"experiments": ["plugin"], "plugins": ["test_results_api"]}
    assert attnlimits.experiments(config) == {
        **attnlimits.experiments(),
        "plugin": "tests: a plugin",
    }
    write_dataset(xr.Dataset({"x": ("i", np.arange(3.0))}), tmp_path / "plugin" / "results.zarr")
    ds = attnlimits.open_results("plugin", results=tmp_path, config=config)
    assert ds["x"].chunks is not None and list(ds["x"].values) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="experiment 'plugin' publishes no statistics dataset"):
        attnlimits.open_statistics("plugin", results=tmp_path, config=config)
    with pytest.raises(ValueError, match="unknown experiment 'plugin'"):
        attnlimits.open_results("plugin", results=tmp_path)


# --------------------------------------------------------------------------- the datasets


def test_heads_results_and_statistics(built):
    results, paths = built
    config = load_config(paths["heads"])
    from attnlimits.heads import grid

    ds = attnlimits.open_results("heads", results=results)
    assert_lazy(ds)
    cells = grid.cells(config["heads"])
    for dim in ("mask", "normalisation", "N", "d", "beta", "L", "H"):
        assert list(ds[dim].values) == sorted({getattr(c, dim) for c in cells}), dim
    assert ds.sizes["seed"] == config["heads"]["seeds"]
    assert ds.sizes["layer"] == max(c.L for c in cells) + 1
    for cell in cells:
        path = registered()["heads"].store_path(config, "cell", cell)
        store = open_dataset(results / path).compute()
        at = ds.sel({k: getattr(cell, k) for k in ("mask", "normalisation", "N", "d", "beta")})
        at = at.sel(L=cell.L, H=cell.H)
        for name in ("e2", "e_inf"):
            np.testing.assert_array_equal(at[name].transpose("seed", "input"), store[name])
    stats = attnlimits.open_statistics("heads", results=results)
    assert_lazy(stats)
    assert {"err", "err_inf", "bias", "bias_raw", "noise_floor", "fluct", "limit_error"} <= set(
        stats.data_vars
    )
    assert stats.sizes["replicate"] == config["heads"]["fits"]["bootstrap"] + 1
    sample = (ds.e2.max("input") ** 2).mean("seed") ** 0.5
    np.testing.assert_allclose(stats.err.sel(replicate=0), sample, rtol=1e-12)


def test_sde_results_one_group_per_kind(built):
    results, paths = built
    config = load_config(paths["sde"])
    from attnlimits.sde import grid

    sde = config["sde"]
    tree = attnlimits.open_results("sde", results=results)
    assert isinstance(tree, xr.DataTree)
    assert set(tree.children) == {
        "depth", "width", "chaos", "sync", "joint_width", "joint_tokens", "odd",
    }  # fmt: skip
    assert_lazy(tree)
    expected = {kind: grid.row_jobs(sde, kind) for kind in ("depth", "width", "sync")}
    for kind, jobs in expected.items():
        group = tree[kind].to_dataset()
        keys = {(j.activation, j.d, j.sigma, j.sign) for j in jobs}
        assert group.sizes["run"] == len(jobs)
        assert set(group.indexes["run"]) == keys
        rename = {"time": "record"} if kind == "sync" else None
        for job in jobs:
            key = {
                "activation": job.activation,
                "d": job.d,
                "sigma": job.sigma,
                "attention_sign": job.sign,
            }
            path = registered()["sde"].store_path(config, kind, job)
            assert_run_is_store(group, key, results, path, rename)
    sync = tree["sync"].to_dataset()
    for job in expected["sync"]:
        path = registered()["sde"].store_path(config, "sync", job)
        store = open_dataset(results / path, chunks=None)
        run = sync.sel(activation=job.activation, d=job.d, sigma=job.sigma, attention_sign=job.sign)
        times = run["time"].values[: store.sizes["time"]]
        np.testing.assert_array_equal(times, store["time"].values)
        assert float(run["lambda_bar"]) == store.attrs["lambda_bar"]
        if job.sign != 0:  # the two-point run is made for pure noise only
            assert np.isnan(run["lyap_per_path"].values).all()
    chaos = tree["chaos"].to_dataset()
    assert chaos.sizes["run"] == len(sde["chaos"]["d"])
    for d in sde["chaos"]["d"]:
        c = sde["chaos"]
        key = {
            "activation": c["activation"],
            "d": d,
            "sigma": float(c["sigma"]),
            "attention_sign": c["attention_sign"],
        }
        assert_run_is_store(chaos, key, results, registered()["sde"].store_path(config, "chaos", d))
    depth = tree["depth"].to_dataset()
    assert list(depth["L"].values) == sorted(sde["depth"]["L"])
    assert depth.sizes["seed"] == sde["depth"]["seeds"]


def test_sde_statistics_are_the_points_table(built):
    results, _ = built
    points = attnlimits.open_statistics("sde", results=results)
    table = pd.read_csv(results / "sde" / "tables" / "points.csv")
    assert points.sizes["point"] == len(table)
    keys = ["activation", "d", "sigma", "attention_sign", "quantity", "swept", "x"]
    assert list(points.indexes["point"].names) == keys
    assert set(points.data_vars) == {"y", "y_low", "y_high", "excluded"}
    frame = points.to_dataframe().reset_index()[keys + ["y", "y_low", "y_high"]]
    pd.testing.assert_frame_equal(
        frame.sort_values(keys).reset_index(drop=True),
        table[keys + ["y", "y_low", "y_high"]].sort_values(keys).reset_index(drop=True),
        check_dtype=False,
    )
    depth = points.sel(quantity="rms_error", swept="L")
    assert len(depth["y"]) > 0


def test_adamw_results_are_the_cells_along_run(built):
    results, paths = built
    config = load_config(paths["adamw"])
    from attnlimits.adamw import grid

    block = config["adamw"]
    ds = attnlimits.open_results("adamw", results=results)
    assert_lazy(ds)
    cells = grid.cells(block)
    assert ds.sizes["run"] == len(cells) == 6
    assert list(ds.indexes["run"].names) == list(grid.CELL_DIMS)
    assert ds.sizes["row"] == max(c.d for c in cells)
    assert ds.sizes["layer"] == max(c.L for c in cells) + 1
    for cell in cells:
        key = {k: getattr(cell, k) for k in grid.CELL_DIMS}
        path = registered()["adamw"].store_path(config, "cell", cell)
        assert_run_is_store(ds, key, results, path)
    cube = ds["loss_limit"].unstack("run")
    assert set(cube.dims) == {*grid.CELL_DIMS, "step"}
    stats = attnlimits.open_statistics("adamw", results=results)
    assert_lazy(stats)
    assert stats.sizes["replicate"] == block["fits"]["bootstrap"] + 1
    assert {"x_worst_err", "p_last_bias", "theta_step_err", "loss", "limit_error"} <= set(
        stats.data_vars
    )
    one = cells[0]
    at = {k: getattr(one, k) for k in grid.CELL_DIMS}
    np.testing.assert_allclose(
        stats["loss_limit"].sel(at), ds["loss_limit"].sel(at), rtol=0, atol=0
    )


def test_lowtemp_results_runs_and_terminal(built):
    results, paths = built
    config = load_config(paths["lowtemp"])
    from attnlimits.lowtemp import convergence_grid as cg
    from attnlimits.lowtemp import grid
    from attnlimits.lowtemp import window_grid as wg

    low = config["lowtemp"]
    tree = attnlimits.open_results("lowtemp", results=results)
    assert set(tree.children) == {"runs", "terminal", "sweep", "window"}
    assert_lazy(tree)
    runs = tree["runs"].to_dataset()
    assert runs.sizes["run"] == len(low["heads"]) * len(low["variants"])
    assert list(runs["beta"].values) == [float(b) for b in low["betas"]]
    for key in grid.run_keys(low):
        path = registered()["lowtemp"].store_path(config, "run", key)
        assert_run_is_store(runs, vars(key), results, path)
    terminal = tree["terminal"].to_dataset()
    assert list(terminal.indexes["run"].names) == ["head", "variant", "size"]
    for key in grid.terminal_keys(low):
        path = registered()["lowtemp"].store_path(config, "terminal", key)
        assert_run_is_store(terminal, vars(key), results, path)
    counts = terminal["particle_count"].values
    assert terminal.sizes["particle"] == counts.max() and len(set(counts)) == 3
    sweep = tree["sweep"].to_dataset()
    assert list(sweep.indexes["run"].names) == ["head", "variant", "family", "size"]
    for key in cg.sweep_keys(low):
        path = registered()["lowtemp"].store_path(config, "sweep", key)
        assert_run_is_store(sweep, vars(key), results, path)
    window = tree["window"].to_dataset()
    assert list(window.indexes["run"].names) == ["head", "variant", "size"]
    for key in wg.window_keys(low):
        path = registered()["lowtemp"].store_path(config, "window", key)
        assert_run_is_store(window, vars(key), results, path)


def test_lowtemp_statistics_are_the_fit_tables(built):
    results, _ = built
    tree = attnlimits.open_statistics("lowtemp", results=results)
    assert {"slopes", "best_times", "terminal", "w2"} <= set(tree.children)
    slopes = tree["slopes"].to_dataset()
    assert set(slopes.dims) == {"variant", "head", "time", "regressor"}
    table = pd.read_csv(results / "lowtemp" / "tables" / "slopes.csv")
    for row in table.itertuples():
        at = slopes.sel(variant=row.variant, head=row.head, time=row.time, regressor=row.regressor)
        assert float(at["slope"]) == row.slope and str(at["status"].values) == row.status


def test_older_stores_of_the_same_key_newest_wins_or_the_config_decides(built, tmp_path):
    results, paths = built
    shutil.copytree(results / "lowtemp", tmp_path / "lowtemp")
    original = stored(tmp_path, "lowtemp/runs/batch*/identity/plain_*.zarr")[0]
    decoy = original.with_name("plain_0123456789.zarr")
    shutil.copytree(original, decoy)

    def created(path: Path, when: str) -> None:
        zarr.open_group(str(path), mode="r+").attrs["created"] = when
        zarr.consolidate_metadata(str(path))

    def chosen() -> str:
        runs = attnlimits.open_results("lowtemp", results=tmp_path)["runs"].to_dataset()
        return str(runs["store"].sel(head="identity", variant="plain").values)

    created(decoy, "2000-01-01T00:00:00+00:00")
    with pytest.warns(UserWarning, match=r"1 older stores .*plain_0123456789.*config="):
        assert chosen() == original.relative_to(tmp_path).as_posix()
    created(decoy, "2999-01-01T00:00:00+00:00")
    with pytest.warns(UserWarning, match=re.escape(original.name)):
        assert chosen() == decoy.relative_to(tmp_path).as_posix()
    tree = attnlimits.open_results("lowtemp", results=tmp_path, config=paths["lowtemp"])
    runs = tree["runs"].to_dataset()
    assert str(runs["store"].sel(head="identity", variant="plain").values) == (
        original.relative_to(tmp_path).as_posix()
    )


# --------------------------------------------------------------------------- the README


def readme_examples() -> dict[str, str]:
    """The code blocks of the README's section "Reusing the datasets", by experiment."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Reusing the datasets", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    out = {}
    for block in blocks:
        name = re.search(r'open_(?:results|statistics)\("(\w+)"', block).group(1)
        out[name] = block
    return out


def test_the_readme_has_one_example_per_experiment():
    assert sorted(readme_examples()) == sorted(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_readme_example_runs_on_the_test_stores(built, name, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, _ = built
    (tmp_path / "results").symlink_to(results)
    monkeypatch.chdir(tmp_path)
    code = readme_examples()[name]
    try:
        exec(compile(code, f"README.md ({name})", "exec"), {"__name__": "readme"})
    finally:
        plt.close("all")
    figures = list(tmp_path.glob("*.png"))
    assert len(figures) == 1 and figures[0].stat().st_size > 0
