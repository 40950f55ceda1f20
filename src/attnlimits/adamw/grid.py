"""The cells of experiment ``adamw``, their specs and their paths.

A *cell* is one point (variant, ε, N, d, β, L, H) of the union of the configured grids
``adamw.grids``: R seeds of the discrete model of depth L with H heads per layer, trained with K
full-batch AdamW steps (standard or block-wise second moment, Adam's ε) and compared after every
step with its limit. A *limit* is one (variant, ε, N, d, β): the depth-indexed limit trained with
the same optimizer, shared by every (L, H) cell. Paths read as the key's own parameters plus a
short hash of every other setting the result depends on (the rest of the spec), so that results of
different settings live side by side and are reused when a setting comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

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
    keyed_path,
    sort_keys,
    union_of_products,
)

LIMIT_PATTERN = "adamw/limit/{variant}_eps{eps}_N{N}_d{d}_beta{beta}_{hash}.zarr"
CELL_PATTERN = "adamw/cells/{variant}_eps{eps}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.zarr"
WILDCARD_CONSTRAINTS = {
    "variant": WORD,
    "eps": NUMBER,
    "N": INTEGER,
    "d": INTEGER,
    "beta": NUMBER,
    "L": INTEGER,
    "H": INTEGER,
    "hash": HASH,
}

#: The nested blocks of a spec: their keys, each with the type its value is cast to.
SPEC_BLOCKS: dict[str, dict[str, type]] = {
    "law": {"atoms": int, "v_bar": float, "sigma_v": float, "seed": int},
    "task": {
        "inputs": int,
        "d_out": int,
        "teacher_atoms": int,
        "teacher_v_bar": float,
        "teacher_sigma_v": float,
        "teacher_steps": int,
        "seed": int,
    },
    "optimizer": {"lr": float, "beta1": float, "beta2": float, "weight_decay": float, "steps": int},
    "limit": {"steps": int, "records": int},
}
#: The keys of a limit spec and of a cell spec, in order.
LIMIT_SPEC_KEYS = ("variant", "eps", "N", "d", "beta", "T", "mask", "normalisation", *SPEC_BLOCKS)
CELL_SPEC_KEYS = (*LIMIT_SPEC_KEYS, "L", "H", "seeds", "seed")


@dataclass(frozen=True)
class LimitKey:
    variant: str
    eps: float
    N: int
    d: int
    beta: float


@dataclass(frozen=True)
class Cell:
    variant: str
    eps: float
    N: int
    d: int
    beta: float
    L: int
    H: int

    @property
    def limit(self) -> LimitKey:
        return LimitKey(self.variant, self.eps, self.N, self.d, self.beta)


#: The dimensions of a cell, in the order of the statistics and tables.
CELL_DIMS: tuple[str, ...] = tuple(f.name for f in fields(Cell))


def cells(adamw: Mapping[str, Any]) -> list[Cell]:
    """The union of the configured grids ``adamw.grids``, each a full product, in a fixed order."""
    return union_of_products(Cell, adamw["grids"].values())


def limits(adamw: Mapping[str, Any]) -> list[LimitKey]:
    """The limits of the configured cells, each once, in a fixed order."""
    return sort_keys(c.limit for c in cells(adamw))


def limit_spec(adamw: Mapping[str, Any], key: LimitKey) -> dict[str, Any]:
    """Everything a limit job needs, as plain data (recorded in the store's provenance).

    Keys ``LIMIT_SPEC_KEYS``: the key's (variant, eps, N, d, beta), then T, mask, normalisation
    and the blocks law, task, optimizer (lr, beta1, beta2, weight_decay, steps) and limit
    (steps, records) of ``SPEC_BLOCKS``; numbers are cast (1 → 1.0 for a float setting), so that
    equal settings give equal specs and paths.
    """
    spec: dict[str, Any] = {
        **key_fields(key),
        "T": float(adamw["T"]),
        "mask": str(adamw["mask"]),
        "normalisation": str(adamw["normalisation"]),
    }
    for block, keys in SPEC_BLOCKS.items():
        spec[block] = {name: cast(adamw[block][name]) for name, cast in keys.items()}
    return spec


def cell_spec(adamw: Mapping[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything a cell job needs: its limit's spec plus L, H, the seeds R and their base seed."""
    return {
        **limit_spec(adamw, cell.limit),
        "L": cell.L,
        "H": cell.H,
        "seeds": int(adamw["seeds"]),
        "seed": int(adamw["seed"]),
    }


def limit_path(adamw: Mapping[str, Any], key: LimitKey) -> str:
    """``adamw/limit/{variant}_eps{eps}_N{N}_d{d}_beta{beta}_{hash}.zarr`` (relative path)."""
    return keyed_path(LIMIT_PATTERN, limit_spec(adamw, key), key)


def cell_path(adamw: Mapping[str, Any], cell: Cell) -> str:
    """``adamw/cells/{variant}_eps{eps}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.zarr``."""
    return keyed_path(CELL_PATTERN, cell_spec(adamw, cell), cell)


def find(keys: list, wildcards: Mapping[str, str]):
    """The key among ``keys`` whose path wildcards are ``wildcards`` (hash aside)."""
    return find_key(keys, wildcards, "adamw")


#: Memory model of one training run (measured on CPU, float64): a base for the interpreter and
#: torch, bytes per parameter entry (θ, QᵀK, the autograd gradients, dJ, g, Adam's two moments and
#: the update's temporaries: ~22 tensors of the parameters' size) and bytes per attention
#: activation entry held for the backward pass (per step, input and atom, N (N + d) entries). A
#: cell holds the activations of its R L steps; the limit is checkpointed in segments of
#: n/records steps (``model.forward_backward``) and holds about two segments' worth. Checked
#: against peak RSS by ``benchmarks/adamw_memory.py``. A cell also keeps its parameters after
#: every step k = 0..K to compare them with the limit's (``runs.run_cell``, one step at a time):
#: about 24 bytes per entry and step, measured. The default cell at d = 24 (R L = 256 models)
#: peaked at 1782 MB when the error was computed on all steps at once, against 1119 MB reserved
#: without this term (benchmark f); computed step by step it peaks at 1535 MB and reserves 1713 MB.
#: With the hand-written backward pass (issue 15) the d = 12 limit peaked at 1963 MB against 1689
#: MB reserved at 180 bytes per entry (the d = 24 one at 3861 MB against 5517): 240 bytes covers
#: every default limit (d = 3, 6, 12, 24: 1.14, 1.14, 1.08, 1.86 times the measured peak).
MEMORY_BASE_MB, BYTES_PER_PARAMETER, BYTES_PER_ACTIVATION = 400, 240, 31
BYTES_PER_STORED_PARAMETER = 24


def memory_mb(spec: Mapping[str, Any]) -> int:
    """Peak memory (MB) of the job of ``spec`` (a limit spec, or a cell spec with L and seeds).

    The limit trains θ_r(t_j) on its n = ``limit.steps`` grid steps; a cell trains R = ``seeds``
    models of L layers: n·M·3d² or R·L·M·3d² parameter entries, and keeps the latter after each
    of its K + 1 steps. Used as the Snakemake resource
    ``mem_mb`` (the scheduler and SLURM reserve it). The limit's memory grows like n M d²: with
    n = 16384, M = 16 and d = 48 it would need ~120 GB.
    """
    n, d, tokens = spec["limit"]["steps"], spec["d"], spec["N"]
    atoms, inputs = spec["law"]["atoms"], spec["task"]["inputs"]
    stored = 0  # parameter snapshots kept after each AdamW step (cells only)
    if "L" in spec:
        models = held = spec["seeds"] * spec["L"]
        stored = spec["optimizer"]["steps"] + 1
    else:
        models, held = n, 2 * (n // spec["limit"]["records"])
    parameters = models * atoms * 3 * d * d
    activations = held * inputs * atoms * tokens * (tokens + d)
    total = MEMORY_BASE_MB * 1e6 + BYTES_PER_PARAMETER * parameters
    total += BYTES_PER_STORED_PARAMETER * stored * parameters
    return int(np.ceil((total + BYTES_PER_ACTIVATION * activations) / 1e6))


#: Tables that :func:`attnlimits.adamw.plots.adamw_figures` needs.
NEEDED_TABLES = (
    "points", "lines", "slopes", "local_slopes", "cells", "steps", "dims", "eps",
    "study_cells", "study_tasks", "study_steps", "peak_steps",
)  # fmt: skip
#: Figure names, in the order :func:`attnlimits.adamw.plots.adamw_figures` returns them.
FIGURES = (
    "depth_heads", "bias_fluct", "steps", "tokens", "dims", "study_steps", "eps", "local_slopes"
)  # fmt: skip


# --------------------------------------------------------------------------- resource estimates
# (attnlimits.budget: peak memory and CPU time of a job from its settings, by formula)

#: CPU seconds per layer pass of a forward or backward sweep (Python and autograd overheads), per
#: attention operation (token pair x dimension x atom x batch entry) and per parameter entry
#: updated by AdamW; calibrated on the default run's limits and cells (d = 24, N = 64).
LAYER_SECONDS, ATTENTION_SECONDS, PARAMETER_SECONDS = 8e-5, 2.5e-9, 5e-8


def _training(spec: Mapping[str, Any]) -> tuple[float, float, float]:
    """(layer passes per sweep, batch entries per layer, parameter entries) of the job of
    ``spec``: the limit trains its n-step grid and again the n/2-step one, a cell R models of L
    layers batched together."""
    d, atoms = number(spec["d"]), number(spec["law"]["atoms"])
    inputs = number(spec["task"]["inputs"])
    if "L" in spec:
        seeds, layers = number(spec["seeds"]), number(spec["L"])
        return layers, seeds * inputs, seeds * layers * atoms * 3 * d * d
    steps = 1.5 * number(spec["limit"]["steps"])
    return steps, inputs, steps * atoms * 3 * d * d


def training_seconds(spec: Mapping[str, Any]) -> float:
    """CPU seconds of a limit or cell job (without the start-up): K + 1 forward-backward sweeps
    (three passes each, the checkpointed forward recomputed) over its layers, M atoms of N x N
    attention per batch entry; K AdamW updates of its parameters; the teacher's RK4 solve; a
    cell's R·L·H head picks."""
    n, d, atoms = number(spec["N"]), number(spec["d"]), number(spec["law"]["atoms"])
    sweeps = number(spec["optimizer"]["steps"]) + 1
    layers, batch, parameters = _training(spec)
    attention = ATTENTION_SECONDS * atoms * batch * n * n * (d + 2)
    seconds = sweeps * (3 * layers * (LAYER_SECONDS + attention) + PARAMETER_SECONDS * parameters)
    task = spec["task"]
    teacher = 4 * number(task["teacher_steps"]) * number(task["teacher_atoms"])
    seconds += teacher * (LAYER_SECONDS + ATTENTION_SECONDS * number(task["inputs"]) * n * n * d)
    if "L" in spec:
        seconds += 2e-8 * number(spec["seeds"]) * number(spec["L"]) * number(spec["H"])
    return seconds


def _memory_bytes(spec: Mapping[str, Any]) -> float:
    """:func:`memory_mb` in bytes above its base, as a float (never an OverflowError), plus a
    cell's R·L·H head picks (int64, and their flat copy)."""
    n, d, tokens = number(spec["limit"]["steps"]), number(spec["d"]), number(spec["N"])
    atoms, inputs = number(spec["law"]["atoms"]), number(spec["task"]["inputs"])
    stored, picks = 0.0, 0.0
    if "L" in spec:
        models = held = number(spec["seeds"]) * number(spec["L"])
        stored = number(spec["optimizer"]["steps"]) + 1
        picks = 2 * FLOAT * models * number(spec["H"])
    else:
        models, held = n, 2 * (n // number(spec["limit"]["records"]))
    parameters = models * atoms * 3 * d * d
    activations = held * inputs * atoms * tokens * (tokens + d)
    total = BYTES_PER_PARAMETER * parameters + BYTES_PER_STORED_PARAMETER * stored * parameters
    return total + BYTES_PER_ACTIVATION * activations + picks


def job_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a limit or cell job: the memory model of :func:`memory_mb` (the mem_mb
    each job reserves; measured, ``benchmarks/adamw_memory.py``) with a cell's head picks, and
    :func:`training_seconds`."""
    return cost(_memory_bytes(spec), training_seconds(spec), MEMORY_BASE_MB)


limit_cost = cell_cost = job_cost


def _sizes(adamw: Mapping[str, Any], key: Any, axes: tuple[str, ...]) -> dict[str, Any]:
    grid = grid_of(adamw["grids"], key)
    return {
        **{f"grids.{grid}.{axis}": getattr(key, axis) for axis in axes},
        "law.atoms": adamw["law"]["atoms"],
        "task.inputs": adamw["task"]["inputs"],
        "optimizer.steps": adamw["optimizer"]["steps"],
    }


def estimate_limit(adamw: Mapping[str, Any], key: LimitKey) -> Estimate:
    """The estimate of a limit job (:func:`job_cost`)."""
    sizes = {**_sizes(adamw, key, ("N", "d")), "limit.steps": adamw["limit"]["steps"]}
    return Estimate(*job_cost(limit_spec(adamw, key)), sizes)


def estimate_cell(adamw: Mapping[str, Any], cell: Cell) -> Estimate:
    """The estimate of a cell job (:func:`job_cost`)."""
    sizes = {**_sizes(adamw, cell, ("N", "d", "L", "H")), "seeds": adamw["seeds"]}
    return Estimate(*job_cost(cell_spec(adamw, cell)), sizes)


def estimate_fit(config: Mapping[str, Any], key: Any) -> Estimate:
    """The statistics of every cell, one cell at a time: for X and P, the Gram matrices of every
    step ((K+1) S (L+1) R² numbers) times the B+1 replicate weights, three times (worst, last,
    per step; :func:`attnlimits.budget.gram_statistics_cost`)."""
    adamw = config["adamw"]
    seeds, inputs = number(adamw["seeds"]), number(adamw["task"]["inputs"])
    sweeps = number(adamw["optimizer"]["steps"]) + 1
    replicates = number(adamw["fits"]["bootstrap"]) + 1
    every = cells(adamw)
    grams = [sweeps * inputs * (number(c.L) + 1) * seeds * seeds for c in every]
    memory, _ = gram_statistics_cost(max(grams), seeds, replicates)
    _, seconds = gram_statistics_cost(6 * sum(grams), seeds, replicates)
    sizes = {
        "grids": f"{len(every)} cells",
        "seeds": adamw["seeds"],
        "optimizer.steps": adamw["optimizer"]["steps"],
        "fits.bootstrap": adamw["fits"]["bootstrap"],
    }
    return Estimate(*cost(memory, seconds, MEMORY_BASE_MB), sizes).under("adamw")


def estimate_plots(config: Mapping[str, Any], key: Any) -> Estimate:
    """The figures (``plots.dpi``), drawn from the tables."""
    return plots_estimate(config, len(FIGURES))
