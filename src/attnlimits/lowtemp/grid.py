"""The jobs of experiment ``lowtemp``, their specs and their paths.

A *run* is one (head, variant) of ``lowtemp.heads`` × ``lowtemp.variants``: the hardmax flow and
the finite-β flows of the measure ``lowtemp.measure`` (``runs.run``). A *terminal* job is one
(head, variant, size) of ``lowtemp.terminal``: the hardmax flow alone, for a measure of that size
(``runs.run_terminal``). Paths read as the key's own parameters plus a short hash of every other
setting the result depends on; a head's name is a label, its settings (kind, scale, seed, v) are in
the hash, so that renaming a head re-runs nothing that matters and changing it re-runs its jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.grids import HASH, INTEGER, WORD, find_key, key_wildcards
from attnlimits.provenance import params_hash

RUN_PATTERN = "lowtemp/runs/{head}/{variant}_{hash}.zarr"
TERMINAL_PATTERN = "lowtemp/terminal/{head}/{variant}_size{size}_{hash}.zarr"
WILDCARD_CONSTRAINTS = {"head": "[a-z][a-z0-9_]*", "variant": WORD, "size": INTEGER, "hash": HASH}


@dataclass(frozen=True)
class RunKey:
    head: str
    variant: str


@dataclass(frozen=True)
class TerminalKey:
    head: str
    variant: str
    size: int


def run_keys(lowtemp: Mapping[str, Any]) -> list[RunKey]:
    """Every (head, variant) run, heads in config order."""
    return [RunKey(h, v) for h in lowtemp["heads"] for v in lowtemp["variants"]]


def terminal_keys(lowtemp: Mapping[str, Any]) -> list[TerminalKey]:
    """Every (head, variant, size) of ``lowtemp.terminal``, in config order."""
    term = lowtemp["terminal"]
    return [
        TerminalKey(h, v, int(s))
        for h in term["heads"]
        for v in term["variants"]
        for s in term["sizes"]
    ]


def _head(lowtemp: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings of head ``name``, numbers cast so that equal settings hash equally."""
    head = dict(lowtemp["heads"][name])
    if "scale" in head:
        head["scale"] = float(head["scale"])
    if "v" in head:
        head["v"] = [float(x) for x in head["v"]]
    return head


def _measure(lowtemp: Mapping[str, Any], size: int) -> dict[str, Any]:
    m = lowtemp["measure"]
    return {"kind": str(m["kind"]), "size": int(size), "d": int(m["d"])}


def run_spec(lowtemp: Mapping[str, Any], key: RunKey) -> dict[str, Any]:
    """Everything a run needs, as plain data (``runs`` module docstring)."""
    return {
        "variant": key.variant,
        "measure": _measure(lowtemp, lowtemp["measure"]["size"]),
        "head": _head(lowtemp, key.head),
        "betas": [float(b) for b in lowtemp["betas"]],
        "horizon": float(lowtemp["horizon"]),
        "records": int(lowtemp["records"]),
        "substeps": int(lowtemp["substeps"]),
        "exact_max": int(lowtemp["exact_max"]),
        "regime": {
            "factor": float(lowtemp["regime"]["factor"]),
            "allow_outside": bool(lowtemp["regime"]["allow_outside"]),
        },
    }


def terminal_spec(lowtemp: Mapping[str, Any], key: TerminalKey) -> dict[str, Any]:
    """Everything a terminal job needs: the hardmax flow of a measure of size ``key.size``."""
    term = lowtemp["terminal"]
    return {
        "variant": key.variant,
        "measure": _measure(lowtemp, key.size),
        "head": _head(lowtemp, key.head),
        "horizon": float(term["horizon"]),
        "records": int(term["records"]),
        "substeps": int(term["substeps"]),
    }


def _path(pattern: str, spec: Mapping[str, Any], key: Any) -> str:
    """The key's wildcards and the hash of the spec without the variant (the head's settings
    stay in the hash: the path holds only its name)."""
    hashed = params_hash({k: v for k, v in spec.items() if k != "variant"})
    return pattern.format(**key_wildcards(key), hash=hashed)


def run_path(lowtemp: Mapping[str, Any], key: RunKey) -> str:
    """``lowtemp/runs/{head}/{variant}_{hash}.zarr`` (relative path)."""
    return _path(RUN_PATTERN, run_spec(lowtemp, key), key)


def terminal_path(lowtemp: Mapping[str, Any], key: TerminalKey) -> str:
    """``lowtemp/terminal/{head}/{variant}_size{size}_{hash}.zarr`` (relative path)."""
    return _path(TERMINAL_PATTERN, terminal_spec(lowtemp, key), key)


def find(keys: list, wildcards: Mapping[str, str]):
    """The key among ``keys`` whose path wildcards are ``wildcards`` (hash aside)."""
    return find_key(keys, wildcards, "lowtemp")


#: Figure names, in the order :func:`attnlimits.lowtemp.plots.lowtemp_figures` returns them.
FIGURES: tuple[str, ...] = ("w2_beta", "w2_time", "t_star", "particles", "terminal", "phase")
#: Tables that :func:`attnlimits.lowtemp.plots.lowtemp_figures` needs.
NEEDED_TABLES: tuple[str, ...] = (
    "claims", "slopes", "best_times", "w2", "phase", "phase_curves", "terminal", "terminal_curves",
)  # fmt: skip
