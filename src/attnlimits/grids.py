"""Grids of cells shared by the experiments: unions of full products, path wildcards, look-up.

A grid key (a cell, a limit, ...) is a flat frozen dataclass whose fields are ``int``, ``float``
or ``str``; its fields are the grid axes and, in the same order, the wildcards of its path.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from attnlimits.naming import format_number
from attnlimits.provenance import canonical_json, params_hash

K = TypeVar("K")

#: Snakemake wildcard constraints of the usual kinds of path parts.
INTEGER = r"\d+"
NUMBER = r"[0-9.e+-]+"
WORD = "[a-z]+"
HASH = "[0-9a-f]+"

_CASTS = {"int": int, "float": float, "str": str}


def make_key(cls: type[K], values: Mapping[str, Any]) -> K:
    """The key ``cls`` from ``values``, each cast to its field's type (16 → 16.0 for a float)."""
    casts = _FIELD_CASTS.get(cls)
    if casts is None:
        casts = _FIELD_CASTS[cls] = tuple((f.name, _CASTS[str(f.type)]) for f in fields(cls))
    return cls(**{name: cast(values[name]) for name, cast in casts})


_FIELD_CASTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def key_fields(key: Any) -> dict[str, Any]:
    """The fields of a flat key as a dict (``dataclasses.asdict`` without its deep copies:
    at 10⁵ cells those are seconds of a dry run)."""
    return {name: getattr(key, name) for name in _names(type(key))}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def sort_keys(keys: Iterable[K]) -> list[K]:
    """The distinct ``keys``, sorted by their field values in field order."""
    distinct = set(keys)
    if not distinct:
        return []
    values = operator.attrgetter(*_names(type(next(iter(distinct)))))
    return sorted(distinct, key=values)  # one field: its value, which sorts as its 1-tuple


def union_of_products(cls: type[K], grids: Iterable[Mapping[str, Sequence[Any]]]) -> list[K]:
    """Every point of the union over ``grids`` of the full product of their axes, once, sorted.

    Each grid maps every field name of ``cls`` to its list of values (other entries are ignored).
    The result is remembered per (``cls``, grids): the workflow asks for the keys of one grid
    from several places while it builds a DAG (10⁵ cells: seconds each time).
    """
    grids = list(grids)
    memo = (cls, canonical_json(grids))
    if memo not in _PRODUCTS:
        if len(_PRODUCTS) >= 16:  # the few grids of a run, not every grid a test builds
            del _PRODUCTS[next(iter(_PRODUCTS))]
        _PRODUCTS[memo] = _union_of_products(cls, grids)
    return list(_PRODUCTS[memo])


_PRODUCTS: dict[tuple[type, str], list[Any]] = {}


def _union_of_products(cls: type[K], grids: list[Mapping[str, Sequence[Any]]]) -> list[K]:
    names = [f.name for f in fields(cls)]
    found = (
        make_key(cls, dict(zip(names, combo, strict=True)))
        for grid in grids
        for combo in itertools.product(*(grid[name] for name in names))
    )
    return sort_keys(found)


def key_wildcards(key: Any) -> dict[str, str]:
    """The path wildcards of ``key``: every field as text, numbers via ``format_number``."""
    out = {}
    for f in fields(key):
        value = getattr(key, f.name)
        out[f.name] = format_number(value) if isinstance(value, float) else str(value)
    return out


def unnamed_hash(spec: Mapping[str, Any], key: Any) -> str:
    """Hash of ``spec`` without the entries named by the fields of ``key`` (already in the path)."""
    named = {f.name for f in fields(key)}
    return params_hash({k: v for k, v in spec.items() if k not in named})


def keyed_path(pattern: str, spec: Mapping[str, Any], key: Any) -> str:
    """``pattern`` filled with the wildcards of ``key`` and the :func:`unnamed_hash` of its
    ``spec``: the path of a keyed job's store."""
    return pattern.format(**key_wildcards(key), hash=unnamed_hash(spec, key))


#: Look-up tables of ``find_key``, per list of keys: ``id(keys) -> (keys, length, names,
#: table)``. The list itself is held so that its id is not reused while the table lives; its
#: length when the table was built tells a list that has grown since.
_INDEXES: dict[int, tuple[Sequence[Any], int, tuple[str, ...], dict[tuple[str, ...], Any]]] = {}


def _index(keys: Sequence[K]) -> tuple[tuple[str, ...], dict[tuple[str, ...], K]]:
    """The wildcard names of ``keys`` and the table from their wildcard texts to the key."""
    cached = _INDEXES.get(id(keys))
    if cached is not None and cached[0] is keys and cached[1] == len(keys):
        return cached[2], cached[3]
    names = tuple(f.name for f in fields(keys[0])) if keys else ()
    table: dict[tuple[str, ...], K] = {}
    for key in keys:
        own = key_wildcards(key)
        if tuple(own) != names:
            raise TypeError(f"find_key needs keys of one kind; got {type(key).__name__}")
        table[tuple(own.values())] = key
    _INDEXES[id(keys)] = (keys, len(keys), names, table)
    return names, table


def find_key(keys: Sequence[K], wildcards: Any, experiment: str) -> K:
    """The key among ``keys`` whose path wildcards are ``wildcards`` (other wildcards aside).

    ``wildcards`` is a mapping or Snakemake's wildcards object (anything with ``items()``).
    A table of ``keys`` by their wildcards is built on the first call, so that each of the
    DAG's look-ups costs O(1) rather than O(len(keys)): a grid of 100 000 cells would
    otherwise cost 10^10 comparisons to build.
    """
    given = {str(k): str(v) for k, v in wildcards.items()}
    names, table = _index(keys)
    found = table.get(tuple(given.get(name) for name in names))
    if found is None:
        raise KeyError(f"no configured {experiment} cell or limit matches {given}")
    return found
