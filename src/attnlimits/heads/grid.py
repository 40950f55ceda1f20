"""The cells of experiment ``heads``, their parameters and their paths.

A *cell* is one point (mask, normalisation, N, d, β, L, H) of the union of the configured grids;
a *limit* is one (mask, normalisation, N, d, β), shared by every (L, H) cell. Paths read as the
grid parameters plus a short hash of every other setting the result depends on, so that results
of different settings live side by side and are reused when a setting comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.budget import (
    FLOAT,
    Estimate,
    cost,
    gram_statistics_cost,
    grid_of,
    number,
    plots_estimate,
)
from attnlimits.grids import (
    HASH,
    INTEGER,
    NUMBER,
    WORD,
    find_key,
    key_fields,
    key_wildcards,
    sort_keys,
    union_of_products,
)
from attnlimits.naming import format_number
from attnlimits.provenance import params_hash

LIMIT_PATTERN = "heads/limit/{mask}_{normalisation}_N{N}_d{d}_beta{beta}_{hash}.zarr"
CELL_PATTERN = "heads/cells/{mask}_{normalisation}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.zarr"
WILDCARD_CONSTRAINTS = {
    "mask": WORD,
    "normalisation": WORD,
    "N": INTEGER,
    "d": INTEGER,
    "L": INTEGER,
    "H": INTEGER,
    "beta": NUMBER,
    "hash": HASH,
}


def format_beta(beta: float) -> str:
    """β as it appears in paths (1.0 → '1', 1e4 → '10000')."""
    return format_number(beta)


@dataclass(frozen=True)
class LimitKey:
    mask: str
    normalisation: str
    N: int
    d: int
    beta: float


@dataclass(frozen=True)
class Cell:
    mask: str
    normalisation: str
    N: int
    d: int
    beta: float
    L: int
    H: int

    @property
    def limit(self) -> LimitKey:
        return LimitKey(self.mask, self.normalisation, self.N, self.d, self.beta)


def cells(heads: Mapping[str, Any]) -> list[Cell]:
    """The union of the configured grids, each a full product, in a fixed order."""
    fixed = {"mask": heads["masks"], "normalisation": heads["normalisations"]}
    return union_of_products(Cell, ({**fixed, **grid} for grid in heads["grids"].values()))


def limits(heads: Mapping[str, Any]) -> list[LimitKey]:
    return sort_keys(c.limit for c in cells(heads))


def limit_settings(heads: Mapping[str, Any]) -> dict[str, Any]:
    """Every non-grid setting the limit depends on."""
    return {k: heads[k] for k in ("T", "law", "inputs", "limit")}


def cell_settings(heads: Mapping[str, Any]) -> dict[str, Any]:
    """Every non-grid setting a cell depends on (its limit's, and the seeds)."""
    return {**limit_settings(heads), "seeds": heads["seeds"], "seed": heads["seed"]}


def limit_path(heads: Mapping[str, Any], key: LimitKey) -> str:
    return LIMIT_PATTERN.format(**key_wildcards(key), hash=params_hash(limit_settings(heads)))


def cell_path(heads: Mapping[str, Any], cell: Cell) -> str:
    return CELL_PATTERN.format(**key_wildcards(cell), hash=params_hash(cell_settings(heads)))


def limit_spec(heads: Mapping[str, Any], key: LimitKey) -> dict[str, Any]:
    """Everything a limit job needs, as plain data (recorded in the store's provenance)."""
    return {"experiment": "heads", **key_fields(key), **limit_settings(heads)}


def cell_spec(heads: Mapping[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything a cell job needs, as plain data (recorded in the store's provenance)."""
    return {"experiment": "heads", **key_fields(cell), **cell_settings(heads)}


def find(keys: list, wildcards: Mapping[str, str]):
    """The key among ``keys`` whose path wildcards are ``wildcards`` (hash aside)."""
    return find_key(keys, wildcards, "heads")


# --------------------------------------------------------------------------- resource estimates
# (attnlimits.budget: peak memory and CPU time of a job from its settings, by formula)

#: Numbers of one chunk of attention scores (``attention.mixture_attention``'s max_elements):
#: atoms are evaluated together while their scores fit, one at a time beyond.
SCORE_CHUNK = 2.0**25
#: CPU seconds per attention operation (one token pair, one dimension, one atom, one batch
#: entry) and per evaluation of the layer update (Python and torch overheads, per atom chunk);
#: calibrated on the default run's limits and cells (N = 128, 256: 6-14 s of CPU).
ATTENTION_SECONDS, UPDATE_SECONDS = 1.5e-9, 1e-4
#: CPU seconds per head pick (``p1.law.head_atoms``: random integers and their counts).
PICK_SECONDS = 2e-8


def _scores(atoms: float, batch: float, n: float) -> float:
    """Numbers of the largest score chunk of M atoms over a batch of N x N scores."""
    return min(atoms * batch * n * n, max(SCORE_CHUNK, batch * n * n))


def limit_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a limit job: RK4 on records·substeps steps and again at twice the step
    (1.5 solves, 4 stages each), every stage M atoms over S inputs of N x N scores; memory: the
    score chunk (exponentiated in place), the three stored solutions (S (records+1) N d)."""
    n, d = number(spec["N"]), number(spec["d"])
    inputs, atoms = number(spec["inputs"]["count"]), number(spec["law"]["atoms"])
    records = number(spec["limit"]["records"])
    stages = 6.0 * records * number(spec["limit"]["substeps"])
    memory = FLOAT * (_scores(atoms, inputs, n) + 3 * inputs * (records + 1) * n * d)
    memory += FLOAT * 3 * atoms * d * d
    seconds = stages * (UPDATE_SECONDS + ATTENTION_SECONDS * atoms * inputs * n * n * (d + 2))
    return cost(memory, seconds)


def cell_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a cell job: L layers, each M atoms over R seeds x S inputs of N x N
    scores, after R·L·H head picks; memory: the score chunk, the states X, their deviations and
    the limit at the layers (R S (L+1) N d each), the picks (R L H integers and their flat
    copy), the atom counts (R L M) and the Gram matrices (S (L+1) R²)."""
    n, d = number(spec["N"]), number(spec["d"])
    layers, heads = number(spec["L"]), number(spec["H"])
    seeds, inputs = number(spec["seeds"]), number(spec["inputs"]["count"])
    atoms = number(spec["law"]["atoms"])
    batch = seeds * inputs
    memory = FLOAT * (
        _scores(atoms, batch, n)
        + 3 * batch * (layers + 1) * n * d
        + 2 * seeds * layers * heads
        + seeds * layers * atoms
        + inputs * (layers + 1) * seeds * seeds
        + 3 * atoms * d * d
    )
    seconds = layers * (UPDATE_SECONDS + ATTENTION_SECONDS * atoms * batch * n * n * (d + 2))
    seconds += PICK_SECONDS * seeds * layers * heads
    return cost(memory, seconds)


def _axes(heads: Mapping[str, Any], key: Any, axes: tuple[str, ...]) -> dict[str, Any]:
    """The key's values on ``axes``, named as the keys of the first grid that holds it."""
    grid = grid_of(heads["grids"], key)
    return {f"grids.{grid}.{axis}": getattr(key, axis) for axis in axes}


def estimate_limit(heads: Mapping[str, Any], key: LimitKey) -> Estimate:
    """The estimate of a limit job (:func:`limit_cost`)."""
    sizes = {
        **_axes(heads, key, ("N", "d")),
        "inputs.count": heads["inputs"]["count"],
        "law.atoms": heads["law"]["atoms"],
        "limit.records": heads["limit"]["records"],
        "limit.substeps": heads["limit"]["substeps"],
    }
    return Estimate(*limit_cost(limit_spec(heads, key)), sizes)


def estimate_cell(heads: Mapping[str, Any], cell: Cell) -> Estimate:
    """The estimate of a cell job (:func:`cell_cost`)."""
    sizes = {
        **_axes(heads, cell, ("N", "d", "L", "H")),
        "seeds": heads["seeds"],
        "inputs.count": heads["inputs"]["count"],
        "law.atoms": heads["law"]["atoms"],
    }
    return Estimate(*cell_cost(cell_spec(heads, cell)), sizes)


def _hypercube(heads: Mapping[str, Any]) -> tuple[list[Cell], float, float]:
    """The cells, the size of the hypercube of their grid values, the longest layer axis."""
    every = cells(heads)
    size = 1.0
    for axis in ("mask", "normalisation", "N", "d", "beta", "L", "H"):
        size *= len({getattr(c, axis) for c in every})
    return every, size, max(number(c.L) for c in every) + 1


#: CPU seconds per cell store read and written again by the aggregation (opening, verifying).
CELL_READ_SECONDS = 0.05
#: Cells whose statistics are computed at once (``analysis.statistics.cell_statistics``).
STATISTICS_BLOCK = 32


def _data_sizes(heads: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "grids": f"{len(cells(heads))} cells",
        "seeds": heads["seeds"],
        "inputs.count": heads["inputs"]["count"],
    }


def estimate_aggregate(config: Mapping[str, Any], key: Any) -> Estimate:
    """The aggregation holds one chunk of 64 cells (their Gram matrices over the longest layer
    axis) and the hypercube's ``present`` mask; it reads every cell store once."""
    heads = config["heads"]
    every, size, layers = _hypercube(heads)
    seeds, inputs = number(heads["seeds"]), number(heads["inputs"]["count"])
    memory = FLOAT * 64 * inputs * layers * seeds * (seeds + 2) + size
    seconds = len(every) * (CELL_READ_SECONDS + 1e-9 * FLOAT * inputs * layers * seeds * seeds)
    return Estimate(*cost(memory, seconds), _data_sizes(heads)).under("heads")


def estimate_fit(config: Mapping[str, Any], key: Any) -> Estimate:
    """The statistics, 32 cells at a time: their Gram matrices (S (L+1) R² each, over the longest
    layer axis) times the B+1 replicate weights (:func:`attnlimits.budget.gram_statistics_cost`),
    and every statistic over the hypercube and the replicates (6 statistics, held about three
    times while the claims are fitted, whose fits take about a microsecond per entry)."""
    heads = config["heads"]
    every, size, layers = _hypercube(heads)
    seeds, inputs = number(heads["seeds"]), number(heads["inputs"]["count"])
    replicates = number(heads["fits"]["bootstrap"]) + 1
    per_cell = inputs * layers * seeds * seeds
    block, _ = gram_statistics_cost(min(STATISTICS_BLOCK, len(every)) * per_cell, seeds, replicates)
    _, seconds = gram_statistics_cost(len(every) * per_cell, seeds, replicates)
    memory = block + FLOAT * 3 * 6 * size * replicates
    seconds += 1e-6 * size * replicates
    sizes = {**_data_sizes(heads), "fits.bootstrap": heads["fits"]["bootstrap"]}
    return Estimate(*cost(memory, seconds), sizes).under("heads")


def estimate_plots(config: Mapping[str, Any], key: Any) -> Estimate:
    """The figures (``plots.dpi``) and the trajectory cell's states."""
    heads = config["heads"]
    tr = config["plots"]["trajectories"]
    states = number(heads["seeds"]) * number(heads["inputs"]["count"]) * (number(tr["L"]) + 1)
    data = FLOAT * states * number(tr["N"]) * number(tr["d"])
    return plots_estimate(config, 6, data)
