"""The jobs of experiment ``sde``, their specs and their paths.

Jobs: one kernel table; a depth run and a width run per (row, attention sign); a chaos run per
dimension d; a synchronization run per (row, attention sign). A row is (activation, d, σ) with
σ = σ_U = σ_W. Paths read as the job's own parameters plus a short hash of every other setting
the result depends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.naming import format_number
from attnlimits.provenance import params_hash

SIGN_NAMES = {1: "attractive", 0: "noise", -1: "repulsive"}
SIGN_OF = {v: k for k, v in SIGN_NAMES.items()}

ROW_PATTERN = "{activation}_d{d}_sigma{sigma}_{sign}_{hash}.zarr"
PATTERNS = {
    "depth": "sde/depth/" + ROW_PATTERN,
    "width": "sde/width/" + ROW_PATTERN,
    "sync": "sde/sync/" + ROW_PATTERN,
    "chaos": "sde/chaos/d{d}_{hash}.zarr",
}
WILDCARD_CONSTRAINTS = {
    "activation": "[a-z]+",
    "sigma": r"[0-9.e+-]+",
    "sign": "|".join(SIGN_NAMES.values()),
}


@dataclass(frozen=True)
class RowJob:
    """A (row, attention sign) job of kind depth, width or sync."""

    kind: str
    activation: str
    d: int
    sigma: float
    sign: int

    def wildcards(self) -> dict[str, str]:
        return {
            "activation": self.activation,
            "d": str(self.d),
            "sigma": format_number(self.sigma),
            "sign": SIGN_NAMES[self.sign],
        }


def kind_rows(sde: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    """The rows of ``kind``: its own ``sde.<kind>.rows`` if given, else the shared ``sde.rows``."""
    return list(sde[kind].get("rows") or sde["rows"])


def row_jobs(sde: Mapping[str, Any], kind: str) -> list[RowJob]:
    """Every (row, sign) job of ``kind`` (depth, width or sync), in config order."""
    return [
        RowJob(kind, row["activation"], int(row["d"]), float(row["sigma"]), int(sign))
        for row in kind_rows(sde, kind)
        for sign in sde[kind]["attention_signs"]
    ]


def _shared(sde: Mapping[str, Any]) -> dict[str, Any]:
    return {"beta": sde["beta"], "seed": sde["seed"]}


def row_spec(sde: Mapping[str, Any], job: RowJob) -> dict[str, Any]:
    """Everything a row job needs, as plain data (SCHEMA of the sde stores)."""
    spec = {
        "activation": job.activation,
        "d": job.d,
        "sigma": job.sigma,
        "attention_sign": job.sign,
        **_shared(sde),
        **sde[job.kind],
    }
    spec.pop("attention_signs")
    spec.pop("rows", None)
    if job.kind != "sync":
        spec["T"] = sde["T"]
    return spec


def chaos_spec(sde: Mapping[str, Any], d: int) -> dict[str, Any]:
    return {**_shared(sde), "T": sde["T"], **sde["chaos"], "d": int(d)}


def _hash(spec: Mapping[str, Any], own: tuple[str, ...]) -> str:
    """Hash of the spec without the keys that are already in the path."""
    return params_hash({k: v for k, v in spec.items() if k not in own})


def row_path(sde: Mapping[str, Any], job: RowJob) -> str:
    spec = row_spec(sde, job)
    own = ("activation", "d", "sigma", "attention_sign")
    return PATTERNS[job.kind].format(**job.wildcards(), hash=_hash(spec, own))


def chaos_path(sde: Mapping[str, Any], d: int) -> str:
    return PATTERNS["chaos"].format(d=d, hash=_hash(chaos_spec(sde, d), ("d",)))


def find_row_job(jobs: list[RowJob], wildcards: Mapping[str, str]) -> RowJob:
    """The job among ``jobs`` whose path wildcards are ``wildcards`` (hash aside)."""
    wanted = {k: wildcards[k] for k in ("activation", "d", "sigma", "sign")}
    for job in jobs:
        if job.wildcards() == wanted:
            return job
    raise KeyError(f"no configured sde job matches {wanted}")
