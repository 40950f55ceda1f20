"""Cell statistics and bootstrap replicates over seeds (docs/mathematics.md, "How rates are
fitted").

A bootstrap replicate is a weight vector w over the R seeds (Σ_s w_s = 1): replicate 0 is the
original sample (w_s = 1/R), replicates 1..B resample seed indices with replacement (multinomial
counts / R). One weight matrix serves every cell, so the resampling is joint across all cells
that share seeds.

Per cell and replicate, from the per-(seed, input) errors and the Gram matrix of the deviations
D_s = X_ℓ^(s) − x(t_ℓ), G[input, ℓ, s, s′] = (1/N) Σᵢ ⟨D_sⁱ, D_{s′}ⁱ⟩:

- ``err``      = ( Σ_s w_s max_input e₂[s, input]² )^(1/2)
- ``err_inf``  = ( Σ_s w_s max_input e_∞[s, input]² )^(1/2)
- ``bias_raw`` = ( max_{input,ℓ} wᵀGw )^(1/2), the error of the weighted seed mean X̄_w = Σ_s w_s X_s
- ``fluct``    = ( max_{input,ℓ} var1 )^(1/2), var1 = (R/(R−1)) (Σ_s w_s G_ss − wᵀGw),
  the unbiased one-seed variance (root mean square seed-to-seed fluctuation)
- ``noise_floor`` = ( max_{input,ℓ} var1/R )^(1/2), the expected contribution of the seed noise
  to the error of the seed mean
- ``bias``     = ( max_{input,ℓ} max(wᵀGw − var1/R − c, 0) )^(1/2), the noise-corrected bias, with
  c = 0 on replicate 0 and c = var1⁽⁰⁾/R (replicate 0's noise floor², same input and ℓ) on
  bootstrap replicates.

Why c: wᵀGw − var1/R is unbiased for the squared bias, but in the bootstrap world the population
is the original seed sample, whose "true" squared bias is wᵀGw of replicate 0, larger than the
point estimate by var1⁽⁰⁾/R. Without c the replicates scatter around the point estimate plus its
noise floor, and percentile intervals of the bias (and of its slope in L) are shifted: with
precise data they can even exclude the point estimate. With c they are centred on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

#: Dimensions that identify a cell of the ``heads`` hypercube.
CELL_DIMS: tuple[str, ...] = ("mask", "normalisation", "N", "d", "beta", "L", "H")

#: Variables returned by :func:`cell_statistics`, with their long names.
STATISTICS: dict[str, str] = {
    "err": "root mean square over seeds of the max over inputs of e2",
    "err_inf": "root mean square over seeds of the max over inputs of e_inf",
    "bias": "error of the seed mean, corrected for its noise floor",
    "bias_raw": "error of the seed mean",
    "noise_floor": "noise floor of the seed mean, fluct / sqrt(R)",
    "fluct": "root mean square seed-to-seed fluctuation (unbiased)",
}


def replicate_weights(seeds: int, replicates: int, seed: int) -> np.ndarray:
    """Seed weights of the original sample and of B bootstrap resamples, shape (B+1, R).

    Row 0 is 1/R everywhere; row b ≥ 1 holds multinomial(R; 1/R, …, 1/R) counts divided by R,
    drawn from ``PCG64(SeedSequence([seed, seeds, replicates]))``.
    """
    if seeds < 1 or replicates < 0:
        raise ValueError(f"need seeds ≥ 1 and replicates ≥ 0, got {seeds}, {replicates}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, seeds, replicates])))
    counts = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=replicates)
    original = np.ones((1, seeds))
    return np.concatenate([original, counts.astype(np.float64)]) / seeds


def percentile_interval(
    samples: np.ndarray, level: float, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval at ``level`` of ``samples`` along ``axis``, ignoring non-finite ones."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = np.where(np.isfinite(samples), samples, np.nan)
    tails = 100.0 * np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(samples, tails, axis=axis)
    return lo, hi


def replicate_interval(
    values: np.ndarray, level: float, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval at ``level`` over bootstrap replicates 1..B along ``axis``.

    Replicate 0 (the point estimate) is left out; non-finite replicates are ignored.
    """
    values = np.asarray(values, dtype=np.float64)
    return percentile_interval(np.take(values, np.arange(1, values.shape[axis]), axis), level, axis)


def scalar_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """:func:`replicate_interval` of one statistic's replicates (B+1,), as two floats."""
    lo, hi = replicate_interval(values, level)
    return float(lo), float(hi)


def gram_statistics(gram: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Bias and fluctuation statistics from Gram matrices, formulas of the module docstring.

    ``gram`` has shape (..., S, layers, R, R) (NaN layers are ignored), ``weights`` (B+1, R) with
    row 0 the original sample; returns arrays of shape (..., B+1) for ``bias``, ``bias_raw``,
    ``noise_floor`` and ``fluct``.
    """
    gram = np.asarray(gram, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    seeds = weights.shape[1]
    # Only the (…, input, layer) matrices with a value: an all-NaN one (a layer beyond the
    # cell's depth) gives NaN in every statistic, which the max ignores; the others get the same
    # operations as before on the same numbers, bit for bit (and BLAS is slow on NaN).
    present = ~np.isnan(gram).all(axis=(-2, -1))
    some = gram[present]  # (M, R, R)
    gw = some @ weights.T  # (M, R, B+1)
    raw2 = np.einsum("...sb,bs->...b", gw, weights)
    # Σ_s w_s G_ss: the product of the strided diagonals in the caller's shape, as before (a
    # compacted product can round its last column differently); NaN matrices zeroed (slow).
    filled = np.where(present[..., None, None], gram, 0.0)
    diag = (np.diagonal(filled, axis1=-2, axis2=-1) @ weights.T)[present]
    var1 = (diag - raw2) * (seeds / (seeds - 1.0)) if seeds > 1 else np.full_like(raw2, np.nan)
    nf2 = var1 / seeds
    recentre = np.zeros_like(nf2)
    recentre[..., 1:] = nf2[..., :1]  # replicate 0's noise floor², see the module docstring
    bias2 = np.maximum(raw2 - nf2 - recentre, 0.0)
    bias2 = np.where(np.isnan(raw2), np.nan, bias2)

    def spread(x: np.ndarray) -> np.ndarray:
        """(M, B+1) → (..., S, layers, B+1), NaN where no matrix."""
        full = np.full((*gram.shape[:-2], weights.shape[0]), np.nan)
        full[present] = x
        return full

    def worst(x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.sqrt(np.maximum(np.nanmax(x, axis=(-3, -2)), 0.0))

    return {
        "bias": worst(spread(bias2)),
        "bias_raw": worst(spread(raw2)),
        "noise_floor": worst(spread(nf2)),
        "fluct": worst(spread(var1)),
    }


def error_statistic(errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """( Σ_s w_s max_input e[s, input]² )^(1/2) for ``errors`` (..., R, S) and weights (B+1, R).

    Returns shape (..., B+1).
    """
    worst = np.max(np.asarray(errors, dtype=np.float64), axis=-1) ** 2
    return np.sqrt(worst @ np.asarray(weights, dtype=np.float64).T)


def valid_cells(ds: xr.Dataset, dims: Sequence[str] = CELL_DIMS) -> xr.DataArray:
    """Boolean mask over ``dims``: the cells that were run. The consolidated ``heads`` store says
    so in its variable ``present``; a dataset without it, where ``e2`` is not all-NaN.

    Where ``present`` is given, it must agree with ``e2``: a cell marked present whose ``e2`` is
    all NaN (or values at a cell not marked present) is an error, never a cell left out.
    """
    other = [dim for dim in ds["e2"].dims if dim not in dims]
    filled = ds["e2"].notnull().any(other).transpose(*dims).load()
    if "present" not in ds:
        return filled
    present = ds["present"].transpose(*dims).load().astype(bool)
    disagree = {
        "marked present have no values (e2 all NaN)": present & ~filled,
        "not marked present have values": filled & ~present,
    }
    for what, wrong in disagree.items():
        if bool(wrong.any()):
            where = np.argwhere(wrong.values)
            shown = ", ".join(
                str({dim: ds[dim].values[i].item() for dim, i in zip(dims, at, strict=True)})
                for at in where[:3]
            )
            raise ValueError(
                f"{len(where)} cells {what}, e.g. {shown}: the consolidated dataset is damaged "
                "(rebuild it: `python -m attnlimits verify`)"
            )
    return present


def cell_statistics(ds: xr.Dataset, weights: np.ndarray, block: int = 32) -> xr.Dataset:
    """Statistics of the module docstring for every cell of ``ds`` and every replicate.

    ``ds`` is the consolidated ``heads`` dataset (possibly dask-backed); only the cells that were
    run (:func:`valid_cells`) are loaded, ``block`` cells at a time. Returns a dataset over the
    cell dimensions and ``replicate`` (0..B), all-NaN outside the grids, with ``limit_error``,
    ``present`` (the cells that were run, where ``ds`` says so: :func:`valid_cells`) and the
    weights carried along (``weights(replicate, seed)``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape[1] != ds.sizes["seed"]:
        raise ValueError(f"weights for {weights.shape[1]} seeds, dataset has {ds.sizes['seed']}")
    dims = [dim for dim in CELL_DIMS if dim in ds.dims]
    mask = valid_cells(ds, dims)
    where = np.nonzero(mask.values)
    replicates = weights.shape[0]
    shape = tuple(ds.sizes[dim] for dim in dims)
    out = {name: np.full((*shape, replicates), np.nan) for name in STATISTICS}
    for start in range(0, len(where[0]), block):
        index = tuple(w[start : start + block] for w in where)
        indexers = {dim: xr.DataArray(i, dims="cell") for dim, i in zip(dims, index, strict=True)}
        cells = ds[["e2", "e_inf", "gram"]].isel(indexers).load()
        values = {
            "err": error_statistic(cells["e2"].transpose("cell", "seed", "input").values, weights),
            "err_inf": error_statistic(
                cells["e_inf"].transpose("cell", "seed", "input").values, weights
            ),
            **gram_statistics(
                cells["gram"].transpose("cell", "input", "layer", "seed", "seed_").values, weights
            ),
        }
        for name, value in values.items():
            out[name][index] = value
    coords = {dim: ds[dim].values for dim in dims}
    coords["replicate"] = np.arange(replicates)
    stats = xr.Dataset(
        {
            name: xr.DataArray(
                value,
                dims=(*dims, "replicate"),
                attrs={"long_name": STATISTICS[name], "units": "1"},
            )
            for name, value in out.items()
        },
        coords=coords,
        attrs=dict(ds.attrs),
    )
    stats["weights"] = xr.DataArray(
        weights, dims=("replicate", "seed"), coords={"seed": ds["seed"].values}
    )
    if "limit_error" in ds:
        stats["limit_error"] = ds["limit_error"].load()
    if "present" in ds:
        stats["present"] = mask.assign_attrs(ds["present"].attrs)
    stats.attrs["replicates"] = replicates - 1
    return stats
