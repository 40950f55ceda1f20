"""Many single-job stores read as one dataset, and tables read as datasets: the helpers of the
experiments' ``datasets`` modules (``attnlimits.<experiment>.datasets``, behind
:func:`attnlimits.open_results` and :func:`attnlimits.open_statistics`).

- :func:`find_stores`: the stores of one kind of keyed job, either exactly those of a
  configuration (its paths) or every store under the results folder that matches the job's path
  pattern, one per key (the newest ``created`` where several hashes share a key; a warning names
  the others).
- :func:`concat_runs`: those stores opened lazily and concatenated along a new dimension ``run``
  whose index is a ``pandas.MultiIndex`` over the key's fields (``ds.sel(head="identity")``
  selects on a field, ``ds.unstack("run")`` spreads the runs over a hypercube).
- :func:`read_table`: a CSV table of the fit as an ``xarray.Dataset`` indexed by its key columns.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from attnlimits.batches import pattern_regex
from attnlimits.storage import open_dataset

#: Attributes of :func:`attnlimits.provenance.provenance`: they describe how a store was made,
#: not what it holds, and are not turned into coordinates by :func:`concat_runs` (``created`` is
#: kept as one).
PROVENANCE_ATTRS = frozenset(
    {
        "attnlimits_version",
        "code_version",
        "params",
        "params_hash",
        "seeds",
        "created",
        "libraries",
        "git_commit",
        "git_dirty",
    }
)
RUN = "run"


def missing(what: str, experiment: str) -> FileNotFoundError:
    """The error for stores or tables that are not there (``what`` names them): how to make
    them."""
    return FileNotFoundError(
        f"{what}: run snakemake first (`snakemake --cores N`, with a configuration that lists "
        f"experiment {experiment!r})"
    )


def open_store(path: Path, experiment: str) -> xr.Dataset:
    """The store at ``path``, lazily (Dask-backed); a clear error when there is none."""
    if not path.exists():
        raise missing(f"{path} does not exist", experiment)
    return open_dataset(path)


@dataclass(frozen=True)
class Found:
    """A store of a keyed job: its path wildcards (the hash aside) and its path."""

    wildcards: Mapping[str, str]
    path: Path


def store_attrs(path: Path) -> dict[str, Any]:
    """The attributes of the store at ``path`` (its metadata only: no array is read)."""
    return dict(zarr.open_group(str(path), mode="r").attrs)


def _created(path: Path) -> str:
    """The ``created`` attribute of a store (ISO 8601 in UTC: the text sorts by time)."""
    return str(store_attrs(path).get("created", ""))


def find_stores(
    results: Path,
    pattern: str,
    constraints: Mapping[str, str],
    experiment: str,
    expected: Sequence[str] | None = None,
) -> list[Found]:
    """The stores of one kind of keyed job under ``results``, sorted by path.

    With ``expected`` (the results-relative paths of a configuration's keys) exactly those, each
    of which must exist. Without, every store matching ``pattern`` (its ``{wildcards}`` matched
    by ``constraints``): where several hashes share the other wildcards (stores of older
    settings), the one created last, with a warning naming the others; pass the configuration to
    read exactly its stores instead.
    """
    regex = pattern_regex(pattern, constraints)
    if expected is not None:
        absent = [p for p in expected if not (results / p).exists()]
        if absent:
            shown = ", ".join(str(results / p) for p in absent[:3])
            more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            raise missing(
                f"{len(absent)} of the {len(expected)} stores of the configuration do not exist "
                f"({shown}{more})",
                experiment,
            )
        paths = sorted(set(expected))
    else:
        glob = re.sub(r"\{\w+\}", "*", pattern)
        paths = sorted(p.relative_to(results).as_posix() for p in results.glob(glob))
        paths = [p for p in paths if regex.fullmatch(p)]
        if not paths:
            raise missing(f"no store matches {results / pattern}", experiment)
    found = []
    for path in paths:
        match = regex.fullmatch(path)
        if match is None:
            raise ValueError(f"{path} does not match the pattern {pattern}")
        own = {k: v for k, v in match.groupdict().items() if k != "hash"}
        found.append(Found(own, results / path))
    return found if expected is not None else _newest(found)


def _newest(found: Sequence[Found]) -> list[Found]:
    """One store per wildcards: the newest ``created``; a warning for the others."""
    groups: dict[tuple[tuple[str, str], ...], list[Found]] = {}
    for item in found:
        groups.setdefault(tuple(item.wildcards.items()), []).append(item)
    out, older = [], []
    for items in groups.values():
        ranked = sorted(items, key=lambda item: (_created(item.path), str(item.path)))
        out.append(ranked[-1])
        older += [str(item.path) for item in ranked[:-1]]
    if older:
        warnings.warn(
            f"{len(older)} older stores of the same keys (other settings) are left out: "
            f"{', '.join(older[:3])}{' …' if len(older) > 3 else ''}; pass config= to read "
            "exactly the stores of a configuration",
            UserWarning,
            stacklevel=2,
        )
    return sorted(out, key=lambda item: str(item.path))


def _scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating))


def _pad_unindexed(datasets: list[xr.Dataset]) -> list[xr.Dataset]:
    """Every dimension without an index padded (with NaN, lazily) to its largest size, so that
    stores of different sizes along it (particles, rows of d × d matrices) concatenate; the
    positions keep their meaning (position i of one store is position i of another)."""
    sizes: dict[str, set[int]] = {}
    for ds in datasets:
        for dim, size in ds.sizes.items():
            if dim not in ds.indexes:
                sizes.setdefault(str(dim), set()).add(size)
    ragged = {dim: max(found) for dim, found in sizes.items() if len(found) > 1}
    if not ragged:
        return datasets
    out = []
    for ds in datasets:
        widths = {d: (0, n - ds.sizes[d]) for d, n in ragged.items() if d in ds.dims}
        out.append(ds.pad(widths) if any(w[1] for w in widths.values()) else ds)
    return out


def concat_runs(
    stores: Iterable[tuple[Mapping[str, Any], Path]],
    experiment: str,
    results: Path,
    prepare: Callable[[xr.Dataset], xr.Dataset] | None = None,
) -> xr.Dataset:
    """The stores, opened lazily, concatenated along the new dimension ``run``.

    Each store comes with its key (field → value, the same fields for every store): ``run`` is
    indexed by a MultiIndex over the fields, runs sorted by key. Also along ``run``: ``store``
    (the results-relative path), ``created``, and every other attribute of the stores that is
    not provenance (:data:`PROVENANCE_ATTRS`) and is held by all of them (``kappa_1``, ``N``,
    ``exact_w2``, …). Dimensions with an index are joined (outer: NaN where a run has no value
    at a coordinate, e.g. layers beyond its own depth); dimensions without an index are padded
    with NaN to the largest store. A variable that only some stores have is NaN in the others.
    ``prepare`` is applied to every store first (to rename or drop what would not align).
    Variables keep their attributes (``long_name``, ``units``) where the stores agree on them;
    the result's only attribute is ``experiment``.
    """
    items = sorted(((dict(key), path) for key, path in stores), key=lambda kp: _order(kp[0]))
    if not items:
        raise ValueError("no stores to concatenate")
    fields = list(items[0][0])
    datasets = []
    for _, path in items:
        ds = open_store(path, experiment)
        datasets.append(prepare(ds) if prepare is not None else ds)
    lifted = [
        name
        for name in datasets[0].attrs
        if name not in PROVENANCE_ATTRS
        and name not in fields
        and name not in datasets[0].variables
        and name not in datasets[0].dims
        and all(name in ds.attrs and _scalar(ds.attrs[name]) for ds in datasets)
    ]
    out = xr.concat(
        _pad_unindexed(datasets),
        dim=RUN,
        data_vars="all",
        coords="different",
        compat="equals",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    coords: dict[str, Any] = {
        name: (RUN, np.asarray([key[name] for key, _ in items])) for name in fields
    }
    coords["store"] = (RUN, np.asarray([path.relative_to(results).as_posix() for _, path in items]))
    coords["created"] = (RUN, np.asarray([str(ds.attrs.get("created", "")) for ds in datasets]))
    for name in lifted:
        coords[name] = (RUN, np.asarray([ds.attrs[name] for ds in datasets]))
    # a store's scalars are read when it is opened: chunk them too, so every variable is lazy
    out = out.assign({k: v.variable.chunk() for k, v in out.data_vars.items() if v.chunks is None})
    out = out.assign_coords(coords).set_index({RUN: fields})
    out.attrs = {"experiment": experiment}
    return out


def _order(key: Mapping[str, Any]) -> tuple:
    return tuple((isinstance(v, str), v) for v in key.values())


def read_table(path: Path, keys: Sequence[str], experiment: str, dim: str | None) -> xr.Dataset:
    """The CSV table at ``path`` as a Dataset of its other columns, indexed by the columns
    ``keys``: one dimension per key column (a full product, NaN where a combination has no
    row) when ``dim`` is None, else the one dimension ``dim`` with a MultiIndex over them (for
    tables whose keys are far from a product). Read eagerly: a table is small."""
    if not path.exists():
        raise missing(f"{path} does not exist", experiment)
    frame = pd.read_csv(path).set_index(list(keys))
    if not frame.index.is_unique:
        raise ValueError(f"{path}: the columns {list(keys)} do not identify its rows")
    if dim is None:
        return xr.Dataset.from_dataframe(frame)
    return xr.Dataset.from_dataframe(frame.reset_index().rename_axis(dim)).set_index({dim: keys})
