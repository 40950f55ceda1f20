"""Experiment ``tiny``: the sample mean of N standard normals, whose RMS error decays like
N^(−1/2) (the central limit theorem) — declared as any experiment is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attnlimits.analysis.claims import Claim
from attnlimits.grids import HASH, INTEGER, find_key, key_wildcards
from attnlimits.provenance import params_hash
from attnlimits.registry import Dataset, Experiment, Job

PATTERN = "tiny/draws/N{N}_{hash}.zarr"


@dataclass(frozen=True)
class Size:
    N: int


def _path(config: dict[str, Any], key: Size) -> str:
    tiny = config["tiny"]
    return PATTERN.format(**key_wildcards(key), hash=params_hash({"seeds": tiny["seeds"]}))


def schema() -> dict[str, Any]:
    """The JSON schema of the config block ``tiny``. Its ``$defs`` (``tiny_sizes``) are its own,
    merged into the main schema's; ``#/$defs/size`` is one of the main schema's."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "N": {"$ref": "#/$defs/tiny_sizes", "default": [4, 16]},
            "seeds": {"type": "integer", "minimum": 2, "default": 64},
            "fits": {"type": "object", "default": {}},
        },
        "$defs": {"tiny_sizes": {"type": "array", "items": {"$ref": "#/$defs/size"}}},
    }


CLAIMS = (
    Claim("mean_N", "rate", "heuristic", "RMS error of the mean ∝ N^(−1/2)", where="the CLT"),
)

EXPERIMENT = Experiment(
    name="tiny",
    title="tests: the sample mean",
    jobs=(
        Job(
            name="draw",
            runner="tiny_experiment.jobs:draw",
            pattern=PATTERN,
            keys=lambda c: [Size(int(n)) for n in c["tiny"]["N"]],
            path=_path,
            find=lambda keys, wc: find_key(keys, wc, "tiny"),
            spec=lambda c, k: {"N": k.N, "seeds": c["tiny"]["seeds"]},
            wildcards={"N": INTEGER, "hash": HASH},
        ),
        Job(
            name="fit",
            runner="tiny_experiment.jobs:fit",
            spec=lambda c, k: {"level": 0.95},
            needs=lambda c, k: {"draws": [_path(c, Size(int(n))) for n in c["tiny"]["N"]]},
            outputs=("results", "tables"),
        ),
    ),
    tables={"claims": "The claim: the RMS error of the mean against N."},
    figures={},
    claims="tiny_experiment.experiment:CLAIMS",
    schema="tiny_experiment.experiment:schema",
    datasets={
        "results": Dataset(
            opener="tiny_experiment.jobs:open_results", doc="err (N, seed): |mean − 0|"
        )
    },
)
