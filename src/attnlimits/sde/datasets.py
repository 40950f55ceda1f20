"""The datasets experiment ``sde`` publishes (:func:`attnlimits.open_results`,
:func:`attnlimits.open_statistics`).

``open_results(results)`` is an ``xarray.DataTree`` with one group per kind of run, ``depth``,
``width``, ``chaos``, ``sync``, ``joint_width``, ``joint_tokens`` and ``odd``: the kind's stores
(``<results>/sde/<kind>/…_<hash>.zarr``; ``sync`` inside the folder of the batch that computed it,
``sde/sync/<batch>/…``, :mod:`attnlimits.batches`; written by ``attnlimits.sde.runs``) opened
lazily (Dask-backed) and concatenated along a new dimension ``run``, indexed by a MultiIndex over
``activation``, ``d``, ``sigma`` (σ = σ_U = σ_W) and ``attention_sign`` (+1 attractive, 0 pure
noise, −1 repulsive), read from each store's attributes. ``ds.sel(activation="relu", d=5,
sigma=0.1, attention_sign=0)`` picks one run. Along ``run`` too: ``store`` (its path under the
results folder), ``created``, and the store's other scalar attributes (``beta``, ``T``, ``N``, the
exponents ``kappa_1``, ``lambda_1``, ``lambda_bar``, …). Dimensions with an index are joined outer
(NaN where a run has no value), those without are padded with NaN to the largest run; a variable
missing from a run is NaN there.

- ``depth``: ``err2`` (run, L, seed), sup over layer times of (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² against
  the reference with ``fine`` layers; ``level_diff2`` (run, level, seed), the successive
  differences of the reference's ladder; ``reference_error``, ``reference_error_orthogonal``
  (run), its RMS error estimates; ``x0`` (run, seed, token, component), the initial tokens;
  ``x_ref_sample`` (run, time, token, component), the reference's tokens of seed 0;
  ``factor_fallbacks`` (run), the noise factors that fell back from Cholesky to the symmetric
  root (0: every model used F = chol(Σ); NaN for stores written before the Cholesky factor).
  Coordinates ``L``, ``seed``, ``level``, ``time``; per run ``T``, ``N``, ``fine``, ``beta``,
  ``kappa_1``, ``lambda_1``, ``lambda_bar``, ``noise_factor`` (``cholesky``).
- ``width``: ``err2`` (run, m, seed), sup over layers of (1/N) Σᵢ |X_mⁱ − X_∞ⁱ|² (same normals);
  ``cov_rel_err`` (run, m, seed), ‖C_m(X₀) − K(X₀)‖_F / ‖K(X₀)‖_F. Coordinates ``m``, ``seed``;
  per run ``beta``, ``T``, ``N``, ``L``, ``kappa_1``, ``lambda_1``, ``lambda_bar``.
- ``chaos``: ``sup_w2``, ``w2_final``, ``sup_w2_half`` (run, N, replica), sup over t of W2² to the
  N_ref reference, W2² at t = T, sup W2² to the halved reference; ``floor`` (run, replica);
  ``kappa_truncation`` (run, u). Coordinates ``N``, ``replica``, ``u``; per run ``beta``, ``T``,
  ``N_ref``, ``P``, ``L``, ``kappa_1``, ``rate_ambient_exponent``, ``rate_intrinsic_exponent``,
  ``rate_note``.
- ``sync``: ``energy`` (run, path, record), the interaction energy e^{−β} E_β(μ_t) per path at
  the record times ``time`` (run, record) — the stores' ``time`` dimension, renamed ``record``
  because each run has its own step (NaN past a run's last record); ``tokens_sample`` (run,
  snapshot, token, component); ``cosines`` (run, snapshot, pair); ``snapshot_time`` (run,
  snapshot); for attention sign 0 the two-point run ``lyap_per_path``, ``moment_ratio_sq`` (run,
  path2), NaN for the other signs. Per run ``beta``, ``N``, ``dt``, ``horizon``, ``kappa_1``,
  ``kappa_prime_1``, ``lambda_1``, ``lambda_bar``, ``rate_bound``, ``odd_field``,
  ``synchronization``, ``two_point_dt``.

- ``joint_width``: ``err2_layers``, ``err2_path`` (run, L, m, seed), the sup over layer times and
  over the interpolated path of (1/N) Σᵢ |X_ℓⁱ − X̄ⁱ|² of the L-layer, width-m model against one
  infinite-width reference with ``fine`` layers (m = inf: the infinite-width model);
  ``reference_error``, ``reference_error_orthogonal`` (run). ``joint_tokens``: the same over
  (run, L, N, seed) at infinite width, and ``reference_error_by_N`` (run, N). Per run ``T``,
  ``fine``, ``beta``, the exponents (``runs.joint``).
- ``odd``: ``tokens`` (run, record, path, token, component) and ``energy`` (run, path, record) at
  the record times ``time`` (run, record), renamed as for ``sync``; per run ``N``, ``dt``,
  ``horizon``, the exponents, ``odd_field``, ``synchronization`` (``runs.odd``).

Which stores: with ``config`` (the full configuration), exactly those of its ``sde`` block (a
missing one is an error); without, every store under ``<results>/sde/<kind>/`` that matches the
kind's path pattern, and where several hashes share a path's own parameters (stores of older
settings) the one created last, with a warning naming the others.

``open_statistics(results)`` is the fit's per-point statistics, the table
``<results>/sde/tables/points.csv`` (``attnlimits.sde.claims``) as an ``xarray.Dataset`` with one
dimension ``point`` indexed by a MultiIndex over ``activation``, ``d``, ``sigma``,
``attention_sign``, ``quantity`` (``rms_error``, ``level_diff``, ``cov_rel_err``, ``sup_w2``,
``w2_final``, ``floor``, ``reference_error``, ``energy``, ``energy_rate``, ``lyapunov``,
``moment_rate`` and the local slopes ``<quantity>_local_slope``), ``swept`` (``L``, ``m``, ``N``,
``level``, ``time``, ``predicted``)
and ``x``; variables ``y`` (replicate 0), ``y_low``, ``y_high`` (bootstrap interval) and
``excluded`` (left out of the fit). The table is small: it is read eagerly (not lazily).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from attnlimits.batches import BATCH_CONSTRAINT
from attnlimits.combine import concat_runs, find_stores, read_table, store_attrs
from attnlimits.grids import HASH, INTEGER
from attnlimits.sde import grid as g

EXPERIMENT = "sde"
KINDS = ("depth", "width", "chaos", "sync", "joint_width", "joint_tokens", "odd")
#: The fields of ``run``: a store's row and attention sign (``claims.KEYS``).
KEYS = ("activation", "d", "sigma", "attention_sign")
POINT_KEYS = (*KEYS, "quantity", "swept", "x")
CONSTRAINTS = {**g.WILDCARD_CONSTRAINTS, "d": INTEGER, "hash": HASH, "batch": BATCH_CONSTRAINT}


def _key(path: Path) -> dict[str, Any]:
    attrs = store_attrs(path)
    return {
        "activation": str(attrs["activation"]),
        "d": int(attrs["d"]),
        "sigma": float(attrs["sigma"]),
        "attention_sign": int(round(float(attrs["attention_sign"]))),
    }


def _records(ds: xr.Dataset) -> xr.Dataset:
    """A sync store with its ``time`` dimension renamed ``record`` (``time`` a coordinate along
    it, without an index): each run has its own step, runs are aligned by record. ``time`` is
    made a variable, so that it is concatenated along ``run`` even where two runs share their
    times; it is a coordinate again after."""
    return ds.drop_indexes("time").rename_dims(time="record").reset_coords("time")


def open_results(results: Path, config: Mapping[str, Any] | None = None) -> xr.DataTree:
    """The runs of every kind, one group per kind (module docstring)."""
    from attnlimits.sde.experiment import EXPERIMENT as DECLARED

    groups = {}
    for kind in KINDS:
        found = find_stores(
            results,
            DECLARED.store_pattern(kind),
            CONSTRAINTS,
            EXPERIMENT,
            None if config is None else DECLARED.store_paths(config, kind),
        )
        runs = [(_key(item.path), item.path) for item in found]
        if kind in ("sync", "odd"):
            timed = concat_runs(runs, EXPERIMENT, results, _records)
            groups[kind] = timed.assign_coords(time=timed["time"].compute())
        else:
            groups[kind] = concat_runs(runs, EXPERIMENT, results)
    return xr.DataTree.from_dict(groups, name=EXPERIMENT)


def open_statistics(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The fit's points table, indexed by its key columns (module docstring)."""
    return read_table(
        results / EXPERIMENT / "tables" / "points.csv", POINT_KEYS, EXPERIMENT, "point"
    )
