"""The studies of experiment ``adamw``: cells with settings of their own (docs/mathematics.md,
``adamw``).

A *study* (``adamw.studies.<name>``) is a grid of cells (variant, ε, N, d, β, L, H) run under the
experiment's settings with some of them overridden (``task``, ``optimizer``, ``limit``, the head
seeds R per task), for every learning-rate scaling of ``lr_scaling`` and every task seed of
``task_seeds``:

- the learning rate at dimension d is **η(d) = η · (d/d₀)^(−a)** (**our choice**: P1's abstract
  does not say how η scales with d), with a = 0 (``fixed``) or a = 1/2 (``inverse_sqrt``) and the
  reference dimension d₀ = ``d0``, at which both scalings give the study's η;
- a *task seed* is a draw of the task (the inputs X₀, the read-out R and the teacher's atoms,
  ``task.draw_task``): the limit depends on the task, so every task seed has limits of its own.

Keys carry the learning rate η(d) itself, not the scaling's name: the two scalings meet at d = d₀
and there share their limit and cells (one job, not two). A study limit and a study cell have
the specs of ``adamw.grid`` (``limit_spec``, ``cell_spec``) with the overrides applied, so the
runners of the grids (``adamw.jobs.limit``, ``adamw.jobs.cell``) run them unchanged.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.adamw import grid as g
from attnlimits.budget import Estimate
from attnlimits.grids import (
    HASH,
    INTEGER,
    NUMBER,
    WORD,
    key_fields,
    keyed_path,
    sort_keys,
)

LIMIT_PATTERN = (
    "adamw/study_limit/{study}/{variant}_lr{lr}_task{task_seed}_eps{eps}_N{N}_d{d}_beta{beta}_"
    "{hash}.zarr"
)
CELL_PATTERN = (
    "adamw/study_cells/{study}/{variant}_lr{lr}_task{task_seed}_eps{eps}_N{N}_d{d}_beta{beta}/"
    "L{L}_H{H}_{hash}.zarr"
)
WILDCARD_CONSTRAINTS = {
    **g.WILDCARD_CONSTRAINTS,
    "study": WORD,
    "lr": NUMBER,
    "task_seed": INTEGER,
    "hash": HASH,
}
#: Learning-rate scalings: the exponent a of η(d) = η (d/d₀)^(−a).
SCALINGS: dict[str, float] = {"fixed": 0.0, "inverse_sqrt": 0.5}
#: The blocks of the experiment's settings a study may override.
OVERRIDABLE = ("task", "optimizer", "limit")


@dataclass(frozen=True)
class StudyLimit:
    study: str
    variant: str
    lr: float
    task_seed: int
    eps: float
    N: int
    d: int
    beta: float

    @property
    def grid_key(self) -> g.LimitKey:
        return g.LimitKey(self.variant, self.eps, self.N, self.d, self.beta)


@dataclass(frozen=True)
class StudyCell:
    study: str
    variant: str
    lr: float
    task_seed: int
    eps: float
    N: int
    d: int
    beta: float
    L: int
    H: int

    @property
    def limit(self) -> StudyLimit:
        return StudyLimit(
            self.study, self.variant, self.lr, self.task_seed, self.eps, self.N, self.d, self.beta
        )

    @property
    def grid_key(self) -> g.Cell:
        return g.Cell(self.variant, self.eps, self.N, self.d, self.beta, self.L, self.H)


def learning_rate(lr: float, d: int, d0: int, scaling: str) -> float:
    """η(d) = η (d/d₀)^(−a) (module docstring); exactly ``lr`` for ``fixed`` and at d = d₀."""
    exponent = SCALINGS[scaling]
    if exponent == 0.0 or d == d0:
        return float(lr)
    return float(lr) * (d / d0) ** (-exponent)


def settings(adamw: Mapping[str, Any], study: str) -> dict[str, Any]:
    """The experiment's block with the study's overrides applied (``task``, ``optimizer``,
    ``limit`` merged key by key, ``seeds`` replaced): what ``adamw.grid``'s specs read."""
    spec = adamw["studies"][study]
    out = {k: v for k, v in adamw.items() if k not in ("grids", "studies")}
    for block in OVERRIDABLE:
        out[block] = {**copy.deepcopy(dict(adamw[block])), **spec[block]}
    out["seeds"] = spec["seeds"]
    return out


def study_cells(adamw: Mapping[str, Any], study: str) -> list[StudyCell]:
    """The cells of one study: its grid × scalings × task seeds, with η(d) in the key."""
    spec = adamw["studies"][study]
    lr = settings(adamw, study)["optimizer"]["lr"]
    axes = [spec["grid"][f] for f in ("variant", "eps", "N", "d", "beta", "L", "H")]
    out = []
    for scaling, task in itertools.product(spec["lr_scaling"], spec["task_seeds"]):
        for variant, eps, n, d, beta, depth, heads in itertools.product(*axes):
            rate = learning_rate(lr, d, spec["d0"], scaling)
            out.append(
                StudyCell(study, variant, rate, task, float(eps), n, d, float(beta), depth, heads)
            )
    return out


def cells(adamw: Mapping[str, Any]) -> list[StudyCell]:
    """The cells of every study, each once, in a fixed order."""
    return sort_keys(c for study in adamw["studies"] for c in study_cells(adamw, study))


def limits(adamw: Mapping[str, Any]) -> list[StudyLimit]:
    """The limits of every study's cells, each once, in a fixed order."""
    return sort_keys(c.limit for c in cells(adamw))


def _with_key(spec: dict[str, Any], key: StudyLimit | StudyCell) -> dict[str, Any]:
    spec["optimizer"]["lr"] = float(key.lr)
    spec["task"]["seed"] = int(key.task_seed)
    return spec


def limit_spec(adamw: Mapping[str, Any], key: StudyLimit) -> dict[str, Any]:
    """``grid.limit_spec`` of the study's settings, with the key's η(d) and task seed."""
    return _with_key(g.limit_spec(settings(adamw, key.study), key.grid_key), key)


def cell_spec(adamw: Mapping[str, Any], cell: StudyCell) -> dict[str, Any]:
    """``grid.cell_spec`` of the study's settings, with the key's η(d) and task seed."""
    return _with_key(g.cell_spec(settings(adamw, cell.study), cell.grid_key), cell)


def limit_path(adamw: Mapping[str, Any], key: StudyLimit) -> str:
    """``adamw/study_limit/{study}/{variant}_lr{lr}_task{task_seed}_eps…_{hash}.zarr``."""
    return keyed_path(LIMIT_PATTERN, limit_spec(adamw, key), key)


def cell_path(adamw: Mapping[str, Any], cell: StudyCell) -> str:
    """``adamw/study_cells/{study}/{variant}_lr{lr}_task{task_seed}_eps…/L{L}_H{H}_{hash}.zarr``."""
    return keyed_path(CELL_PATTERN, cell_spec(adamw, cell), cell)


def _sizes(adamw: Mapping[str, Any], key: StudyLimit | StudyCell) -> dict[str, Any]:
    own = settings(adamw, key.study)
    axes = ("N", "d", "L", "H") if isinstance(key, StudyCell) else ("N", "d")
    sizes = {f"studies.{key.study}.grid.{a}": key_fields(key)[a] for a in axes}
    sizes.update(
        {
            "law.atoms": own["law"]["atoms"],
            f"studies.{key.study}.task.inputs": own["task"]["inputs"],
            f"studies.{key.study}.optimizer.steps": own["optimizer"]["steps"],
            f"studies.{key.study}.limit.steps": own["limit"]["steps"],
        }
    )
    if isinstance(key, StudyCell):
        sizes[f"studies.{key.study}.seeds"] = own["seeds"]
    return sizes


def estimate_limit(adamw: Mapping[str, Any], key: StudyLimit) -> Estimate:
    """The estimate of a study limit job (``grid.job_cost`` of its spec)."""
    return Estimate(*g.job_cost(limit_spec(adamw, key)), _sizes(adamw, key))


def estimate_cell(adamw: Mapping[str, Any], cell: StudyCell) -> Estimate:
    """The estimate of a study cell job (``grid.job_cost`` of its spec)."""
    return Estimate(*g.job_cost(cell_spec(adamw, cell)), _sizes(adamw, cell))
