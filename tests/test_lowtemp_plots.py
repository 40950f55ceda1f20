"""Figures of experiment lowtemp, from the tables of ``lowtemp_tables`` on small real runs.

Two heads (identity, V = diag(1, 1/2)) × both variants on a 36-particle disc, βs 2, 4, 8 up to
t = 2; terminal stores of sizes 2 and 3. The tables go through CSV and back, as in the workflow;
the figures must draw the tables' (and the stores') values.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from job_script import run_job_script
from matplotlib.figure import Figure

from attnlimits.analysis.claims import judge_tables
from attnlimits.analysis.tables import write_tables
from attnlimits.lowtemp.claims import CLAIMS, lowtemp_tables
from attnlimits.lowtemp.grid import FIGURES, NEEDED_TABLES, RunKey, TerminalKey
from attnlimits.lowtemp.plots import lowtemp_figures, record_indices
from attnlimits.lowtemp.runs import run, run_terminal
from attnlimits.plots import read_tables
from attnlimits.storage import write_dataset

PLOTS = {"format": "png", "dpi": 30, "context": "paper"}
HEADS = {"identity": {"kind": "identity"}, "gap_half": {"kind": "diagonal", "v": [1.0, 0.5]}}
VARIANTS = ("plain", "consensus")
FITS = {
    "level": 0.95, "times": [0.5, 1.0], "phase_window": [1.0, 2.0], "phase_rate_tol": 0.15,
    "terminal_window": [0.5, 2.0], "terminal_floor": 1e-10, "terminal_tol": 1e-3,
    "metastable_heads": ["identity"], "metastable_fraction": 0.75,
}  # fmt: skip
#: Figures of the N sweep and of the window runs, which these tables do not have
#: (tests/test_lowtemp_regime.py, tests/test_lowtemp_metastable.py).
SWEEP_FIGURES = ("n_convergence", "regime", "metastability")


def spec(head: str, variant: str, size: int = 3) -> dict:
    return {
        "variant": variant, "measure": {"kind": "disc", "size": size, "d": 2},
        "head": HEADS[head], "betas": [2.0, 4.0, 8.0], "horizon": 2.0, "records": 8,
        "substeps": 2, "exact_max": 1000, "regime": {"factor": 1.0, "allow_outside": False},
    }  # fmt: skip


@pytest.fixture(scope="module")
def runs():
    return [(RunKey(h, v), run(spec(h, v))) for h in HEADS for v in VARIANTS]


@pytest.fixture(scope="module")
def tables(runs, tmp_path_factory):
    terminals = [
        (TerminalKey(h, v, s), run_terminal(spec(h, v, s)))
        for h in HEADS
        for v in VARIANTS
        for s in (2, 3)
    ]
    tabledir = tmp_path_factory.mktemp("tables")
    config = {"lowtemp": {"heads": HEADS}}  # what the claims' premises read
    write_tables(
        judge_tables(lowtemp_tables(runs, terminals, FITS), CLAIMS, config, FITS), tabledir
    )
    return read_tables(tabledir, NEEDED_TABLES)


@pytest.fixture(scope="module")
def figures(tables, runs):
    figs = lowtemp_figures(tables, runs, PLOTS)
    yield figs
    plt.close("all")


def is_empty(fig: Figure) -> bool:
    """An ``empty_figure``: one axis, switched off, with its message."""
    return len(fig.axes) == 1 and not fig.axes[0].axison and bool(fig.axes[0].texts)


def panel(fig: Figure, title: str):
    hits = [ax for ax in fig.axes if ax.get_title() == title]
    assert len(hits) == 1, [ax.get_title() for ax in fig.axes]
    return hits[0]


def line(ax, prefix: str):
    """The one line whose label starts with ``prefix``."""
    hits = [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    assert len(hits) == 1, [ln.get_label() for ln in ax.get_lines()]
    return hits[0]


def markers(ax, hollow: bool) -> set[tuple[float, float]]:
    """(x, y) of the markers drawn without lines, filled or hollow."""
    out = set()
    for ln in ax.get_lines():
        if ln.get_linestyle() != "None" or ln.get_marker() != "o":
            continue
        if (ln.get_markerfacecolor() == "white") == hollow:
            out |= {
                (round(float(x), 9), round(float(y), 9))
                for x, y in zip(*ln.get_data(), strict=True)
            }
    return out


def pairs(frame: pd.DataFrame, x: str, y: str) -> set[tuple[float, float]]:
    return {
        (round(float(a), 9), round(float(b), 9)) for a, b in zip(frame[x], frame[y], strict=True)
    }


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_every_figure_is_drawn(figures):
    """(Saving them is the plots script's test, below.)"""
    assert list(figures) == list(FIGURES)
    drawn = [fig for name, fig in figures.items() if name not in SWEEP_FIGURES]
    assert all(isinstance(fig, Figure) and not is_empty(fig) for fig in drawn)
    assert all(is_empty(figures[name]) for name in SWEEP_FIGURES)  # says so, draws nothing


def test_w2_beta_draws_the_distances_and_fits_at_the_claim_times(figures, tables):
    fig = figures["w2_beta"]
    assert len([ax for ax in fig.axes if ax.axison]) == 4  # 2 variants x 2 heads
    ax = panel(fig, "plain flow, head gap_half")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_ylabel() == r"$W_2(\mu^\beta_t, \mu^\infty_t)$"
    w2 = tables["w2"].query("variant == 'plain' and head == 'gap_half' and beta < inf")
    slopes = tables["slopes"].query(
        "variant == 'plain' and head == 'gap_half' and regressor == 'log_beta'"
    )
    for t in FITS["times"]:
        points = line(ax, f"t = {t:g}: slope")
        at = w2[np.isclose(w2["time"], t)].sort_values("beta")
        np.testing.assert_allclose(points.get_xdata(), at["beta"])
        np.testing.assert_allclose(points.get_ydata(), at["w2_hardmax"])
        fit = slopes[np.isclose(slopes["time"], t)].iloc[0]
        assert f"slope {fit['slope']:.2f} [{fit['ci_low']:.2f}" in points.get_label()
        colour = points.get_color()
        fitted = [
            ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and ln.get_color() == colour
        ]
        assert len(fitted) == 1
        beta = at["beta"].to_numpy()
        np.testing.assert_allclose(
            fitted[0].get_ydata(), np.exp(fit["intercept"]) * beta ** fit["slope"]
        )
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("t = 0.25")]
    assert "slope −1/2" in legend_texts(ax)


def test_w2_beta_falls_back_to_the_coupling_bound(tables, runs):
    """Where W2 is NaN (N > exact_max) the coupling bound is drawn, and the y label says so."""
    w2 = tables["w2"].assign(coupling_hardmax=3.0 * tables["w2"]["coupling_hardmax"])
    mixed = w2.assign(w2_hardmax=w2["w2_hardmax"].where(w2["beta"] != 8.0))
    none = w2.assign(w2_hardmax=np.nan)
    for frame, words in ((mixed, "coupling bound where"), (none, "identity-coupling bound")):
        fig = lowtemp_figures({**tables, "w2": frame}, runs, PLOTS)["w2_beta"]
        ax = panel(fig, "consensus flow, head identity")
        assert words in ax.get_ylabel()
        rows = frame.query(
            "variant == 'consensus' and head == 'identity' and beta < inf and time == 1"
        ).sort_values("beta")
        expected = rows["w2_hardmax"].fillna(rows["coupling_hardmax"])
        np.testing.assert_allclose(line(ax, "t = 1: slope").get_ydata(), expected)
        plt.close("all")


def test_w2_time_draws_every_beta_and_marks_t_star(figures, tables):
    fig = figures["w2_time"]
    for variant in VARIANTS:
        for head in HEADS:
            ax = panel(fig, f"{variant} flow, head {head}")
            assert ax.get_yscale() == "log"
            w2 = tables["w2"].query(f"variant == '{variant}' and head == '{head}'")
            for beta in (2.0, 4.0, 8.0, np.inf):
                label = "hardmax (β = ∞)" if np.isinf(beta) else f"β = {beta:g}"
                curve = w2[w2["beta"] == beta].sort_values("time")
                drawn = line(ax, label)
                np.testing.assert_allclose(drawn.get_xdata(), curve["time"])
                np.testing.assert_allclose(drawn.get_ydata(), curve["w2_target"])
            assert line(ax, "hardmax").get_color() == "black"
            best = tables["best_times"].query(f"variant == '{variant}' and head == '{head}'")
            at = best["at_horizon"].astype(bool)
            assert markers(ax, hollow=False) == pairs(best[~at], "t_star", "w2_min")
            assert markers(ax, hollow=True) == pairs(best[at], "t_star", "w2_min")


def test_t_star_figure_hollows_the_horizon_and_fits_the_rest(figures, tables):
    fig = figures["t_star"]
    ax = panel(fig, "plain flow")
    best = tables["best_times"].query("variant == 'plain'")
    at = best["at_horizon"].astype(bool)
    assert at.any() and (~at).any()  # the data exercise both kinds of marker
    assert markers(ax, hollow=False) == pairs(best[~at], "beta", "t_star")
    assert markers(ax, hollow=True) == pairs(best[at], "beta", "t_star")
    claims = tables["claims"].query("claim == 't_star' and variant == 'plain'")
    texts = legend_texts(ax)
    for row in claims.itertuples():
        if np.isfinite(row.fitted):
            assert f"{row.head}: slope {row.fitted:.2f} [{row.ci_low:.2f}" in " ".join(texts)
            inside = best[(best["head"] == row.head) & ~at]
            drawn = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"
                     and ln.get_label().startswith("_")]  # fmt: skip
            x = inside["beta"].to_numpy()
            assert any(
                len(ln.get_xdata()) >= len(x)
                and np.allclose(np.polyfit(np.log(ln.get_xdata()), ln.get_ydata(), 1)[0],
                                row.fitted)
                for ln in drawn
            )  # fmt: skip
    assert ax.get_xscale() == "log"


def test_t_star_fit_leaves_out_the_horizon(tables, runs):
    """With β = 8 of (consensus, gap_half) moved to the horizon, two points are left: no line."""
    best = tables["best_times"].copy()
    moved = (best["variant"] == "consensus") & (best["head"] == "gap_half") & (best["beta"] == 8)
    best.loc[moved, ["t_star", "at_horizon"]] = [2.0, True]
    ax = panel(
        lowtemp_figures({**tables, "best_times": best}, runs, PLOTS)["t_star"], "consensus flow"
    )
    colours = {ln.get_color() for ln in ax.get_lines() if ln.get_label().startswith("gap_half")}
    assert len(colours) == 1
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert len(solid) == 1 and solid[0].get_color() not in colours  # identity's line only
    assert (8.0, 2.0) in markers(ax, hollow=True)
    plt.close("all")


def test_particles_show_the_store_at_four_times(figures, runs):
    fig = figures["particles"]
    assert len(fig.axes) == 4 * 4  # identity and gap_half, both variants; 4 record times
    key, ds = runs[3]  # gap_half, consensus
    times = ds["time"].values[record_indices(ds.sizes["time"], 4)]
    assert list(times) == [0.0, 0.75, 1.25, 2.0]
    weights = ds["weights"].values
    for t in times:
        ax = panel(fig, f"{key.variant}, {key.head}, t = {t:g}")
        assert ax.get_aspect() == 1.0
        scatters = {c.get_label(): c for c in ax.collections}
        expected = {
            "β = 2": ds["particles"].sel(beta=2.0, time=t).values,
            "β = 8": ds["particles"].sel(beta=8.0, time=t).values,
            "hardmax (β = ∞)": ds["hardmax_particles"].sel(time=t).values,
            "push-forward T#μ₀": ds["target"].values,
        }
        assert set(scatters) == set(expected)
        for label, values in expected.items():
            np.testing.assert_allclose(scatters[label].get_offsets(), values)
        sizes = scatters["β = 8"].get_sizes()
        np.testing.assert_allclose(sizes / sizes.sum(), weights / weights.sum())


def test_terminal_figure_draws_every_size_and_the_rate(figures, tables):
    fig = figures["terminal"]
    ax = panel(fig, "consensus flow, head gap_half")
    assert ax.get_yscale() == "log"
    curves = tables["terminal_curves"].query("variant == 'consensus' and head == 'gap_half'")
    for n in (16, 36):
        rows = curves[curves["N"] == n].sort_values("time")
        np.testing.assert_allclose(line(ax, f"N = {n}").get_ydata(), rows["w2_target"])
    top = tables["terminal"].query("variant == 'consensus' and head == 'gap_half' and N == 36")
    rate = float(top["rate"].iloc[0])
    fit = line(ax, "fit at N = 36")
    assert f"rate {rate:.3f}" in fit.get_label()
    slope = np.polyfit(fit.get_xdata(), np.log(fit.get_ydata()), 1)[0]
    assert np.isclose(slope, rate)


def test_phase_figure_draws_the_moments_and_both_rates(figures, tables):
    fig = figures["phase"]
    ax = panel(fig, "plain flow, head gap_half")
    assert ax.get_yscale() == "log"
    curves = tables["phase_curves"].query("variant == 'plain' and head == 'gap_half'")
    rates = tables["phase"].query("variant == 'plain' and head == 'gap_half'")
    for row in rates.itertuples():
        label = "hardmax (β = ∞)" if np.isinf(row.beta) else f"β = {row.beta:g}"
        drawn = line(ax, f"{label}: fitted {row.rate:.2f}")
        rows = curves[curves["beta"] == row.beta].sort_values("time")
        np.testing.assert_allclose(drawn.get_xdata(), rows["time"])
        np.testing.assert_allclose(drawn.get_ydata(), rows["moment"])
    predicted = line(ax, "predicted")
    slope = np.polyfit(predicted.get_xdata(), np.log(predicted.get_ydata()), 1)[0]
    assert np.isclose(slope, -1.0) and np.isclose(rates["predicted"].iloc[0], -1.0)
    consensus = panel(fig, "consensus flow, head gap_half")
    assert "no predicted rate" in legend_texts(consensus)


def test_empty_tables_give_empty_figures(tables, runs, tmp_path):
    """Tables without rows (written as one empty line) and no runs: figures saying so."""
    empty = {name: pd.DataFrame() for name in NEEDED_TABLES}
    write_tables(empty, tmp_path)
    figs = lowtemp_figures(read_tables(tmp_path, NEEDED_TABLES), [], PLOTS)
    assert list(figs) == list(FIGURES) and all(is_empty(fig) for fig in figs.values())
    partial = lowtemp_figures({**tables, "terminal_curves": pd.DataFrame()}, runs, PLOTS)
    assert is_empty(partial["terminal"]) and not is_empty(partial["phase"])
    plt.close("all")


def test_missing_table_is_an_error(tables, runs):
    with pytest.raises(KeyError, match="phase_curves"):
        lowtemp_figures({k: v for k, v in tables.items() if k != "phase_curves"}, runs, PLOTS)


def test_plots_script_writes_every_figure(tables, runs, tmp_path):
    tabledir, outdir = tmp_path / "tables", tmp_path / "plots"
    write_tables(tables, tabledir)
    stores = [write_dataset(ds, tmp_path / f"{k.head}_{k.variant}.zarr") for k, ds in runs[:2]]
    config = {"lowtemp": {"heads": {"identity": HEADS["identity"]}, "variants": list(VARIANTS)}}
    runs_read = [str(p) for p in stores]
    run_job_script(
        "lowtemp", "plots", PLOTS, {"tables": str(tabledir), "runs": runs_read},
        {"plots": str(outdir)}, tmp_path / "plots.log", config, stores={"run": runs_read},
    )  # fmt: skip
    assert sorted(p.name for p in outdir.iterdir()) == sorted(f"{n}.png" for n in FIGURES)
    assert all(p.stat().st_size > 0 for p in outdir.iterdir())
    assert "figures" in (tmp_path / "plots.log").read_text()
