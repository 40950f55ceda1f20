"""The jobs of experiment ``lowtemp``, their specs and their paths.

A *run* is one (head, variant) of ``lowtemp.heads`` × ``lowtemp.variants``: the hardmax flow and
the finite-β flows of the measure ``lowtemp.measure`` (``runs.run``). A *terminal* job is one
(head, variant, size) of ``lowtemp.terminal``: the hardmax flow alone, for a measure of that size
(``runs.run_terminal``). Paths read as the key's own parameters plus a short hash of every other
setting the result depends on; a head's name is a label, its settings (kind, scale, seed, v) are in
the hash, so that renaming a head re-runs nothing that matters and changing it re-runs its jobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attnlimits.budget import FLOAT, Estimate, cost, number, plots_estimate
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
FIGURES: tuple[str, ...] = (
    "w2_beta", "w2_time", "t_star", "particles", "terminal", "phase", "n_convergence", "regime",
    "metastability",
)  # fmt: skip
#: Tables that :func:`attnlimits.lowtemp.plots.lowtemp_figures` needs.
NEEDED_TABLES: tuple[str, ...] = (
    "claims", "slopes", "best_times", "w2", "phase", "phase_curves", "terminal", "terminal_curves",
    "n_slopes", "regime", "metastability",
)  # fmt: skip


# --------------------------------------------------------------------------- resource estimates
# (attnlimits.budget: peak memory and CPU time of a job from its settings, by formula)

#: Lattices of at most this many numbers (points x d) are counted by building them (``measures``,
#: a few MB); beyond, the ball's points are counted by integer arithmetic in at most
#: :data:`COUNT_STEPS` steps, else estimated by the ball's volume.
BUILT_LATTICE_NUMBERS, COUNT_STEPS = 10**6, 2 * 10**5


def _ball_count(n: int, d: int) -> float:
    """The points (2i + 1 − n)/n, i < n per axis, inside the unit ball of ℝ^d: the integer
    vectors m of entries ≡ n − 1 (mod 2), |m_k| < n, with |m|² ≤ n², counted axis by axis (the
    last axis in closed form, the others memoised on the room left), or V_d (n/2)^d when that
    would take more than :data:`COUNT_STEPS` steps."""
    steps = min(number(n) ** min(d - 1, 400), d * number(n) ** 3)
    if steps > COUNT_STEPS:
        log_volume = d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1) + d * math.log(n / 2)
        return math.exp(log_volume) if log_volume < 700 else math.inf
    values = range(-(n - 1), n, 2)
    odd = (n - 1) % 2

    def last(room: int) -> int:  # entries m with m² <= room
        top = min(math.isqrt(room), n - 1)
        return 2 * ((top + 1) // 2) if odd else 2 * (top // 2) + 1

    seen: dict[tuple[int, int], int] = {}

    def count(axes: int, room: int) -> int:
        if axes == 1:
            return last(room)
        if (axes, room) not in seen:
            seen[axes, room] = sum(count(axes - 1, room - m * m) for m in values if m * m <= room)
        return seen[axes, room]

    return float(count(d, n * n))


def particles(kind: str, size: int, d: int) -> float:
    """N, the particles of ``measures.initial_measure(kind, size, d)``, by formula: the disc has
    4·size² (size radial nodes times 4·size angles); the ball is counted by building its lattice
    up to :data:`BUILT_LATTICE_NUMBERS` numbers (exact), by integer arithmetic beyond
    (:func:`_ball_count`: exact but for points on the unit sphere itself, which the lattice's
    float test may put either side), by the ball's volume for the largest. An even size has no
    point inside the ball when d > size² (0)."""
    if kind == "disc":
        return 4.0 * number(size) * number(size)
    if size == 1:
        return 1.0  # the centre
    if size % 2 == 0 and d > size * size:
        return 0.0
    if d <= 32 and d * math.log(size) + math.log(d) <= math.log(BUILT_LATTICE_NUMBERS):
        from attnlimits.lowtemp.measures import particle_count

        return float(particle_count(kind, size, d))
    return _ball_count(size, d)


def particles_bound(kind: str, size: int, d: int) -> float:
    """An upper bound of :func:`particles`, increasing with size and d: 4·size² for the disc;
    for the ball, the lattice points whose cells (cubes of side 2/size) lie inside the ball of
    radius 1 + sqrt(d)/size, at most its volume V_d ((size + sqrt(d))/2)^d, and at most size^d."""
    if kind == "disc":
        return 4.0 * number(size) * number(size)
    n = number(size)
    log_cells = d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1) + d * math.log((n + d**0.5) / 2)
    cells = math.exp(log_cells) * (1 + 1e-9) if log_cells < 700 else math.inf
    try:
        return min(cells, n**d)
    except OverflowError:
        return cells


#: CPU seconds of one RK4 stage per particle pair and dimension (the softmax or hardmax mean
#: field, N² (2d + 4) operations), and per stage whatever N.
FLOW_PAIR_SECONDS, FLOW_STAGE_SECONDS = 5e-10, 2e-4
#: CPU seconds of one exact W2 (``ot.emd2``, network simplex) per N³; the default run's runs
#: (N = 576, 325 distances each) and terminal jobs (N up to 1024) take 10-28 s of CPU.
EMD_SECONDS = 5e-10
#: Resident memory of a lowtemp job before its arrays (torch and POT): 520-560 MB measured.
LOWTEMP_BASE_MB = 560.0


def _lowtemp_cost(spec: Mapping[str, Any], betas: int, distances: float) -> tuple[float, float]:
    """(MB, seconds) of ``betas`` + 1 flows of the measure of ``spec`` and ``distances`` exact W2
    at each record time: the N x N score and cost matrices (the flow's scores, POT's cost matrix,
    its plan and its work arrays), the particles of every flow at every record time, the head,
    and the lattice a ball is built from."""
    m = spec["measure"]
    n, d = particles_bound(m["kind"], m["size"], m["d"]), number(m["d"])
    records, substeps = number(spec["records"]), number(spec["substeps"])
    lattice = d * (number(m["size"]) ** min(d, 400) if m["kind"] == "ball" else n)
    flows = betas + 1.0
    stages = flows * records * substeps * 4
    memory = FLOAT * (6 * n * n + 2 * flows * (records + 1) * n * d + 3 * d * d + 3 * lattice)
    seconds = stages * (FLOW_STAGE_SECONDS + FLOW_PAIR_SECONDS * n * n * (2 * d + 4))
    seconds += (records + 1) * distances * EMD_SECONDS * n * n * n
    return cost(memory, seconds, LOWTEMP_BASE_MB)


def run_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a run (``runs.run``): the hardmax flow and one flow per β; at every
    record time W2 to T#μ₀ for the hardmax flow and every β, and W2 to the hardmax flow for every
    β when N ≤ ``exact_max``."""
    m = spec["measure"]
    n = particles_bound(m["kind"], m["size"], m["d"])
    betas = len(spec["betas"])
    exact = 1.0 if n <= spec["exact_max"] else 0.0
    return _lowtemp_cost(spec, betas, 1.0 + betas * (1.0 + exact))


def terminal_cost(spec: Mapping[str, Any]) -> tuple[float, float]:
    """(MB, seconds) of a terminal job: the hardmax flow and its W2 to T#μ₀ at every record."""
    return _lowtemp_cost(spec, 0, 1.0)


def _measure_sizes(lowtemp: Mapping[str, Any], size_key: str, size: int) -> dict[str, Any]:
    return {size_key: size, "measure.d": lowtemp["measure"]["d"]}


def estimate_run(lowtemp: Mapping[str, Any], key: RunKey) -> Estimate:
    """The estimate of a run (:func:`run_cost`), growing with the measure and the record grid."""
    spec = run_spec(lowtemp, key)
    sizes = {
        **_measure_sizes(lowtemp, "measure.size", lowtemp["measure"]["size"]),
        "betas": lowtemp["betas"],
        "records": lowtemp["records"],
        "substeps": lowtemp["substeps"],
    }
    return Estimate(*run_cost(spec), sizes)


def estimate_terminal(lowtemp: Mapping[str, Any], key: TerminalKey) -> Estimate:
    """The estimate of a terminal job (:func:`terminal_cost`)."""
    term = lowtemp["terminal"]
    sizes = {
        **_measure_sizes(lowtemp, "terminal.sizes", key.size),
        "terminal.records": term["records"],
        "terminal.substeps": term["substeps"],
    }
    return Estimate(*terminal_cost(terminal_spec(lowtemp, key)), sizes)


def _stored_particles(lowtemp: Mapping[str, Any]) -> float:
    """Numbers the runs and terminal jobs store (their particles at every record time)."""
    m, term = lowtemp["measure"], lowtemp["terminal"]
    d = number(m["d"])
    per_run = (len(lowtemp["betas"]) + 2) * (number(lowtemp["records"]) + 1)
    total = len(run_keys(lowtemp)) * per_run * particles_bound(m["kind"], m["size"], m["d"]) * d
    for key in terminal_keys(lowtemp):
        total += (number(term["records"]) + 1) * particles_bound(m["kind"], key.size, m["d"]) * d
    return total


def estimate_fit(config: Mapping[str, Any], key: Any) -> Estimate:
    """The fit reads every run's and terminal job's particles and fits small tables."""
    low = config["lowtemp"]
    numbers = _stored_particles(low)
    memory, seconds = cost(2 * FLOAT * numbers, 1e-7 * numbers, LOWTEMP_BASE_MB)
    return Estimate(memory, seconds, {"lowtemp.measure.size": low["measure"]["size"]})


def estimate_plots(config: Mapping[str, Any], key: Any) -> Estimate:
    """The figures (``plots.dpi``), drawn from the runs' particles."""
    low = config["lowtemp"]
    sizes = {"lowtemp.measure.size": low["measure"]["size"]}
    return plots_estimate(config, len(FIGURES), FLOAT * _stored_particles(low), sizes)
