"""The worst-case-input search of experiment ``heads`` (``p1.adversarial``, ``heads.adversarial``):
the ascent on cases with a known worst input, its gradient, the search store against the cells of
the random-input grid, and the tables, claims and figure on stores built with known answers."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from config_edits import assert_invalid, put
from fit_options import FIT_OPTIONS
from workflow_helpers import load_config

from attnlimits.analysis.claims import judge_tables
from attnlimits.geometry import project, tangent
from attnlimits.heads.adversarial import run_adversarial, start_inputs
from attnlimits.heads.adversarial_grid import cells as adversarial_cells
from attnlimits.heads.adversarial_tables import adversarial_report, bound_rate
from attnlimits.heads.claims import CLAIMS
from attnlimits.heads.pipeline import run_cell, run_limit
from attnlimits.heads.plots import adversarial_figure
from attnlimits.p1.adversarial import Problem, ascend, quasi_newton
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_counts, draw_atoms, head_atoms
from attnlimits.storage import open_dataset, write_dataset

SEARCH = {"seeds": 3, "restarts": 2, "steps": 6, "step_size": 0.5, "limit_steps": 8, "seed": 5}
SPEC = {
    "experiment": "heads", "mask": "causal", "normalisation": "sphere", "N": 4, "d": 3,
    "beta": 1.0, "L": 4, "H": 2, "T": 1.0, "seed": 0, "seeds": 3,
    "law": {"atoms": 3, "v_bar": 1.0, "sigma_v": 1.0, "seed": 1},
    "inputs": {"count": 2, "seed": 2},
    "limit": {"method": "rk4", "records": 8, "substeps": 2},
}  # fmt: skip
OPTIONS = {**FIT_OPTIONS, "bootstrap": 40, "tolerance": 0.05, "ratio_tolerance": 0.1}


def _problem(d: int, mask: str = "encoder") -> Problem:
    atoms = draw_atoms(3, d, 1.0, 1.0, 1)
    counts = atom_counts(head_atoms(3, 4, 2, 3, 0), 3)
    return Problem(atoms, counts, Dynamics(1.0, 1.0, mask, "sphere"), 2)


def test_ascent_finds_the_known_maximum_of_a_linear_objective():
    """F(X) = (1/N) Σᵢ ⟨aⁱ, xⁱ⟩ on the sphere: its worst input is xⁱ = aⁱ/|aⁱ|."""
    a = torch.tensor([[3.0, -1.0, 2.0], [0.0, 0.5, -4.0]], dtype=torch.float64)

    def value_and_gradient(x):
        x = x.detach().requires_grad_(True)
        value = (x * a).sum(-1).mean(-1)
        (grad,) = torch.autograd.grad(value.sum(), x)
        return value.detach(), tangent(x.detach(), grad, "sphere")

    starts = project(torch.randn(3, 2, 3, dtype=torch.float64, generator=torch.manual_seed(0)),
                     "sphere")  # fmt: skip
    found = ascend(value_and_gradient, starts, 60, 0.5, 10)
    best = torch.linalg.vector_norm(a, dim=-1).mean()
    assert torch.allclose(found.value, best.expand(3), rtol=1e-9)
    assert torch.allclose(found.x, project(a, "sphere").expand(3, 2, 3), atol=1e-4)
    # F never decreases: start ≤ after 10 steps ≤ end
    assert torch.all(found.start <= found.at_checkpoint)
    assert torch.all(found.at_checkpoint <= found.value)


def test_ascent_through_the_model_finds_the_worst_input_of_the_circle():
    """One token on the circle (N = 1, d = 2): the worst input of the error of the discrete
    model to its limit, found by brute force on 2048 angles, is found by the ascent."""
    cell = _problem(2)
    angles = torch.linspace(0, 2 * math.pi, 2049, dtype=torch.float64)[:-1]
    circle = torch.stack([angles.cos(), angles.sin()], -1)[:, None, :]
    with torch.no_grad():
        brute = cell.squared_errors(circle).mean(0).max()
    starts = circle[::512]  # four starts, a quarter turn apart
    found = ascend(cell.value_and_gradient, starts, 40, 0.5, 20)
    assert found.value.max() >= brute * (1 - 1e-6)
    assert found.value.max() <= brute * (1 + 1e-4)  # no higher than the dense grid allows
    assert found.value.max() > 1.2 * found.start.max()  # the starts were not already worst


def test_quasi_newton_is_the_inverse_hessian_on_a_diagonal_quadratic():
    """−F = ½ Σ aⱼ zⱼ² with pairs along the axes (conjugate: exact BFGS): H g = g / a for the
    first restart; the second, whose rows are no pair (ρ = 0), gets g itself."""
    a = torch.tensor([1.0, 4.0, 0.5, 2.0, 8.0, 3.0], dtype=torch.float64)
    eye = torch.eye(6, dtype=torch.float64).reshape(6, 1, 2, 3)
    pairs = []
    for j in (4, 0, 2, 5, 1, 3):
        s = torch.cat([eye[j], torch.zeros_like(eye[j])])  # (K=2, N=2, d=3): restart 1 empty
        pairs.append((s, a.reshape(1, 2, 3) * s, torch.tensor([1.0 / a[j], 0.0], dtype=a.dtype)))
    g = torch.randn(2, 2, 3, dtype=torch.float64, generator=torch.manual_seed(3))
    found = quasi_newton(g, pairs)
    assert torch.allclose(found[0], g[0] / a.reshape(2, 3), rtol=1e-12)
    assert torch.equal(found[1], g[1])


def test_ascent_through_the_model_converges_within_its_steps():
    """On a causal cell (N = 4 tokens, d = 3) every restart reaches a local maximum: after 40 of
    60 steps F no longer moves (relative 1e-6) and the tangent gradient has vanished."""
    cell = _problem(3, "causal")
    starts = draw_inputs(3, 4, 3, "sphere", 3)
    found = ascend(cell.value_and_gradient, starts, 60, 0.5, 40)
    assert torch.all(found.value <= found.at_checkpoint * (1 + 1e-6))
    assert torch.all(found.value > 3 * found.start)
    _, grad = cell.value_and_gradient(found.x)
    _, grad_start = cell.value_and_gradient(starts)
    rms = [g.square().sum(-1).mean(-1).sqrt() for g in (grad, grad_start)]
    assert torch.all(rms[0] < 1e-4 * rms[1])


def test_gradient_is_the_derivative_through_discrete_model_and_limit():
    """⟨∇F, u⟩ equals the central difference of F along a tangent direction u (causal mask)."""
    cell = _problem(3, "causal")
    x = draw_inputs(1, 3, 3, "sphere", 7)
    _, grad = cell.value_and_gradient(x)
    u = tangent(x, torch.randn(x.shape, dtype=torch.float64, generator=torch.manual_seed(1)),
                "sphere")  # fmt: skip
    eps = 1e-5
    with torch.no_grad():
        up = cell.squared_errors(project(x + eps * u, "sphere")).mean(0)
        down = cell.squared_errors(project(x - eps * u, "sphere")).mean(0)
    assert float((up - down) / (2 * eps)) == pytest.approx(float((grad * u).sum()), rel=1e-5)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A cell of the random-input grid (its limit and cell stores) and its search store."""
    folder = tmp_path_factory.mktemp("search")
    limit = run_limit(SPEC, torch.device("cpu"), folder / "limit.zarr")
    cell = run_cell(SPEC, torch.device("cpu"), limit, folder / "cell.zarr")
    spec = {k: v for k, v in SPEC.items() if k not in ("limit", "seeds", "normalisation")}
    spec = {**spec, "normalisation": "sphere", "adversarial": SEARCH}
    store = run_adversarial(spec, torch.device("cpu"), folder / "search.zarr")
    return open_dataset(cell, chunks=None), open_dataset(store, chunks=None), spec


def test_search_starts_at_the_test_inputs_and_measures_their_errors_as_the_cells(searched):
    cell, search, spec = searched
    x0 = start_inputs(spec)
    assert torch.equal(x0[:2], draw_inputs(2, 4, 3, "sphere", 2))
    assert torch.allclose(torch.linalg.vector_norm(x0, dim=-1), torch.ones(4, 4, dtype=x0.dtype))
    # e₂ at the test inputs: the cell's e₂ (the limits differ by their solvers' errors only)
    np.testing.assert_allclose(search["e2_start"].values[:, :2], cell["e2"].values, rtol=1e-4)
    objective = {name: (search[name].values ** 2).mean(0) for name in ("e2", "e2_start")}
    assert np.all(objective["e2"] >= objective["e2_start"])  # the ascent never loses
    assert search.attrs["test_inputs"] == 2 and search["limit_error"].max() < 1e-3


def test_search_store_is_bit_identical_on_a_rerun(searched, tmp_path):
    _, search, spec = searched
    again = open_dataset(run_adversarial(spec, torch.device("cpu"), tmp_path / "again.zarr"),
                         chunks=None)  # fmt: skip
    for name in ("x", "e2", "e2_start", "objective_half", "limit_error"):
        assert np.array_equal(again[name].values, search[name].values), name


# ------------------------------------------------------------------ tables on known answers
GRID = [(L, H) for L in (4, 8, 16) for H in (1, 4)]
SEEDS = np.array([1.0, 1.1, 0.9, 1.05, 0.95])


def _store(folder, L, H, growth=0.0, gain=0.01):
    """A search store whose error is 0.3 L^growth × the bound's rate (every seed scaled by
    SEEDS, the same in every cell), twice its test inputs'; its half search ``gain`` below."""
    level = 0.3 * L**growth * bound_rate(L, H)
    e2 = level * SEEDS[:, None] * np.array([1.0, 0.8, 0.6, 1.0])[None, :]
    whole = math.sqrt(float(np.mean(e2[:, 0] ** 2)))
    ds = xr.Dataset(
        {
            "e2": (("seed", "restart"), e2),
            "e2_start": (("seed", "restart"), e2 / 2),
            "objective_half": (("restart",), np.full(4, whole / (1 + gain))),
            "limit_error": (("restart",), np.full(4, 1e-9)),
        },
        attrs={"test_inputs": 2},
    )
    return write_dataset(ds, folder / f"L{L}_H{H}.zarr")


def _report(folder, mask, growth=0.0, slow=()):
    cells = [{"mask": mask, "normalisation": "sphere", "N": 8, "d": 3, "beta": 1.0, "L": L, "H": H}
             for L, H in GRID]  # fmt: skip
    stores = [_store(folder, L, H, growth, 0.2 if (L, H) in slow else 0.01) for L, H in GRID]
    tables = adversarial_report(cells, stores, OPTIONS, pd.DataFrame())
    options = {**OPTIONS, "adversarial_ratio_tolerance": OPTIONS["ratio_tolerance"]}
    return judge_tables(tables, CLAIMS, {}, options)


def status(tables, claim):
    rows = tables["claims"].query("claim == @claim")
    assert len(rows) == 1
    return rows.iloc[0]


def test_constant_error_over_the_rate_holds_and_the_ratio_matches(tmp_path):
    tables = _report(tmp_path, "encoder")
    points = tables["adversarial"]
    np.testing.assert_allclose(points["ratio"], 2.0)
    np.testing.assert_allclose(points["const_adv"], 0.3 * math.sqrt(np.mean(SEEDS**2)))
    np.testing.assert_allclose(points["err_random_cell"], points["err_random"])
    np.testing.assert_allclose(points["gain"], 0.01)
    assert points["converged"].all()
    for claim in ("adv_bound_L", "adv_bound_H"):
        row = status(tables, claim)
        assert row["status"] == "holds on the grid" and row["source"].startswith("P1")
        assert row["kind"] == "bound" and "sphere" in row["premise"]
    for claim in ("adv_ratio_L", "adv_ratio_H"):
        row = status(tables, claim)
        assert row["status"] == "matches" and row["source"].startswith("heuristic")
    exponents = tables["adversarial_exponents"]
    along_l = exponents[exponents["swept"] == "L"]
    assert len(along_l) == 2 and np.allclose(along_l["ratio"], 0.0, atol=1e-12)


def test_a_constant_growing_with_L_contradicts_the_bound(tmp_path):
    tables = _report(tmp_path, "causal", growth=0.5)
    row = status(tables, "adv_bound_L")
    assert row["status"] == "contradicted" and row["fitted"] == pytest.approx(0.5)
    assert status(tables, "adv_bound_H")["fitted"] == pytest.approx(0.0, abs=1e-12)


def test_a_search_not_converged_leaves_the_claims_unresolved(tmp_path):
    tables = _report(tmp_path, "encoder", slow=[(8, 4)])
    assert not tables["adversarial"].set_index(["L", "H"]).loc[(8, 4), "converged"]
    for claim in ("adv_bound_L", "adv_ratio_H"):
        row = status(tables, claim)
        assert row["status"] == "unresolved" and "L=8, H=4" in row["reason"]
        assert "L=4" not in row["reason"]


def test_figure_draws_the_table(tmp_path):
    tables = _report(tmp_path, "encoder", slow=[(8, 4)])
    fig = adversarial_figure(tables)
    errors, ratio, gain = fig.axes[:3]
    points = tables["adversarial"].sort_values("L")
    # the markers of each series, labelled "<name>, H = <H>: slope ..."
    drawn = {line.get_label().split(":")[0]: line for line in errors.get_lines()}
    at = points[points["H"] == 4]
    np.testing.assert_allclose(drawn["adv, H = 4"].get_ydata(), at["err_adv"])
    np.testing.assert_allclose(drawn["random, H = 4"].get_ydata(), at["err_random"])
    assert "slope -0." in drawn["adv, H = 4"].get_label()  # the fit along L, decreasing
    assert any(np.allclose(line.get_ydata(), 2.0) for line in ratio.get_lines())
    lines = {line.get_label(): line for line in gain.get_lines()}
    np.testing.assert_allclose(lines["H = 4"].get_ydata(), [0.01, 0.2, 0.01])
    assert np.allclose(lines["tolerance 0.05"].get_ydata(), 0.05)


# ------------------------------------------------------------------ configuration
def test_configuration_rules_of_the_search():
    config = load_config("test.yaml")
    assert len(adversarial_cells(_validated(config)["heads"])) == 6
    assert_invalid(config, put("heads.adversarial.restarts", 3), ["heads.adversarial.restarts"])
    assert_invalid(config, put("heads.adversarial.steps", 5), ["heads.adversarial.steps"])
    assert_invalid(config, put("heads.adversarial.grid.L", [2, 4]), ["heads.adversarial.grid.L"])
    off = copy.deepcopy(config)
    off["heads"]["adversarial"]["enabled"] = False
    assert adversarial_cells(_validated(off)["heads"]) == []


def _validated(config):
    from attnlimits.config import validate_config

    return validate_config(copy.deepcopy(config))
