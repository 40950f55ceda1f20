"""The jobs of experiment ``sde``, their specs and their paths.

Jobs: one kernel table; a depth run and a width run per (row, attention sign); a chaos run per
dimension d; a synchronization run per (row, attention sign). A row is (activation, d, σ) with
σ = σ_U = σ_W. Paths read as the job's own parameters plus a short hash of every other setting
the result depends on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.budget import FLOAT, Estimate, cost, number, plots_estimate
from attnlimits.naming import format_number
from attnlimits.provenance import params_hash

SIGN_NAMES = {1: "attractive", 0: "noise", -1: "repulsive"}
SIGN_OF = {v: k for k, v in SIGN_NAMES.items()}

ROW_PATTERN = "{activation}_d{d}_sigma{sigma}_{sign}_{hash}.zarr"
PATTERNS = {
    "depth": "sde/depth/" + ROW_PATTERN,
    "width": "sde/width/" + ROW_PATTERN,
    "sync": "sde/sync/" + ROW_PATTERN,
    "joint_width": "sde/joint_width/" + ROW_PATTERN,
    "joint_tokens": "sde/joint_tokens/" + ROW_PATTERN,
    "odd": "sde/odd/" + ROW_PATTERN,
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
    if job.kind not in ("sync", "odd"):
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


# --------------------------------------------------------------------------- resource estimates
# (attnlimits.budget: peak memory and CPU time of a job from its settings, by formula)

#: Resident memory of an sde job before its arrays (torch, scipy; POT for chaos): 550-650 MB.
SDE_BASE_MB, CHAOS_BASE_MB = 600.0, 800.0
#: CPU seconds of one layer of the discrete model (Python and torch overheads), per token pair
#: and dimension (attention and the noise S ξ), per token pair of a tabulated kernel (every
#: activation but relu, interpolated in a table), per N³ of the covariance's square root (eigh);
#: calibrated on the default run's depth runs (relu d = 5: 14 s, d = 64: 73 s, tanh d = 5: 40 s).
LAYER_SECONDS, PAIR_SECONDS, TABLE_SECONDS, ROOT_SECONDS = 3e-4, 4.5e-9, 1.2e-7, 1e-9
#: Normals per block of the depth run's streamed fine grid (``runs.depth.BLOCK_NUMBERS``), and
#: CPU seconds per normal drawn.
BLOCK_NUMBERS, NORMAL_SECONDS = 2.0**22, 2e-8


def layer_seconds(paths: float, n: float, d: float, activation: str) -> float:
    """CPU seconds of one layer of ``paths`` systems of N tokens in dimension d."""
    pair = d * PAIR_SECONDS + (0.0 if activation == "relu" else TABLE_SECONDS)
    return LAYER_SECONDS + paths * n * n * (pair + n * ROOT_SECONDS)


def depth_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a depth run: every model of the ladder (fine, fine/2, ..., and each L)
    on R seeds, about 2·fine layers, and fine·R·N·d normals; memory: a block of at most
    2^22 normals and the paths of every model over it (about six blocks)."""
    n, d, seeds = number(spec["N"]), number(spec["d"]), number(spec["seeds"])
    fine = number(spec["fine"])
    layers = fine * (2.0 - 0.5 ** number(min(spec["levels"], 64))) + sum(map(number, spec["L"]))
    block = min(BLOCK_NUMBERS, fine * seeds * n * d)
    memory = FLOAT * (6 * block + 10 * seeds * n * n)
    seconds = layers * layer_seconds(seeds, n, d, spec["activation"])
    seconds += NORMAL_SECONDS * fine * seeds * n * d
    return cost(memory, seconds, SDE_BASE_MB)


def width_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a width run: the infinite-width model and one model per width m, L layers
    each on R seeds, a width-m layer adding its features (m N (d + N) per seed); memory: the
    normals, the paths of two models (R (L+1) N d each) and one layer's features."""
    n, d, seeds = number(spec["N"]), number(spec["d"]), number(spec["seeds"])
    layers, widths = number(spec["L"]), [number(m) for m in spec["m"]]
    per_layer = layer_seconds(seeds, n, d, spec["activation"])
    seconds = layers * per_layer * (1 + len(widths))
    seconds += layers * sum(seeds * m * n * (d + n) * PAIR_SECONDS for m in widths)
    memory = FLOAT * (4 * seeds * (layers + 1) * n * d + 3 * seeds * max(widths) * (n + d))
    return cost(memory, seconds, SDE_BASE_MB)


def sync_layers(spec: Mapping[str, Any]) -> float:
    """An upper bound of the sync run's layers: ``horizon`` is in units of 1/|λ̄| with |λ̄| at
    least a quarter of the rate that sets ``dt`` (``runs.sync.sync_horizon_rate``), so at most
    4·horizon/dt layers (rounded up to whole ``record_every``), whatever the row's exponents
    (which the bound does not compute)."""
    every = number(spec["record_every"])
    bound = 4.0 * number(spec["horizon"]) / number(spec["dt"])
    return every * max(1.0, math.ceil(bound / every)) if math.isfinite(bound) else math.inf


def sync_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a sync run: the energy run and the snapshots' re-run (at most twice the
    layers of :func:`sync_layers`) on every path, and for attention sign 0 the two-point runs
    (1.5 x steps layers of two tokens on every two-point path); memory: the normals of the
    layers between two snapshots for every path (an eighth of the layers), a chunk of 128
    layers of the energy run, the energies."""
    n, d, paths = number(spec["N"]), number(spec["d"]), number(spec["paths"])
    layers = sync_layers(spec)
    seconds = 2 * layers * layer_seconds(paths, n, d, spec["activation"])
    memory = FLOAT * (
        (layers / 8 + 1) * paths * n * d * 1.5
        + 2 * 128 * paths * n * d
        + paths * (layers / number(spec["record_every"]) + 1)
    )
    if int(spec["attention_sign"]) == 0:
        tp = spec["two_point"]
        tp_paths, steps = number(tp["paths"]), number(tp["steps"])
        seconds += 1.5 * steps * (LAYER_SECONDS + tp_paths * d * d * PAIR_SECONDS)
        memory += FLOAT * 2 * tp_paths * (steps + 256 * 2 * d)
    return cost(memory, seconds, SDE_BASE_MB)


#: CPU seconds of a chaos run per token pair and dimension of attention or feature products
#: (large N: vectorised, unlike the few-token layers of the other runs), and of one exact W2
#: between n and m tokens (``ot.emd2``) per n·m·(n + m)/2; the default run's chaos runs
#: (N_ref = 1024, P = 1024, 16 replicas) take 15 s of CPU.
CHAOS_PAIR_SECONDS, EMD_SECONDS = 1.5e-9, 1.5e-10


def chaos_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a chaos run, per replica: two references of N_ref tokens and one system
    per N, L layers each (attention N² d, the P-feature field N P (d + 2)); W2 of every N to
    the reference and to its half at the record times (9), of the references at
    ``floor_times``; memory: the trajectories (L+1) (2 N_ref + max N) d, the layers' field
    coefficients L (P+1) d, the largest W2's cost matrix and plan (N_ref²)."""
    d, n_ref, features = number(spec["d"]), number(spec["N_ref"]), number(spec["P"])
    layers, replicas = number(spec["L"]), number(spec["replicas"])
    ns = [number(n) for n in spec["N"]]
    systems = [n_ref, n_ref, *ns]
    per_replica = sum(
        layers * (LAYER_SECONDS + CHAOS_PAIR_SECONDS * m * (m * d + features * (d + 2)))
        for m in systems
    )
    emd = sum(9 * (n * n_ref * (n + n_ref) / 2 + n * n_ref / 2 * (n + n_ref / 2) / 2) for n in ns)
    emd += number(spec["floor_times"]) * n_ref * n_ref * n_ref
    seconds = replicas * (per_replica + EMD_SECONDS * emd)
    memory = FLOAT * (
        2 * (layers + 1) * (2 * n_ref + max(ns)) * d
        + layers * (features + 1) * d
        + 4 * n_ref * n_ref
        + replicas * features * (d + 1)
    )
    return cost(memory, seconds, CHAOS_BASE_MB)


def kernel_table_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of the kernel table: per dimension, ``mc_samples`` Monte Carlo rows of d
    entries evaluated for every activation and σ, and the quadratures of every entry; memory:
    one chunk of rows (16384) per activation and σ."""
    samples = number(spec["mc_samples"])
    kinds = len(spec["activations"]) * len(spec["sigmas"])
    seconds = sum(samples * (number(d) + 10 * kinds) * 3.5e-9 for d in spec["dims"])
    seconds += 0.3 * kinds * len(spec["dims"])
    memory = FLOAT * 16384 * (max(map(number, spec["dims"])) + 40 * kinds) * 4
    return cost(memory, seconds, SDE_BASE_MB)


def _row_sizes(sde: Mapping[str, Any], job: RowJob) -> dict[str, Any]:
    """The keys a row job grows with: the row's d (under the kind's own rows, if any)."""
    rows = "rows" if not sde[job.kind].get("rows") else f"{job.kind}.rows"
    index = next(
        i for i, row in enumerate(kind_rows(sde, job.kind))
        if (row["activation"], int(row["d"]), float(row["sigma"]))
        == (job.activation, job.d, job.sigma)
    )  # fmt: skip
    return {f"{rows}[{index}].d": job.d}


def joint_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a joint run (``runs.joint``), per number of tokens N (one N for the width
    grid): the reference (fine layers) and its half (fine/2), every L-layer model at every width
    (and at infinite width), R seeds; memory: the fine normals and the reference's path
    (R (fine+1) N d each) and one interpolated path of the same size."""
    seeds, d, fine = number(spec["seeds"]), number(spec["d"]), number(spec["fine"])
    coarse = sum(map(number, spec["L"]))
    widths = [number(m) for m in spec.get("m", [])]
    ns = spec["N"] if isinstance(spec["N"], list) else [spec["N"]]
    seconds, memory = 0.0, 0.0
    for n in map(number, ns):
        per_layer = layer_seconds(seeds, n, d, spec["activation"])
        seconds += (1.5 * fine + coarse * (1 + len(widths))) * per_layer
        seconds += coarse * sum(seeds * m * n * (d + n) * PAIR_SECONDS for m in widths)
        seconds += NORMAL_SECONDS * fine * seeds * n * d
        memory = max(memory, FLOAT * 4 * seeds * (fine + 1) * n * d)
    return cost(memory, seconds, SDE_BASE_MB)


def odd_layers(spec: Mapping[str, Any]) -> float:
    """An upper bound of the odd run's layers: ``horizon`` is in units of 1/|λ₁| with |λ₁| at
    least a quarter of the rate that sets ``dt`` (``runs.odd.odd_horizon_rate``), so at most
    4·horizon/dt layers, plus the rounding to whole record intervals."""
    bound = 4.0 * number(spec["horizon"]) / number(spec["dt"])
    return bound + number(spec["records"]) if math.isfinite(bound) else math.inf


def odd_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of an odd run: :func:`odd_layers` layers on every path; memory: the tokens
    of every path at every record, a layer's normals and states."""
    n, d, paths = number(spec["N"]), number(spec["d"]), number(spec["paths"])
    seconds = odd_layers(spec) * layer_seconds(paths, n, d, spec["activation"])
    memory = FLOAT * paths * n * d * (number(spec["records"]) + 8)
    return cost(memory, seconds, SDE_BASE_MB)


#: The size keys of each kind of row job, besides its row's d.
ROW_SIZES = {
    "depth": ("N", "fine", "seeds"),
    "width": ("N", "L", "m", "seeds"),
    "sync": ("N", "paths", "horizon", "dt", "two_point.paths", "two_point.steps"),
    "joint_width": ("N", "L", "m", "fine", "seeds"),
    "joint_tokens": ("N", "L", "fine", "seeds"),
    "odd": ("N", "paths", "horizon", "dt", "records"),
}
ROW_COSTS = {
    "depth": depth_cost,
    "width": width_cost,
    "sync": sync_cost,
    "joint_width": joint_cost,
    "joint_tokens": joint_cost,
    "odd": odd_cost,
}


def _dotted_value(block: Mapping[str, Any], path: str) -> Any:
    for part in path.split("."):
        block = block[part]
    return block


def estimate_row(sde: Mapping[str, Any], job: RowJob) -> Estimate:
    """The estimate of a depth, width or sync run (:func:`depth_cost`, :func:`width_cost`,
    :func:`sync_cost`)."""
    sizes = {
        **_row_sizes(sde, job),
        **{f"{job.kind}.{k}": _dotted_value(sde[job.kind], k) for k in ROW_SIZES[job.kind]},
    }
    return Estimate(*ROW_COSTS[job.kind](row_spec(sde, job)), sizes)


def estimate_chaos(sde: Mapping[str, Any], d: int) -> Estimate:
    """The estimate of a chaos run (:func:`chaos_cost`)."""
    chaos = sde["chaos"]
    keys = ("N", "N_ref", "P", "L", "replicas", "floor_times")
    sizes = {"chaos.d": d, **{f"chaos.{k}": chaos[k] for k in keys}}
    return Estimate(*chaos_cost(chaos_spec(sde, d)), sizes)


def estimate_kernel_table(config: Mapping[str, Any], key: Any) -> Estimate:
    """The estimate of the kernel table (:func:`kernel_table_cost`)."""
    table = config["sde"]["kernel_table"]
    sizes = {f"kernel_table.{k}": table[k] for k in ("dims", "mc_samples")}
    return Estimate(*kernel_table_cost(table), sizes).under("sde")


def _stored_numbers(sde: Mapping[str, Any]) -> tuple[float, float]:
    """Numbers of the run stores the fit and the plots read (the errors per seed, the sync
    energies per path and record, the snapshots' cosines), and the longest curve (records)."""
    total, longest = 0.0, 64.0
    for _ in row_jobs(sde, "depth"):
        total += number(sde["depth"]["seeds"]) * (len(sde["depth"]["L"]) + 64)
    for _ in row_jobs(sde, "width"):
        total += number(sde["width"]["seeds"]) * len(sde["width"]["m"])
    chaos = sde["chaos"]
    total += len(chaos["d"]) * number(chaos["replicas"]) * (len(chaos["N"]) + 2)
    sync = sde["sync"]
    for job in row_jobs(sde, "sync"):
        records = sync_layers(row_spec(sde, job)) / number(sync["record_every"]) + 1
        pooled, n = min(number(sync["paths"]), 64.0), number(sync["N"])
        total += number(sync["paths"]) * records + 9 * pooled * n * n / 2
        total += 4 * number(sync["two_point"]["paths"])
        longest = max(longest, records)
    for kind in ("joint_width", "joint_tokens"):
        block = sde[kind]
        points = len(block["L"]) * len(block["m"] if kind == "joint_width" else block["N"])
        total += 2 * number(block["seeds"]) * points * len(row_jobs(sde, kind))
    odd = sde["odd"]
    for job in row_jobs(sde, "odd"):
        total += number(odd["records"]) * number(odd["paths"]) * (number(odd["N"]) * job.d + 1)
    return total, longest


#: CPU seconds of one weighted nonlinear least-squares fit of a joint law (``joint_fits``).
LAW_FIT_SECONDS = 2e-3


def _law_fits(sde: Mapping[str, Any]) -> float:
    """Law fits of the joint grids: 4 laws × 2 quantities per store, each refitted on
    min(bootstrap, law_replicates) replicates."""
    fits = sde["fits"]
    refits = min(number(fits["bootstrap"]), number(fits["law_replicates"])) + 1
    stores = sum(len(row_jobs(sde, kind)) for kind in ("joint_width", "joint_tokens"))
    return 8 * stores * refits


def estimate_fit(config: Mapping[str, Any], key: Any) -> Estimate:
    """The fit holds every run store and weighs every stored number once per bootstrap
    replicate (B+1 rows of weights times the stores), holding B+1 replicates of the longest
    curve."""
    sde = config["sde"]
    numbers, longest = _stored_numbers(sde)
    replicates = number(sde["fits"]["bootstrap"]) + 1
    memory, seconds = cost(
        FLOAT * (2 * numbers + 3 * replicates * longest),
        2e-9 * replicates * numbers + 1e-7 * numbers + LAW_FIT_SECONDS * _law_fits(sde),
        SDE_BASE_MB,
    )
    sizes = {
        "sync.paths": sde["sync"]["paths"],
        "fits.bootstrap": sde["fits"]["bootstrap"],
        "fits.law_replicates": sde["fits"]["law_replicates"],
    }
    return Estimate(memory, seconds, sizes).under("sde")


def estimate_plots(config: Mapping[str, Any], key: Any) -> Estimate:
    """The figures (``plots.dpi``), drawn from every run store."""
    sde = config["sde"]
    data = FLOAT * _stored_numbers(sde)[0]
    return plots_estimate(config, 7, data, {"sde.sync.paths": sde["sync"]["paths"]})
