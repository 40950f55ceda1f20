"""Cell statistics of experiment ``adamw`` with bootstrap replicates over seeds
(docs/mathematics.md).

The errors of ``heads`` (``attnlimits.analysis.statistics``) for each tracked variable,
X (forward states) and P (backpropagated variables), taken over the training steps k = 0..K in
two ways:

- ``worst``: the max over k ≤ K is part of the max over layers (docs/mathematics.md, experiment
  ``adamw``: P1 bounds the worst step, the max over k ≤ K), i.e.
  e₂ = max_{k,ℓ} ((1/N) Σᵢ |Dⁱ|²)^(1/2) and the bias and fluctuation of the seed mean at the
  worst (k, input, ℓ);
- ``last``: after the last step K only.

For each (variable, selection) the statistics are ``err``, ``err_inf``, ``bias``, ``bias_raw``,
``noise_floor`` and ``fluct`` of :mod:`attnlimits.analysis.statistics`, named
``<var>_<selection>_<stat>``
(e.g. ``x_worst_bias``); ``theta_<selection>_err`` is ( Σ_s w_s θ_err[s]² )^(1/2) with θ_err the
parameter error of ``runs.parameter_error`` (max over k for ``worst``).

``step_statistics`` gives the same quantities after each step k separately (``<var>_step_<stat>``
for ``err``, ``bias``, ``fluct`` and ``theta_step_err``, each over (step, replicate)): the error
against k, whose max over k the ``worst`` selection takes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from attnlimits.analysis.statistics import error_statistic, gram_statistics

VARIABLES = ("x", "p")
SELECTIONS = ("worst", "last")
STATS = ("err", "err_inf", "bias", "bias_raw", "noise_floor", "fluct")
#: The variables of a cell store that the statistics read.
STORE_VARIABLES = (
    *(f"{kind}_{var}" for var in VARIABLES for kind in ("e2", "einf", "gram")),
    "theta_error",
)
#: Statistics of :func:`step_statistics` per tracked variable.
STEP_STATS = ("err", "bias", "fluct")


def _select_errors(errors: np.ndarray, selection: str) -> np.ndarray:
    """(step, seed, input) → (seed, input): max over steps (``worst``) or the last step."""
    return errors.max(axis=0) if selection == "worst" else errors[-1]


def _select_gram(gram: np.ndarray, selection: str) -> np.ndarray:
    """(step, input, layer, R, R) → (input, times, R, R), times = (step, layer) or layer at K."""
    if selection == "last":
        return gram[-1]
    steps, inputs, layers, seeds, _ = gram.shape
    stacked = np.moveaxis(gram, 0, 1)  # (input, step, layer, R, R)
    return stacked.reshape(inputs, steps * layers, seeds, seeds)


def _checked(cell: xr.Dataset, weights: np.ndarray) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape[1] != cell.sizes["seed"]:
        raise ValueError(f"weights for {weights.shape[1]} seeds, cell has {cell.sizes['seed']}")
    return weights


def step_statistics(cell: xr.Dataset, weights: np.ndarray) -> dict[str, np.ndarray]:
    """``<var>_step_<stat>`` (module docstring) for one cell store, each of shape (K+1, B+1)."""
    weights = _checked(cell, weights)
    out: dict[str, np.ndarray] = {}
    for var in VARIABLES:
        e2 = cell[f"e2_{var}"].transpose("step", "seed", "input").values
        gram = cell[f"gram_{var}"].transpose("step", "input", "layer", "seed", "seed2").values
        out[f"{var}_step_err"] = error_statistic(e2, weights)
        grams = gram_statistics(gram, weights)
        out[f"{var}_step_bias"], out[f"{var}_step_fluct"] = grams["bias"], grams["fluct"]
    theta = cell["theta_error"].transpose("step", "seed").values
    out["theta_step_err"] = error_statistic(theta[..., None], weights)
    return out


def cell_statistics(cell: xr.Dataset, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of the module docstring for one cell store, each of shape (B+1,).

    ``weights`` (B+1, R): replicate 0 the sample, rows 1..B bootstrap resamples of the seeds
    (``statistics.replicate_weights``).
    """
    weights = _checked(cell, weights)
    out: dict[str, np.ndarray] = {}
    for var in VARIABLES:
        e2 = cell[f"e2_{var}"].transpose("step", "seed", "input").values
        einf = cell[f"einf_{var}"].transpose("step", "seed", "input").values
        gram = cell[f"gram_{var}"].transpose("step", "input", "layer", "seed", "seed2").values
        for sel in SELECTIONS:
            out[f"{var}_{sel}_err"] = error_statistic(_select_errors(e2, sel), weights)
            out[f"{var}_{sel}_err_inf"] = error_statistic(_select_errors(einf, sel), weights)
            for name, value in gram_statistics(_select_gram(gram, sel), weights).items():
                out[f"{var}_{sel}_{name}"] = value
    theta = cell["theta_error"].transpose("step", "seed").values
    for sel in SELECTIONS:
        out[f"theta_{sel}_err"] = error_statistic(_select_errors(theta[..., None], sel), weights)
    return out
