"""What the search job of experiment ``heads`` does: the worst-case inputs of one (L, H) cell
(:mod:`attnlimits.p1.adversarial`), stored with the errors per seed at the starts and at the end.

Starts: the S = ``inputs.count`` test inputs of the cell (``p1.inputs``, the inputs of the
random-input grid), then ``adversarial.restarts`` inputs drawn uniformly on the sphere from the
stream ``(adversarial.seed, "adversarial", N, d)``. The search runs from each of these S + restarts
starts for ``steps`` steps; F after ``steps/2`` steps is kept, so that the fit can compare the
search with half the random restarts and half the steps to the whole one (its convergence
check).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.geometry import project
from attnlimits.heads.adversarial_grid import NORMALISATION, limit_substeps
from attnlimits.p1.adversarial import Problem, ascend
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_counts, atoms_of, head_atoms
from attnlimits.progress import reporter
from attnlimits.provenance import provenance
from attnlimits.seeding import normal
from attnlimits.storage import variable as _var
from attnlimits.storage import write_dataset

_LOG = logging.getLogger("attnlimits.heads")


def start_inputs(spec: Mapping[str, Any]) -> torch.Tensor:
    """The starting inputs (S + restarts, N, d) of a search: the S test inputs, then the random
    ones."""
    n, d, search = spec["N"], spec["d"], spec["adversarial"]
    tests = draw_inputs(spec["inputs"]["count"], n, d, NORMALISATION, spec["inputs"]["seed"])
    drawn = normal((search["restarts"], n, d), search["seed"], "adversarial", n, d)
    return torch.cat([tests, project(drawn, NORMALISATION)])


def problem(spec: Mapping[str, Any], device: torch.device) -> Problem:
    """The error of the cell of ``spec`` as a function of the inputs (seeds as in the cells of
    the random-input grid: the first ``adversarial.seeds`` of ``(seed, "heads", s, L, H)``)."""
    search, atoms_n = spec["adversarial"], spec["law"]["atoms"]
    picks = head_atoms(search["seeds"], spec["L"], spec["H"], atoms_n, spec["seed"])
    return Problem(
        atoms_of(spec).to(device),
        atom_counts(picks, atoms_n).to(device),
        Dynamics.of({**spec, "normalisation": NORMALISATION}),
        limit_substeps(spec["L"], search["limit_steps"]),
    )


def run_adversarial(
    spec: Mapping[str, Any],
    device: torch.device,
    out: str | Path,
    code: str = "unknown",
    logger: logging.Logger = _LOG,
) -> Path:
    """Search the worst inputs of one cell and store them with their errors (module docstring)."""
    search = spec["adversarial"]
    cell = problem(spec, device)
    x0 = start_inputs(spec).to(device)
    logger.info(
        "search L=%d H=%d: %d seeds, %d starts, %d steps, limit %d steps/layer",
        spec["L"], spec["H"], search["seeds"], x0.shape[0], search["steps"], cell.substeps,
    )  # fmt: skip
    found = ascend(
        cell.value_and_gradient,
        x0,
        search["steps"],
        search["step_size"],
        search["steps"] // 2,
        reporter(logger, "steps"),
    )
    with torch.no_grad():
        e2_start = cell.squared_errors(x0).sqrt()
        e2 = cell.squared_errors(found.x).sqrt()
    limit_error = torch.maximum(cell.limit_error(x0), cell.limit_error(found.x))
    logger.info(
        "worst F^(1/2) %.4g (start %.4g), limit error %.2e",
        float(found.value.max().sqrt()), float(found.start.max().sqrt()), float(limit_error.max()),
    )  # fmt: skip
    seed_restart, token = ("seed", "restart"), ("restart", "token", "component")
    ds = xr.Dataset(
        {
            "x_start": _var(x0, token, "starting inputs X_0 (the first test_inputs: test inputs)"),
            "x": _var(found.x, token, "inputs at the end of the search"),
            "e2_start": _var(e2_start, seed_restart, "e_2 at the starting inputs"),
            "e2": _var(e2, seed_restart, "e_2 at the inputs at the end of the search"),
            "objective_half": _var(
                found.at_checkpoint.sqrt(),
                ("restart",),
                "F^(1/2) = (mean over seeds of e_2^2)^(1/2) after steps/2 steps",
            ),
            "accepted": _var(found.accepted, ("restart",), "steps accepted by the ascent"),
            "step_size": _var(found.step_size, ("restart",), "final step size of the ascent"),
            "limit_error": _var(
                limit_error,
                ("restart",),
                "error of the limit solve (against half its step), max over start and end inputs",
            ),
        },
        coords={"seed": np.arange(search["seeds"]), "restart": np.arange(x0.shape[0])},
        attrs={
            **provenance(spec, {"heads_seed": spec["seed"], "search_seed": search["seed"]}, code),
            "test_inputs": spec["inputs"]["count"],
            "limit_substeps": cell.substeps,
        },
    )
    return write_dataset(ds, out)
