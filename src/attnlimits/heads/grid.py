"""The cells of experiment ``heads``, their parameters and their paths.

A *cell* is one point (mask, normalisation, N, d, β, L, H) of the union of the configured grids;
a *limit* is one (mask, normalisation, N, d, β), shared by every (L, H) cell. Paths read as the
grid parameters plus a short hash of every other setting the result depends on, so that results
of different settings live side by side and are reused when a setting comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from attnlimits.grids import (
    HASH,
    INTEGER,
    NUMBER,
    WORD,
    find_key,
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
    return {"experiment": "heads", **asdict(key), **limit_settings(heads)}


def cell_spec(heads: Mapping[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything a cell job needs, as plain data (recorded in the store's provenance)."""
    return {"experiment": "heads", **asdict(cell), **cell_settings(heads)}


def find(keys: list, wildcards: Mapping[str, str]):
    """The key among ``keys`` whose path wildcards are ``wildcards`` (hash aside)."""
    return find_key(keys, wildcards, "heads")
