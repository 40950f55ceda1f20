"""Reuse downstream: the datasets of a pipeline run, by experiment.

Every registered experiment (:mod:`attnlimits.registry`) publishes two datasets, each opened
lazily (Dask-backed) by the opener its declaration names (``"module:function"``, called with the
results folder and, if it takes a second argument, the validated configuration or None):

- ``open_results(name)``: its results (the consolidated store, or its single-job stores combined);
- ``open_statistics(name)``: the statistics of its fit.

What each holds, variable by variable, is the docstring of ``attnlimits.<name>.datasets``
(``help(attnlimits.heads.datasets)``). :func:`experiments` lists the experiments.

The results folder is the argument ``results``, else the entry ``results`` of ``config``, else
``results`` (relative to the working directory). ``config`` is a configuration (a dict, validated
here) or the path of a YAML configuration file (``config/config.yaml``): it also names the
plugin experiments, and an experiment whose results are many single-job stores then reads exactly
the stores of that configuration (without it, every store under the results folder, the newest
one per key).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnlimits.registry import STORES, Experiment, registered, resolve

if TYPE_CHECKING:
    import xarray as xr

Config = Mapping[str, Any] | str | os.PathLike


def _config(config: Config | None) -> dict[str, Any] | None:
    """``config`` validated, with its defaults filled in (None stays None)."""
    if config is None:
        return None
    from attnlimits.config import load_config, validate_config

    if isinstance(config, Mapping):
        return validate_config(config)
    return load_config(config)


def _registered(config: Mapping[str, Any] | None) -> dict[str, Experiment]:
    return registered(config.get("plugins", ()) if config is not None else ())


def experiments(config: Config | None = None) -> dict[str, str]:
    """Every registered experiment, name → title (with ``config``, its plugins too)."""
    return {name: e.title for name, e in _registered(_config(config)).items()}


def _open(
    kind: str, name: str, results: str | os.PathLike | None, config: Config | None
) -> xr.Dataset | xr.DataTree:
    """The dataset ``kind`` (results or statistics) of experiment ``name``."""
    assert kind in STORES
    cfg = _config(config)
    known = _registered(cfg)
    if name not in known:
        raise ValueError(f"unknown experiment {name!r}; registered experiments: {', '.join(known)}")
    dataset = known[name].datasets.get(kind)
    if dataset is None:
        raise ValueError(f"experiment {name!r} publishes no {kind} dataset")
    if results is None:
        results = cfg["results"] if cfg is not None else "results"
    known_config = cfg if cfg is not None and isinstance(cfg.get(name), Mapping) else None
    return _call(resolve(dataset.opener), Path(results), known_config)


def _call(opener: Callable[..., Any], results: Path, config: Mapping[str, Any] | None) -> Any:
    """``opener(results, config)``, or ``opener(results)`` for an opener that takes the results
    folder alone (the configuration is optional to an opener)."""
    try:
        inspect.signature(opener).bind(results, config)
    except TypeError:
        return opener(results)
    return opener(results, config)


def open_results(
    name: str, results: str | os.PathLike | None = None, config: Config | None = None
) -> xr.Dataset | xr.DataTree:
    """The results of experiment ``name``, lazily (Dask-backed): an ``xarray.Dataset`` for
    ``heads`` (the consolidated store) and ``adamw`` (its cells along ``run``), an
    ``xarray.DataTree`` for ``sde`` (a group per kind of run) and ``lowtemp`` (runs, terminal).

    Raises ``ValueError`` for an unknown experiment (naming the registered ones) and
    ``FileNotFoundError`` when a store is missing (naming it: run snakemake first).
    """
    return _open("results", name, results, config)


def open_statistics(
    name: str, results: str | os.PathLike | None = None, config: Config | None = None
) -> xr.Dataset | xr.DataTree:
    """The statistics of experiment ``name``'s fit: an ``xarray.Dataset`` for ``heads`` and
    ``adamw`` (per cell, with bootstrap replicates; lazily) and ``sde`` (the points table), an
    ``xarray.DataTree`` of its tables for ``lowtemp``. Errors as :func:`open_results`."""
    return _open("statistics", name, results, config)
