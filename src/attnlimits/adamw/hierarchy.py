"""Errors over task seeds and head seeds, with a hierarchical bootstrap (docs/mathematics.md, "How
rates are fitted").

A study cell (``adamw.studies``) is run for T task seeds (draws of the task: inputs, read-out,
teacher; each with its own limit) and, within each, R head seeds (draws of the heads' atom
picks). Its error pools both levels,

    ``E = ( (1/T) Σ_t (1/R) Σ_s max_input e₂[t, s]² )^(1/2)``,

the root mean square of ``analysis.statistics.error_statistic`` over (task, seed) pairs with
weights 1/(T R). Its bootstrap is **two-stage** (a hierarchical bootstrap): a replicate draws T
task seeds with replacement and, for each of the T draws separately, R head seeds with
replacement within that task; the weight of a (task, seed) pair is the number of times it was
drawn over T R. A task drawn twice thus gets two independent resamples of its head seeds. The
same weights serve every cell of a study (task seed t and head seed s are resampled jointly
across all cells that share them, as the rate fits require), so a d-slope's interval covers the
variation over task draws, not only over head seeds. :func:`head_seed_weights` holds the tasks
fixed and resamples the head seeds only (what the grids' intervals do), for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from attnlimits.analysis.statistics import error_statistic

#: The tracked variables of a study cell: the cell store's error variable of each.
ERRORS = {"x": "e2_x", "p": "e2_p", "theta": "theta_error"}


def _rng(seed: int, tasks: int, seeds: int, replicates: int, level: int) -> np.random.Generator:
    sequence = np.random.SeedSequence([seed, tasks, seeds, replicates, level])
    return np.random.Generator(np.random.PCG64(sequence))


def hierarchical_weights(tasks: int, seeds: int, replicates: int, seed: int) -> np.ndarray:
    """(B+1, T R) weights of the (task, seed) pairs, task-major (module docstring): row 0 is
    1/(T R) everywhere, row b ≥ 1 a two-stage resample, drawn from ``PCG64(SeedSequence([seed,
    T, R, B, 2]))``. Every row sums to 1."""
    if tasks < 1 or seeds < 1 or replicates < 0:
        raise ValueError(
            f"need tasks, seeds ≥ 1 and replicates ≥ 0, got {tasks}, {seeds}, {replicates}"
        )
    rng = _rng(seed, tasks, seeds, replicates, 2)
    out = np.full((replicates + 1, tasks, seeds), 1.0 / (tasks * seeds))
    for b in range(1, replicates + 1):
        picks = rng.integers(tasks, size=tasks)
        counts = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=tasks)
        out[b] = 0.0
        np.add.at(out[b], picks, counts / (tasks * seeds))
    return out.reshape(replicates + 1, tasks * seeds)


def head_seed_weights(tasks: int, seeds: int, replicates: int, seed: int) -> np.ndarray:
    """(B+1, T R) weights that hold the T tasks fixed (1/T each) and resample the R head seeds
    within each task independently: the intervals of a single-level bootstrap over head seeds."""
    if tasks < 1 or seeds < 1 or replicates < 0:
        raise ValueError(
            f"need tasks, seeds ≥ 1 and replicates ≥ 0, got {tasks}, {seeds}, {replicates}"
        )
    rng = _rng(seed, tasks, seeds, replicates, 1)
    counts = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=(replicates, tasks))
    rows = np.concatenate([np.ones((1, tasks, seeds)), counts.astype(np.float64)])
    return rows.reshape(replicates + 1, tasks * seeds) / (tasks * seeds)


def pooled_errors(stores: Sequence[xr.Dataset], variable: str) -> np.ndarray:
    """The errors of ``variable`` (``x``, ``p`` or ``theta``) of the T stores of one study cell
    (one per task seed, in task order), pooled task-major: (K+1, T R, inputs)."""
    name = ERRORS[variable]
    parts = []
    for store in stores:
        values = store[name].transpose("step", "seed", ...).values
        parts.append(values if values.ndim == 3 else values[..., None])
    return np.concatenate(parts, axis=1)


def pooled_statistics(errors: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """From pooled errors (K+1, T R, inputs): ``worst`` (max over steps k ≤ K, then the pooled
    root mean square), ``last`` (after step K) and ``step`` (after each step: (K+1, B+1)), each
    over the replicates of ``weights`` (B+1, T R)."""
    return {
        "worst": error_statistic(errors.max(axis=0), weights),
        "last": error_statistic(errors[-1], weights),
        "step": error_statistic(errors, weights),
    }


def task_errors(errors: np.ndarray, tasks: int) -> np.ndarray:
    """The worst-step error of each task seed alone (mean over its head seeds): (T,)."""
    worst = errors.max(axis=0).max(axis=-1) ** 2  # (T R,)
    return np.sqrt(worst.reshape(tasks, -1).mean(axis=1))
