"""The datasets experiment ``lowtemp`` publishes (:func:`attnlimits.open_results`,
:func:`attnlimits.open_statistics`).

``open_results(results)`` is an ``xarray.DataTree`` with two groups, each its stores opened
lazily (Dask-backed) and concatenated along a new dimension ``run`` indexed by a MultiIndex over
the store's key, read from its path: ``ds.sel(head="identity", variant="plain")`` picks one run.
Along ``run`` too: ``store`` (its path under the results folder), ``created``, and the store's
other scalar attributes. Dimensions with an index are joined outer (NaN where a run has no
value), those without are padded with NaN to the largest run (``particle`` in ``terminal``).
Particles are in the measured variable: z = e^{−tV} x for the variant ``plain``, x for
``consensus``.

- ``runs`` (``<results>/lowtemp/runs/<batch>/<head>/<variant>_<hash>.zarr``,
  ``lowtemp.runs.run``), ``run``
  over (``head``, ``variant``): ``w2_hardmax`` (run, beta, time), W2(μ^β_t, μ^∞_t), exact (NaN
  where N > ``exact_max``); ``coupling_hardmax`` (run, beta, time), its identity-coupling bound;
  ``w2_target`` (run, beta, time), W2(μ^β_t, T#μ₀); ``particles`` (run, beta, time, particle,
  component), the β flows; ``hardmax_w2_target`` (run, time), W2(μ^∞_t, T#μ₀);
  ``hardmax_particles`` (run, time, particle, component); ``target`` (run, particle, component),
  T#μ₀; ``weights`` (run, particle); ``head_q``, ``head_k``, ``head_v`` (run, row, column).
  Coordinates ``beta``, ``time``; per run ``particle_count``, ``exact_w2`` (1 where W2 is exact),
  ``outside_regime`` (the βs outside the mean-field regime, "" if none).
- ``terminal`` (``<results>/lowtemp/terminal/<batch>/<head>/<variant>_size<size>_<hash>.zarr``,
  ``lowtemp.runs.run_terminal``; ``<batch>`` the folder of the job that computed it,
  :mod:`attnlimits.batches`), ``run`` over (``head``, ``variant``, ``size``): the hardmax
  variables ``hardmax_w2_target``, ``hardmax_particles``, ``target``, ``weights``, ``head_q``,
  ``head_k``, ``head_v`` as above (``particle`` padded with NaN beyond a run's
  ``particle_count``). Coordinate ``time``; per run ``particle_count``.

Which stores: with ``config`` (the full configuration), exactly those of its ``lowtemp`` block (a
missing one is an error); without, every store matching the path patterns, and where several
hashes share a key (stores of older settings) the one created last, with a warning naming the
others.

``open_statistics(results)`` is an ``xarray.DataTree`` of the fit's tables
(``<results>/lowtemp/tables/<name>.csv``, ``attnlimits.lowtemp.claims``), each a Dataset with
one dimension per key column (a full product; NaN where a combination has no row). The tables
are small: they are read eagerly (not lazily).

- ``slopes`` (variant, head, time, regressor): the line fit of log W2(μ^β_t, μ^∞_t) against
  ``regressor`` ``log_beta`` (predicted −1/2) or ``log_shape`` (predicted 1) at each record time
  t > 0: ``slope``, ``intercept``, ``ci_low``, ``ci_high``, ``predicted``, ``status``,
  ``n_points``, ``quantity`` (``w2_hardmax``, or ``coupling_hardmax`` where W2 is not exact);
- ``best_times`` (variant, head, beta): ``t_star``, ``t_grid``, ``w2_min``, ``at_horizon``;
- ``phase`` (variant, head, beta; β = inf the hardmax flow): the long-time rate of the mass off
  V's top eigendirection, ``rate``, ``ci_low``, ``ci_high``, ``predicted``, ``lambda_1``,
  ``lambda_2``, ``moment_start``, ``moment_end``, ``n_points``;
- ``terminal`` (variant, head, size): ``N``, ``w2_start``, ``w2_end``, ``horizon``, ``rate``,
  ``ci_low``, ``ci_high``, ``n_points``;
- ``w2`` (variant, head, beta, time; β = inf the hardmax flow): ``w2_hardmax``,
  ``coupling_hardmax``, ``w2_target``;
- ``phase_curves`` (variant, head, beta, time): ``moment``;
- ``terminal_curves`` (variant, head, N, time): ``w2_target``;
- ``n_slopes`` (variant, head, time, family, N, beta_low): the N sweep's ``local_slope`` between
  ``beta_low`` and ``beta_high``, ``quantity``;
- ``n_fits`` (variant, head, time, family, N): the β-slope over every β per family and N,
  ``slope``, ``ci_low``, ``ci_high``, ``n_points``, ``quantity``;
- ``regime`` (variant, head, time, beta_low): ``N_star`` (NaN: not converged up to ``N_max``),
  ``spread_N_max``, ``slope_N_max``, ``converged_at_main``, ``N_power_rule``,
  ``power_rule_admits``, ...;
- ``metastability`` (variant, head, size, fraction, beta): the window of the long-horizon runs,
  ``t_in``, ``t_out``, ``length``, ``entered``, ``closed``, ``threshold``, ``w2_min``,
  ``w2_end``, ``N``, ``n_change`` (relative change of the ends from the next smaller N),
  ``n_converged``;
- ``metastable_fits`` (variant, head, size, fraction, quantity): the window's length, t_out and
  log t_out against log beta over the closed windows converged in N, ``slope``, ``ci_low``,
  ``ci_high``, ``n_points``, ``betas``.

With ``lowtemp.convergence``, ``open_results`` has a third group ``sweep``
(``<results>/lowtemp/sweep/<batch>/<head>/<variant>_<family>_size<size>_<hash>.zarr``,
``lowtemp.convergence.run_sweep``), ``run`` over (``head``, ``variant``, ``family``, ``size``):
``w2_hardmax`` and ``coupling_hardmax`` (run, beta, time) at the times of ``fits.times``,
``hardmax_spread`` (run, time), the spread of the hardmax flow; per run ``particle_count``,
``exact_w2``, ``family``.

With ``lowtemp.fits.metastable_heads``, a group ``window``
(``<results>/lowtemp/window/<batch>/<head>/<variant>_size<size>_<hash>.zarr``,
``lowtemp.window_runs.run_window``), ``run`` over (``head``, ``variant``, ``size``):
``w2_target`` (run, beta, time) to the long horizon ``lowtemp.metastable.horizon``, ``w2_start``
(run); per run ``particle_count``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import xarray as xr

from attnlimits.batches import BATCH_CONSTRAINT
from attnlimits.combine import concat_runs, find_stores, read_table
from attnlimits.grids import make_key
from attnlimits.lowtemp import convergence_grid as cg
from attnlimits.lowtemp import grid as g
from attnlimits.lowtemp import window_grid as wg

EXPERIMENT = "lowtemp"
#: The groups of ``open_results``: the keyed job whose stores they hold, and its key.
GROUPS = {
    "runs": ("run", g.RunKey),
    "terminal": ("terminal", g.TerminalKey),
    "sweep": ("sweep", cg.SweepKey),
    "window": ("window", wg.WindowKey),
}
#: Groups that only a configuration with them has (``lowtemp.convergence.heads``,
#: ``lowtemp.fits.metastable_heads``).
OPTIONAL_GROUPS = ("sweep", "window")
#: The tables of ``open_statistics`` and their key columns.
TABLES = {
    "slopes": ("variant", "head", "time", "regressor"),
    "best_times": ("variant", "head", "beta"),
    "phase": ("variant", "head", "beta"),
    "terminal": ("variant", "head", "size"),
    "w2": ("variant", "head", "beta", "time"),
    "phase_curves": ("variant", "head", "beta", "time"),
    "terminal_curves": ("variant", "head", "N", "time"),
    "n_slopes": ("variant", "head", "time", "family", "N", "beta_low"),
    "n_fits": ("variant", "head", "time", "family", "N"),
    "regime": ("variant", "head", "time", "beta_low"),
    "metastability": ("variant", "head", "size", "fraction", "beta"),
    "metastable_fits": ("variant", "head", "size", "fraction", "quantity"),
}


def open_results(results: Path, config: Mapping[str, Any] | None = None) -> xr.DataTree:
    """The runs and the terminal runs, one group each (module docstring)."""
    from attnlimits.lowtemp.experiment import EXPERIMENT as DECLARED

    constraints = {**cg.WILDCARD_CONSTRAINTS, "batch": BATCH_CONSTRAINT}
    groups = {}
    for name, (job, key) in GROUPS.items():
        expected = None if config is None else DECLARED.store_paths(config, job)
        pattern = DECLARED.store_pattern(job)
        if name in OPTIONAL_GROUPS and not (expected or (results / EXPERIMENT / name).is_dir()):
            continue  # no N sweep configured (or run)
        found = find_stores(results, pattern, constraints, EXPERIMENT, expected)
        runs = [(asdict(make_key(key, item.wildcards)), item.path) for item in found]
        groups[name] = concat_runs(runs, EXPERIMENT, results)
    return xr.DataTree.from_dict(groups, name=EXPERIMENT)


def open_statistics(results: Path, config: Mapping[str, Any] | None = None) -> xr.DataTree:
    """The fit's tables, one group each (module docstring)."""
    folder = results / EXPERIMENT / "tables"
    return xr.DataTree.from_dict(
        {
            name: read_table(folder / f"{name}.csv", keys, EXPERIMENT, None)
            for name, keys in TABLES.items()
        },
        name=EXPERIMENT,
    )
