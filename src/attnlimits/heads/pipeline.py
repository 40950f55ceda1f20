"""What the jobs of experiment ``heads`` do: solve a limit, simulate and measure a cell.

Each function takes the job's spec (plain data from ``heads.grid``), writes one store
atomically, and records the spec, the seeds and the code version in its attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.p1 import errors
from attnlimits.p1.discrete import simulate
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_counts, atoms_of, head_atoms
from attnlimits.p1.limit import solve_limit
from attnlimits.progress import reporter
from attnlimits.provenance import provenance
from attnlimits.storage import open_dataset, write_dataset
from attnlimits.storage import variable as _var

_LOG = logging.getLogger("attnlimits.heads")


def _inputs(spec: Mapping[str, Any]) -> torch.Tensor:
    inp = spec["inputs"]
    return draw_inputs(inp["count"], spec["N"], spec["d"], spec["normalisation"], inp["seed"])


def _seeds(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = {"law_seed": spec["law"]["seed"], "inputs_seed": spec["inputs"]["seed"]}
    if "seed" in spec:
        out.update(heads_seed=spec["seed"], seeds=spec["seeds"])
    return out


def run_limit(
    spec: Mapping[str, Any],
    device: torch.device,
    out: str | Path,
    code: str = "unknown",
    logger: logging.Logger = _LOG,
) -> Path:
    """Solve the limit ODE of one (mask, normalisation, N, d, β) and store it with its error."""
    atoms, x0 = atoms_of(spec), _inputs(spec)
    lim = spec["limit"]
    logger.info("limit %s", {k: spec[k] for k in ("mask", "normalisation", "N", "d", "beta")})
    sol = solve_limit(
        x0.to(device),
        atoms,
        Dynamics.of(spec),
        lim["records"],
        lim["substeps"],
        lim["method"],
        reporter(logger, "limit records"),
    )
    time = np.linspace(0.0, spec["T"], lim["records"] + 1)
    ds = xr.Dataset(
        {
            "x": _var(sol.x, ("input", "time", "token", "component"), "limit token position x(t)"),
            "x0": _var(x0, ("input", "token", "component"), "input tokens X_0"),
            "Q": _var(atoms.q, ("atom", "row", "col"), "query matrix of atom"),
            "K": _var(atoms.k, ("atom", "row", "col"), "key matrix of atom"),
            "V": _var(atoms.v, ("atom", "row", "col"), "value matrix of atom"),
            "limit_error": _var(
                sol.halving_gap,
                ("input", "time"),
                "limit solver error estimate: max over tokens of |x_h - x_2h| (step halving)",
            ),
            "limit_error_richardson": _var(
                sol.richardson_error,
                ("input", "time"),
                "Richardson estimate |x_h - x_2h|/(2^p - 1) of the stored solution's error",
            ),
        },
        coords={"time": ("time", time, {"long_name": "time t", "units": "1"})},
        attrs={**provenance(spec, _seeds(spec), code), "T": spec["T"]},
    )
    logger.info("limit error estimate (max): %.3e", float(sol.halving_gap.max()))
    return write_dataset(ds, out)


def run_cell(
    spec: Mapping[str, Any],
    device: torch.device,
    limit_store: str | Path,
    out: str | Path,
    code: str = "unknown",
    logger: logging.Logger = _LOG,
) -> Path:
    """Simulate one (L, H) cell for all seeds and inputs and measure its errors to the limit."""
    layers, heads, atoms_n = spec["L"], spec["H"], spec["law"]["atoms"]
    limit = open_dataset(limit_store, chunks=None)
    x_limit = torch.from_numpy(limit["x"].values).to(device)
    x0 = _inputs(spec)
    if not np.array_equal(x0.numpy(), limit["x0"].values):
        raise RuntimeError(f"inputs of {limit_store} differ from this cell's inputs")
    assignment = head_atoms(spec["seeds"], layers, heads, atoms_n, spec["seed"])
    counts = atom_counts(assignment, atoms_n)
    logger.info(
        "cell L=%d H=%d: %d seeds x %d inputs", layers, heads, *counts.shape[:1], x0.shape[0]
    )
    x = simulate(
        x0.to(device),
        atoms_of(spec),
        counts,
        Dynamics.of(spec),
        reporter(logger, "layers"),
    )
    dev = errors.deviations(x, errors.limit_at_layers(x_limit, layers))
    t = np.arange(layers + 1) * spec["T"] / layers
    ds = xr.Dataset(
        {
            "X": _var(x, ("seed", "input", "layer", "token", "component"), "discrete token X_l"),
            "counts": _var(
                counts.to(torch.int64),
                ("seed", "step", "atom"),
                "number of heads of layer l using atom r",
            ),
            "e2": _var(
                errors.e2(dev), ("seed", "input"), "e_2 = max_l (mean_i |X_l^i - x^i(t_l)|^2)^(1/2)"
            ),
            "e_inf": _var(
                errors.e_inf(dev), ("seed", "input"), "e_inf = max_l max_i |X_l^i - x^i(t_l)|"
            ),
            "gram": _var(
                errors.gram(dev),
                ("input", "layer", "seed", "seed_"),
                "Gram matrix (1/N) sum_i <D_s^i, D_s'^i> of deviations D = X - x",
            ),
            "limit_error": _var(
                limit["limit_error"].max().values,
                (),
                "limit solver error estimate (max over inputs and times)",
            ),
        },
        coords={
            "t": ("layer", t, {"long_name": "layer time t_l = l T / L", "units": "1"}),
            "seed": np.arange(spec["seeds"]),
            "seed_": np.arange(spec["seeds"]),
        },
        attrs={**provenance(spec, _seeds(spec), code), "limit_store": Path(limit_store).name},
    )
    return write_dataset(ds, out)
