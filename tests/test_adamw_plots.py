"""Figures of experiment adamw, from the tables of ``adamw_claims`` on synthetic grid statistics.

The statistics have the layout of ``adamw.claims.grid_statistics`` (no model is trained): a depth ×
heads grid for both AdamW variants, a tokens line (block-wise), a d line and an ε line (both
variants). The standard variant's limit at the smallest ε is given a large own error, so that its
depth × heads fits are all NaN (every cell excluded) and its ε line has a point marked inaccurate.
"""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from adamw_study_data import adamw_block, site_stores
from fit_options import FIT_OPTIONS
from job_script import run_job_script
from matplotlib.figure import Figure

from attnlimits.adamw.claims import CELL_DIMS, adamw_claims
from attnlimits.adamw.grid import FIGURES, NEEDED_TABLES
from attnlimits.adamw.plots import adamw_figures
from attnlimits.analysis.tables import write_tables
from attnlimits.config import load_config
from attnlimits.plots import read_tables

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {**FIT_OPTIONS, "bootstrap": 20, "two_term_bootstrap": 5}
PLOTS = {"format": "png", "dpi": 40, "context": "paper"}
COORDS = {
    "variant": ["blockwise", "standard"],
    "eps": [1e-8, 1e-4, 1e-2],
    "N": [8, 16, 32],
    "d": [3, 4, 6],
    "beta": [1.0],
    "L": [4, 8, 16],
    "H": [1, 4, 16],
}
STEPS, REPLICATES = 3, 21
BASE = {"variant": None, "eps": 1e-8, "N": 8, "d": 3, "beta": 1.0, "L": 8, "H": 4}


def _cells() -> list[dict]:
    """The simulated cells: depth × heads, tokens (block-wise), d and ε lines (both variants)."""
    cells = []
    for variant in COORDS["variant"]:
        base = {**BASE, "variant": variant}
        cells += [{**base, "L": L, "H": H} for L in COORDS["L"] for H in COORDS["H"]]
        cells += [{**base, "d": d} for d in COORDS["d"]]
        cells += [{**base, "eps": eps} for eps in COORDS["eps"]]
    cells += [{**BASE, "variant": "blockwise", "N": N} for N in COORDS["N"]]
    return list({tuple(c.values()): c for c in cells}.values())


def synthetic_statistics() -> xr.Dataset:
    """Grid statistics (``grid_statistics``'s variables) with the rates of docs/mathematics.md."""
    rng = np.random.default_rng(0)
    shape = tuple(len(v) for v in COORDS.values())
    values: dict[str, np.ndarray] = {}

    def put(name: str, index: tuple, value: np.ndarray) -> None:
        values.setdefault(name, np.full((*shape, *np.shape(value)), np.nan))[index] = value

    noise = np.exp(0.05 * rng.standard_normal((64, REPLICATES)))
    noise[:, 0] = 1.0
    for n, cell in enumerate(_cells()):
        index = tuple(COORDS[dim].index(cell[dim]) for dim in CELL_DIMS)
        L, H = cell["L"], cell["H"]
        standard_small_eps = cell["variant"] == "standard" and cell["eps"] == 1e-8
        for own in ("limit_error", "limit_error_x", "limit_error_p"):
            put(own, index, 1.0 if standard_small_eps else 1e-4)
        put("limit_error_theta", index, 1e-4)
        growth = (1e-2 / cell["eps"]) ** 0.05 if cell["variant"] == "standard" else 1.0
        for v, scale in (("x", 1.0), ("p", 2.0)):
            bias, fluct = scale / L, scale * (L * H) ** -0.5
            err = bias + fluct
            stats = {"err": err, "err_inf": 1.5 * err, "bias": bias, "bias_raw": 1.1 * bias}
            stats |= {"noise_floor": 0.1 * bias, "fluct": fluct}
            for sel in ("worst", "last"):
                for q, value in stats.items():
                    put(f"{v}_{sel}_{q}", index, value * noise[n])
            for q in ("err", "bias", "fluct"):
                ramp = np.linspace(0.5, 1.0, STEPS)[:, None]
                put(f"{v}_step_{q}", index, stats[q] * ramp * noise[n])
        for sel in ("worst", "last"):
            put(f"theta_{sel}_err", index, 0.3 * growth * cell["d"] * noise[n] / L)
        theta = 0.3 * growth * cell["d"] / L * np.arange(STEPS)[:, None] * noise[n]
        put("theta_step_err", index, theta)
        put("loss", index, 0.1 * 0.6 ** np.arange(STEPS))
        put("loss_limit", index, 0.101 * 0.6 ** np.arange(STEPS))
    extra = {0: (), 1: ("replicate",), 2: ("step", "replicate")}  # beyond the cell dims

    def dims(name: str, value: np.ndarray) -> tuple[str, ...]:
        return (
            *CELL_DIMS,
            *(("step",) if name.startswith("loss") else extra[value.ndim - len(CELL_DIMS)]),
        )

    return xr.Dataset(
        {name: (dims(name, value), value) for name, value in values.items()},
        coords={**COORDS, "step": np.arange(STEPS), "replicate": np.arange(REPLICATES)},
    )


def study_data() -> tuple[dict, dict]:
    """A d-study ``syn`` (adamw_study_data: 4 task seeds, both scalings, d = 3..24) and a study
    ``deep`` with two depths (one variant, scaling and task seed), with their fake stores."""
    adamw = adamw_block(load_config(REPO / "config" / "config.yaml")["adamw"])
    deep = copy.deepcopy(adamw["studies"]["syn"])
    deep.update(task_seeds=[1], lr_scaling=["fixed"])
    deep["grid"].update(variant=["blockwise"], d=[3], L=[4, 8])
    adamw["studies"]["deep"] = deep
    return adamw, site_stores(adamw, task_spread=0.2, head_noise=0.1)


@pytest.fixture(scope="module")
def tables():
    return adamw_claims(synthetic_statistics(), OPTIONS, *study_data())


@pytest.fixture(scope="module")
def figures(tables):
    figs = adamw_figures(tables, PLOTS)
    yield figs
    for fig in figs.values():
        plt.close(fig)


def is_empty(fig: Figure) -> bool:
    """An ``empty_figure``: one axis, switched off, with its message."""
    return len(fig.axes) == 1 and not fig.axes[0].axison and bool(fig.axes[0].texts)


def panel(fig: Figure, title: str, xlabel: str):
    hits = [ax for ax in fig.axes if ax.get_title() == title and ax.get_xlabel() == xlabel]
    assert len(hits) == 1, [(ax.get_title(), ax.get_xlabel()) for ax in fig.axes]
    return hits[0]


def markers(ax, hollow: bool | None = None) -> set[tuple[float, float]]:
    """(x, y) of the data markers drawn without lines (filled, hollow or both; not error bars)."""
    out = set()
    for line in ax.get_lines():
        if line.get_linestyle() != "None" or line.get_marker() not in ("o", "s"):
            continue
        if hollow is not None and (line.get_markerfacecolor() == "white") != hollow:
            continue
        out |= {(float(x), float(y)) for x, y in zip(*line.get_data(), strict=True)}
    return out


def expected(frame: pd.DataFrame, x: str, y: str) -> set[tuple[float, float]]:
    return {(float(a), float(b)) for a, b in zip(frame[x], frame[y], strict=True)}


def test_every_figure_is_drawn(figures):
    assert list(figures) == list(FIGURES)
    assert all(isinstance(fig, Figure) and not is_empty(fig) for fig in figures.values())


def test_depth_heads_panels_show_the_points_and_fits(figures, tables):
    fig = figures["depth_heads"]
    # rows: x, p × worst, last; columns: (vs L, vs H) for standard and block-wise AdamW
    assert len(fig.axes) == 4 * 4
    assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in fig.axes)
    ax = panel(fig, "block-wise AdamW, states X, max over k ≤ K", "L (depth)")
    pts = tables["points"].query(
        "grid == 'depth_heads' and variable == 'x' and selection == 'worst' "
        "and variant == 'blockwise'"
    )
    assert markers(ax) == expected(pts, "L", "err")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"slope −1", "slope −1/3"} <= set(labels)
    assert sum(label.startswith("H = ") and "slope" in label for label in labels) == 3
    ax = panel(fig, "block-wise AdamW, backprop. P, after step K", "H (heads)")
    assert "slope −1/2" in [t.get_text() for t in ax.get_legend().get_texts()]
    # the standard variant's cells are all excluded (limit too coarse): hollow, no fit
    ax = panel(fig, "standard AdamW, states X, max over k ≤ K", "L (depth)")
    assert len(markers(ax, hollow=True)) == 9 and not markers(ax, hollow=False)
    assert not any("slope" in t.get_text() and "H =" in t.get_text() for t in ax.texts)


def test_bias_fluct_panels(figures, tables):
    fig = figures["bias_fluct"]
    assert len(fig.axes) == 16
    ax = panel(fig, "block-wise AdamW, backprop. P, max over k ≤ K", "L (depth)")
    pts = tables["points"].query(
        "grid == 'depth_heads' and variable == 'p' and selection == 'worst' "
        "and variant == 'blockwise' and H == 16"
    )
    assert expected(pts, "L", "bias") | expected(pts, "L", "fluct") == markers(ax)
    ax = panel(fig, "block-wise AdamW, backprop. P, max over k ≤ K", "H (heads)")
    assert any("joint" not in t.get_text() and "slope" in t.get_text()
               for t in ax.get_legend().get_texts())  # fmt: skip


def test_steps_figure_plots_the_step_table(figures, tables):
    fig = figures["steps"]
    # rows: (largest H, largest L) per variant; columns: X, P, θ, loss
    assert len(fig.axes) == 4 * 4
    ax = panel(fig, "states X: block-wise AdamW, H=16", "training step k")
    steps = tables["steps"].query("variant == 'blockwise' and eps == 1e-8 and d == 3 and N == 8")
    for line in ax.get_lines():
        depth = int(line.get_label().removeprefix("L = "))
        rows = steps[(steps["L"] == depth) & (steps["H"] == 16)].sort_values("step")
        np.testing.assert_allclose(line.get_ydata(), rows["x_err"])
    assert len(ax.get_lines()) == 3 and len(ax.collections) == 3  # one band per line
    loss = panel(fig, "training loss J: standard AdamW, L=16", "training step k")
    assert "limit" in [line.get_label() for line in loss.get_lines()]


def test_tokens_figure(figures, tables):
    fig = figures["tokens"]
    assert len(fig.axes) == 2 * 2  # x, p × worst, last (block-wise only)
    ax = panel(fig, "block-wise AdamW, after step K, backprop. P", "N (tokens)")
    pts = tables["points"].query("grid == 'tokens' and variable == 'p' and selection == 'last'")
    assert markers(ax) == expected(pts, "N", "err") | expected(pts, "N", "err_inf")


def test_dims_figure_shows_both_variants_scalings_and_task_seeds(figures, tables):
    fig = figures["dims"]
    assert len(fig.axes) == 3 * 2  # X, P, θ x the two scalings of the d-study
    title = "states X, syn: η ∝ (d/d₀)^(−1/2)\n(ε=1e-08, N=8, β=1, L=8, H=4)"
    ax = panel(fig, title, "d (dimension)")
    cells = tables["study_cells"].query("study == 'syn' and lr_scaling == 'inverse_sqrt'")
    assert markers(ax) == expected(cells, "d", "x_worst") and len(markers(ax)) == 8
    tasks = [line for line in ax.get_lines() if line.get_linewidth() == 0.6]
    assert len(tasks) == 2 * 4  # one thin line per variant and task seed
    rows = (
        tables["study_tasks"]
        .query(
            "study == 'syn' and lr_scaling == 'inverse_sqrt' and variant == 'blockwise' "
            "and task_seed == 3"
        )
        .sort_values("d")
    )
    assert any(np.allclose(line.get_ydata(), rows["x_worst"]) for line in tasks)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    blockwise = [label for label in labels if label.startswith("block-wise AdamW: slope")]
    assert len(blockwise) == 1 and blockwise[0].endswith(")")  # the status of err_d
    assert any(label.startswith("standard AdamW: slope") for label in labels)


def test_study_steps_figure_circles_the_worst_step(figures, tables):
    fig = figures["study_steps"]
    assert len(fig.axes) == 3  # one study line with several L: X, P, θ
    ax = panel(fig, "deep: backprop. P\nblock-wise AdamW, N=8, d=3, H=4", "training step k")
    steps = tables["study_steps"].query("study == 'deep' and H == 4")
    circled = [line for line in ax.get_lines() if line.get_markersize() == 11]
    assert len(circled) == 2  # one per depth
    for depth in (4, 8):
        rows = steps[steps["L"] == depth].sort_values("step")
        (line,) = [li for li in ax.get_lines() if li.get_label() == f"L = {depth}"]
        np.testing.assert_allclose(line.get_ydata(), rows["p_err"])
        worst = rows.loc[rows["p_err"].idxmax()]
        assert any(
            c.get_xdata()[0] == worst["step"] and c.get_ydata()[0] == worst["p_err"]
            for c in circled
        )


def test_eps_figure_marks_inaccurate_limits(figures, tables):
    fig = figures["eps"]
    assert len(fig.axes) == 3
    ax = panel(fig, "backprop. P", "Adam's ε")
    assert ax.get_xscale() == "log"
    rows = tables["eps"].query("variable == 'p'")
    assert markers(ax, hollow=True) == expected(rows[~rows["limit_accurate"]], "eps", "err")
    assert markers(ax, hollow=False) == expected(rows[rows["limit_accurate"]], "eps", "err")
    assert len(markers(ax, hollow=True)) == 1  # standard AdamW at the smallest ε
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 2  # the limit's own error, per variant


def test_missing_grids_give_empty_figures(tables):
    points = tables["points"]
    only_dims = {**tables, "points": points[points["grid"] == "none"]}
    for name in ("eps", "steps", "local_slopes"):
        only_dims[name] = tables[name].iloc[0:0]
    figs = adamw_figures(only_dims, PLOTS)
    empty = {name for name, fig in figs.items() if is_empty(fig)}
    assert empty == set(FIGURES) - {"dims", "study_steps"}
    plt.close("all")
    no_tokens = adamw_figures({**tables, "points": points[points["grid"] != "tokens"]}, PLOTS)
    assert is_empty(no_tokens["tokens"]) and not is_empty(no_tokens["depth_heads"])
    plt.close("all")


def test_figures_from_tables_read_back(tables, tmp_path):
    """CSV round trip, with empty tables (written as a single line) read back as empty frames."""
    write_tables({**tables, "dims": pd.DataFrame(), "eps": pd.DataFrame()}, tmp_path)
    figs = adamw_figures(read_tables(tmp_path, NEEDED_TABLES), PLOTS)
    assert is_empty(figs["dims"]) and is_empty(figs["eps"])
    assert not is_empty(figs["depth_heads"]) and len(figs["depth_heads"].axes) == 16
    plt.close("all")


def test_missing_table_is_an_error(tables):
    with pytest.raises(KeyError, match="steps"):
        adamw_figures({k: v for k, v in tables.items() if k != "steps"}, PLOTS)


def test_plots_script_writes_every_figure(tables, tmp_path):
    """The rule's script, on the tokens, d and ε data only (saving big figures is slow)."""
    tabledir, outdir = tmp_path / "tables", tmp_path / "plots"
    points = tables["points"]
    empty = {"steps": pd.DataFrame(), "local_slopes": pd.DataFrame()}
    write_tables({**tables, **empty, "points": points[points["grid"] == "tokens"]}, tabledir)
    run_job_script(
        "adamw",
        "plots",
        PLOTS,
        {"tables": str(tabledir)},
        {"plots": str(outdir)},
        tmp_path / "plots.log",
        {},
    )
    assert sorted(p.name for p in outdir.iterdir()) == sorted(f"{n}.png" for n in FIGURES)
    assert "figures" in (tmp_path / "plots.log").read_text()
