"""The adversarial cells of experiment ``heads`` (``heads.adversarial``), their parameters, paths
and cost: the worst-case-input search (:mod:`attnlimits.p1.adversarial`) on a depth × heads grid,
for every mask of ``heads.masks``, on the sphere (the compact set of inputs is (S^{d−1})^N).

A key is a :class:`attnlimits.heads.grid.Cell` with normalisation ``sphere``; the path holds the
grid parameters and a hash of every other setting the search depends on (not the tolerances of
the checks, which only the fit reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attnlimits.budget import FLOAT, Estimate, cost, number
from attnlimits.grids import key_fields, key_wildcards, union_of_products
from attnlimits.heads.grid import ATTENTION_SECONDS, Cell
from attnlimits.provenance import params_hash

PATTERN = "heads/adversarial/{mask}_{normalisation}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.zarr"
#: The settings of ``heads.adversarial`` that the search depends on.
SEARCH_KEYS = ("seeds", "restarts", "steps", "step_size", "limit_steps", "seed")
#: The settings of ``heads.adversarial`` that only the fit reads (the checks' tolerances).
CHECK_KEYS = ("tolerance", "ratio_tolerance")
NORMALISATION = "sphere"


def cells(heads: Mapping[str, Any]) -> list[Cell]:
    """The adversarial cells: ``heads.adversarial.grid`` for every mask (none if disabled)."""
    block = heads["adversarial"]
    if not block["enabled"]:
        return []
    fixed = {"mask": heads["masks"], "normalisation": [NORMALISATION]}
    return union_of_products(Cell, [{**fixed, **block["grid"]}])


def settings(heads: Mapping[str, Any]) -> dict[str, Any]:
    """Every non-grid setting the search of a cell depends on."""
    search = {k: heads["adversarial"][k] for k in SEARCH_KEYS}
    return {
        **{k: heads[k] for k in ("T", "law", "inputs", "seed")},
        "adversarial": search,
    }


def path(heads: Mapping[str, Any], cell: Cell) -> str:
    return PATTERN.format(**key_wildcards(cell), hash=params_hash(settings(heads)))


def spec(heads: Mapping[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything a search job needs, as plain data (recorded in the store's provenance)."""
    return {"experiment": "heads", **key_fields(cell), **settings(heads)}


def limit_substeps(layers: int, steps: int) -> int:
    """RK4 steps per layer of a search's limit solve: the fewest that make at least ``steps``
    steps on [0, T] (at least one per layer)."""
    return max(1, -(-steps // layers))


#: CPU seconds per evaluation of the layer update or of the limit's field with its gradient
#: (autograd's graph and backward pass; calibrated on N = 8, M = 8: about 0.7 ms, mostly
#: overhead), and the factor of the backward pass on the attention arithmetic.
GRADIENT_UPDATE_SECONDS, BACKWARD = 7e-4, 3.0


def search_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a search: steps+1 evaluations of F and its gradient, each L layers of M
    atoms over R seeds × K restarts of N × N scores and 4·L·substeps limit stages over K
    restarts; memory: the autograd graph (every score, stored about 4 times)."""
    n, d = number(spec["N"]), number(spec["d"])
    layers, atoms = number(spec["L"]), number(spec["law"]["atoms"])
    search = spec["adversarial"]
    seeds, restarts = number(search["seeds"]), number(search["restarts"])
    stages = 4.0 * layers * limit_substeps(int(spec["L"]), int(search["limit_steps"]))
    scores = atoms * n * n * (d + 2) * ATTENTION_SECONDS * BACKWARD
    per_step = layers * (GRADIENT_UPDATE_SECONDS + scores * seeds * restarts)
    per_step += stages * (GRADIENT_UPDATE_SECONDS + scores * restarts)
    seconds = (number(search["steps"]) + 3) * per_step
    memory = FLOAT * 4 * atoms * n * n * (layers * seeds * restarts + stages * restarts)
    return cost(memory, seconds)


def estimate(heads: Mapping[str, Any], cell: Cell) -> Estimate:
    """The estimate of a search job (:func:`search_cost`)."""
    sizes = {
        **{f"adversarial.grid.{axis}": getattr(cell, axis) for axis in ("N", "d", "L")},
        **{f"adversarial.{k}": heads["adversarial"][k] for k in ("seeds", "restarts", "steps")},
        "law.atoms": heads["law"]["atoms"],
    }
    return Estimate(*search_cost(spec(heads, cell)), sizes)
