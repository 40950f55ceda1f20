"""Validation of every number (issue 14): non-finite numbers, resource budgets, mathematical
bounds, repeated YAML keys, wildcard paths and empty files are refused before any job, each with
a message naming the key; the estimates the budget rests on (attnlimits.budget)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_edits import put, set_in

from attnlimits import budget
from attnlimits.adamw import grid as adamw_grid
from attnlimits.config import ConfigError, load_config, read_config, validate_config
from attnlimits.heads import grid as heads_grid
from attnlimits.lowtemp import convergence_grid as lowtemp_sweep
from attnlimits.lowtemp import grid as lowtemp_grid
from attnlimits.registry import registered
from attnlimits.sde import grid as sde_grid

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "config"
NAN, INF = float("nan"), float("inf")
#: The base configuration of each experiment: its tiny test configuration.
BASES = {
    "heads": "test.yaml",
    "sde": "test_sde.yaml",
    "adamw": "test_adamw.yaml",
    "lowtemp": "test_lowtemp.yaml",
    "default": "config.yaml",
}


@pytest.fixture(scope="module")
def bases() -> dict[str, dict]:
    """Each base configuration, validated: every key present (and valid)."""
    return {name: load_config(CONFIGS / file) for name, file in BASES.items()}


def json_number(text: str) -> float:
    """A number as JSON reads it: ``1e309`` is +inf."""
    return json.loads(text)


# (id, base, modification, texts the message must hold: the key's dotted path first)
INVALID: list[tuple[str, str, Callable[[dict], None], list[str]]] = [
    # --- non-finite numbers, wherever the schema says number (every block)
    ("heads_T_nan", "heads", put("heads.T", NAN), ["heads.T: nan is not a finite number"]),
    ("heads_T_inf", "heads", put("heads.T", INF), ["heads.T: inf is not a finite number"]),
    ("heads_T_json_1e309", "heads", put("heads.T", json_number("1e309")), ["heads.T:", "finite"]),
    ("heads_v_bar_nan", "heads", put("heads.law.v_bar", NAN), ["heads.law.v_bar:", "finite"]),
    ("heads_sigma_v_inf", "heads", put("heads.law.sigma_v", INF), ["heads.law.sigma_v:"]),
    ("heads_beta_nan", "heads", put("heads.grids.tokens.beta", [NAN]), ["tokens.beta[0]:"]),
    ("heads_beta_inf", "heads", put("heads.grids.depth_heads.beta", [1.0, INF]), ["beta[1]:"]),
    ("heads_margin_inf", "heads", put("heads.fits.solver_margin", INF), ["solver_margin:"]),
    ("heads_level_nan", "heads", put("heads.fits.level", NAN), ["heads.fits.level:", "finite"]),
    ("sde_T_inf", "sde", put("sde.T", INF), ["sde.T: inf is not a finite number"]),
    ("sde_dt_nan", "sde", put("sde.sync.dt", NAN), ["sde.sync.dt:", "finite"]),
    ("sde_sigma_inf", "sde", put("sde.rows.1.sigma", INF), ["sde.rows[1].sigma:", "finite"]),
    ("adamw_lr_nan", "adamw", put("adamw.optimizer.lr", NAN), ["adamw.optimizer.lr:", "finite"]),
    ("adamw_eps_inf", "adamw", put("adamw.grids.eps.eps", [INF]), ["adamw.grids.eps.eps[0]:"]),
    ("adamw_teacher_-inf", "adamw", put("adamw.task.teacher_v_bar", -INF), ["teacher_v_bar:"]),
    ("lowtemp_factor_nan", "lowtemp", put("lowtemp.regime.factor", NAN), ["regime.factor:"]),
    ("lowtemp_v_nan", "lowtemp", put("lowtemp.heads.gap_half.v", [1.0, NAN]), ["gap_half.v[1]:"]),
    ("lowtemp_beta_inf", "lowtemp", put("lowtemp.betas", [2, INF]), ["lowtemp.betas[1]:"]),
    ("lowtemp_scale_inf", "default", put("lowtemp.heads.random.scale", INF), ["random.scale:"]),
    ("plots_beta_nan", "heads", put("plots.trajectories.beta", NAN), ["trajectories.beta:"]),
    ("budget_hours_nan", "heads", put("runtime.budget.hours", NAN), ["runtime.budget.hours:"]),
    ("budget_memory_-inf", "heads", put("runtime.budget.memory_mb", -INF), ["budget.memory_mb:"]),
    ("budget_hours_zero", "heads", put("runtime.budget.hours", 0), ["runtime.budget.hours:"]),
    ("seeds_over_64_bits", "heads", put("heads.seeds", 2**70), ["heads.seeds:", "64-bit"]),
    # --- resources: the largest job of a kind over runtime.budget, before any job
    ("heads_N_huge", "heads", put("heads.grids.tokens.N", [10_000_000]), ["heads.grids.tokens.N:"]),
    ("heads_atoms_huge", "heads", put("heads.law.atoms", 10**9), ["heads.law.atoms:", "MB"]),
    ("heads_inputs_huge", "heads", put("heads.inputs.count", 10**9), ["heads.inputs.count:"]),
    (
        "heads_H_huge",
        "heads",
        put("heads.grids.depth_heads.H", [1, 4, 10**9]),
        ["heads.grids.depth_heads.H:", "heads_cell", "H=1000000000"],
    ),
    ("heads_bootstrap_huge", "heads", put("heads.fits.bootstrap", 10**10), ["fits.bootstrap:"]),
    ("plots_dpi_huge", "heads", put("plots.dpi", 100_000), ["plots.dpi:", "heads_plots"]),
    ("lowtemp_dpi_huge", "lowtemp", put("plots.dpi", 100_000), ["plots.dpi:", "lowtemp_plots"]),
    (
        "adamw_steps_huge",
        "adamw",
        put("adamw.optimizer.steps", 10**9),
        ["optimizer.steps:", "hours"],
    ),
    ("adamw_seeds_huge", "adamw", put("adamw.seeds", 10**8), ["adamw.seeds:", "adamw_cell"]),
    (
        "adamw_bootstrap_huge",
        "adamw",
        put("adamw.fits.bootstrap", 10**10),
        ["adamw.fits.bootstrap:"],
    ),
    (
        "sde_fine_2_40",
        "sde",
        put("sde.depth.fine", 2**40),
        ["sde.depth.fine:", "sde_depth", "hours"],
    ),
    ("sde_N_ref_huge", "sde", put("sde.chaos.N_ref", 10**7), ["sde.chaos.N_ref:", "sde_chaos"]),
    ("sde_paths_huge", "sde", put("sde.sync.paths", 10**9), ["sde.sync.paths:", "sde_sync"]),
    ("sde_mc_huge", "sde", put("sde.kernel_table.mc_samples", 10**13), ["mc_samples:"]),
    ("sde_bootstrap_huge", "sde", put("sde.fits.bootstrap", 10**13), ["sde.fits.bootstrap:"]),
    ("lowtemp_size_huge", "lowtemp", put("lowtemp.measure.size", 100_000), ["measure.size:"]),
    (
        "lowtemp_terminal_huge",
        "lowtemp",
        put("lowtemp.terminal.sizes", [2, 100_000]),
        ["lowtemp.terminal.sizes:", "size=100000"],
    ),
    (
        "tiny_memory_budget",
        "default",
        put("runtime.budget.memory_mb", 100),
        ["over runtime.budget.memory_mb = 100"],
    ),
    ("tiny_time_budget", "sde", put("runtime.budget.hours", 1e-4), ["over runtime.budget.hours"]),
    # --- bounds of the mathematics (and of the arrays)
    ("heads_v_bar_zero", "heads", put("heads.law.v_bar", 0.0), ["heads.law.v_bar: 0.0 is not"]),
    ("adamw_v_bar_zero", "adamw", put("adamw.law.v_bar", 0), ["adamw.law.v_bar: 0 is not"]),
    ("sde_N_over_N_ref", "sde", put("sde.chaos.N", [8, 256]), ["sde.chaos.N[1]:", "N_ref = 128"]),
    ("sde_N_ref_one", "sde", put("sde.chaos.N_ref", 1), ["sde.chaos.N_ref:", "minimum of 2"]),
    ("sde_mc_three", "sde", put("sde.kernel_table.mc_samples", 3), ["mc_samples:", "minimum of 4"]),
    (
        "sde_effective_paths",
        "sde",
        put("sde.fits.min_effective_paths", 17),
        ["sde.fits.min_effective_paths:", "sde.sync.paths = 16"],
    ),
    ("sde_levels_huge", "sde", put("sde.depth.levels", 10**18), ["sde.depth.levels:"]),
    (
        "heads_records_huge",
        "heads",
        put("heads.limit.records", 10**15 + 1),
        ["heads.grids.depth_heads.L[0]:", "among the divisors of 1000000000000001"],
    ),
    (
        "lowtemp_empty_ball",
        "lowtemp",
        put("lowtemp.measure", {"kind": "ball", "size": 2, "d": 5}),
        ["lowtemp.measure.size:", "no point inside the unit ball"],
    ),
    ("lowtemp_d_over_64", "lowtemp", put("lowtemp.measure", {"kind": "ball", "d": 65}), ["d:"]),
    # --- paths: the results folder is a plain path
    ("results_wildcard", "heads", put("results", "out{N}"), ["results: 'out{N}'", "wildcards"]),
    ("results_brace", "sde", put("results", "out}"), ["results:", "plain path"]),
]


@pytest.mark.parametrize(
    ("base", "modify", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_config_is_refused_naming_the_key(
    bases: dict[str, dict], base: str, modify: Callable[[dict], None], expected: list[str]
) -> None:
    config = copy.deepcopy(bases[base])
    modify(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    for text in expected:
        assert text in message, message
    # every problem line starts with the dotted path of a key of the configuration
    for line in message.splitlines()[1:]:
        assert line.split(":")[0].split(".")[0].split("[")[0] in {*config, *bases["default"]}


def test_at_least_forty_cases_cover_every_block() -> None:
    assert len(INVALID) >= 40
    blocks = {expected[0].split(":")[0].split(".")[0].split("[")[0] for *_, expected in INVALID}
    blocks |= {t.split()[-1] for *_, expected in INVALID for t in expected if "budget" in t}
    for block in ("heads", "sde", "adamw", "lowtemp", "runtime", "plots", "results"):
        assert any(block in b for b in blocks), block


def test_infinity_is_allowed_only_where_the_schema_says_so(bases: dict[str, dict]) -> None:
    """runtime.budget's limits take .inf (no limit); a huge grid then passes."""
    config = copy.deepcopy(bases["heads"])
    set_in(config, "heads.law.atoms", 10**9)
    with pytest.raises(ConfigError):
        validate_config(config)
    set_in(config, "runtime.budget", {"memory_mb": INF, "hours": INF})
    assert validate_config(config)["runtime"]["budget"]["memory_mb"] == INF


def test_a_repeated_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "experiments: [heads]\nheads:\n  T: 1.0\n  law: {atoms: 3, atoms: 4}\n  T: 2.0\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "heads.T: duplicate key" in message and "lines 3 and 5" in message
    assert "heads.law.atoms: duplicate key" in message
    with pytest.raises(ConfigError, match="duplicate key"):
        read_config(path)
    # YAML's merge keys override on purpose, and the same name in two mappings is no repeat
    path.write_text("a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n", encoding="utf-8")
    assert read_config(path) == {"a": {"k": 1}, "b": {"k": 2}}


def test_an_empty_config_file_is_refused_as_snakemake_does(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"<config>: .* is empty; .*write \{\}"):
        load_config(path)
    path.write_text("{}\n", encoding="utf-8")
    assert load_config(path) == validate_config({})


# --------------------------------------------------------------------------- the budget


def test_default_configs_fit_the_default_budget() -> None:
    default = validate_config({})["runtime"]["budget"]
    for name in (
        "config.yaml",
        "test.yaml",
        "test_sde.yaml",
        "test_adamw.yaml",
        "test_lowtemp.yaml",
    ):
        config = load_config(CONFIGS / name)
        assert config["runtime"]["budget"] == default, name


def test_paper_needs_and_declares_its_budget() -> None:
    """config/paper.yaml declares a larger budget (its comment says why); without it, the
    default budget refuses it, naming the jobs its comment names."""
    raw = read_config(CONFIGS / "paper.yaml")
    assert load_config(CONFIGS / "paper.yaml")["runtime"]["budget"] == raw["runtime"]["budget"]
    del raw["runtime"]["budget"]
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    message = str(info.value)
    for job in ("heads_fit", "adamw_cell", "sde_sync", "heads_limit"):
        assert f"job {job}" in message, job


def _largest(config: dict) -> dict[str, budget.Estimate]:
    """The largest estimate (memory, then time) of every job kind of ``config``."""
    out = {}
    for name in config["experiments"]:
        for job in registered()[name].jobs:
            keys = list(job.keys(config)) if job.keyed else [None]
            estimates = [job.estimate(config, key) for key in keys]
            out[f"{name}_{job.name}"] = max(estimates, key=lambda e: (e.memory_mb, e.seconds))
    return out


def test_every_builtin_job_kind_declares_an_estimate() -> None:
    config = load_config(CONFIGS / "config.yaml")
    largest = _largest(config)
    assert len(largest) == sum(len(e.jobs) for e in registered().values())
    for name, estimate in largest.items():
        assert budget.BASE_MB / 2 < estimate.memory_mb < 10_000, name
        assert budget.START_SECONDS <= estimate.seconds < 3600, name
        assert estimate.sizes, name


#: Measured jobs of a default run (max RSS MB, CPU s), by job kind and key in config/config.yaml:
#: Snakemake benchmarks of unbatched runs, and for the kinds added since batching, one key run by
#: its runner in a fresh process. The estimates must stay within a few times of them.
MEASURED = [
    ("heads", "cell", {"mask": "causal", "N": 256, "L": 32, "H": 16}, 721, 14.1),
    ("heads", "limit", {"mask": "causal", "N": 256}, 442, 14.1),
    ("heads", "adversarial", {"mask": "causal", "L": 16, "H": 1}, 400, 7.0),
    ("adamw", "study_limit", {"variant": "blockwise", "d": 12}, 986, 6.6),
    ("adamw", "limit", {"variant": "blockwise", "N": 64}, 588, 43.1),
    ("adamw", "study_cell", {"variant": "blockwise", "d": 12}, 557, 3.9),
    ("sde", "depth", {"activation": "relu", "d": 64, "sign": 1}, 913, 73.2),
    ("sde", "depth", {"activation": "tanh", "d": 5, "sign": 0}, 688, 42.1),
    ("sde", "width", {"activation": "relu", "d": 64}, 637, 7.6),
    ("sde", "sync", {"activation": "relu", "d": 64, "sign": -1}, 1507, 12.9),
    ("sde", "chaos", 5, 823, 15.0),
    ("sde", "kernel_table", None, 444, 8.2),
    ("sde", "joint_width", {"activation": "tanh"}, 548, 6.5),
    ("sde", "joint_tokens", {"activation": "tanh"}, 472, 8.5),
    ("sde", "odd", {"activation": "tanh"}, 385, 5.0),
    ("lowtemp", "run", {"head": "gap_quarter", "variant": "consensus"}, 555, 27.9),
    ("lowtemp", "terminal", {"head": "identity", "variant": "plain", "size": 16}, 537, 25.1),
    ("lowtemp", "sweep", {"head": "random", "family": "halton", "size": 12}, 379, 7.1),
]


def _key(config: dict, experiment: str, job: str, wanted: Any) -> Any:
    kind = registered()[experiment].job(job)
    if not kind.keyed:
        return None
    keys = kind.keys(config)
    if not isinstance(wanted, dict):
        return next(k for k in keys if k == wanted)
    return next(
        k for k in keys if all(dataclasses.asdict(k)[f] == v for f, v in wanted.items())
    )  # the first key with these fields (the others differ in what the job does not grow with)


@pytest.mark.parametrize(
    ("experiment", "job", "key", "rss", "cpu"), MEASURED, ids=[f"{m[0]}_{m[1]}" for m in MEASURED]
)
def test_estimates_are_calibrated_on_the_default_run(
    experiment: str, job: str, key: Any, rss: float, cpu: float
) -> None:
    config = load_config(CONFIGS / "config.yaml")
    estimate = (
        registered()[experiment].job(job).estimate(config, _key(config, experiment, job, key))
    )
    assert 0.8 < estimate.memory_mb / rss < 2.5
    assert 0.5 < estimate.seconds / cpu < 5


# Size parameters of every keyed job kind's cost model (a job's spec → (MB, seconds)): paths in
# the spec, doubled again and again; lists are scaled entry by entry.
SIZES: dict[str, tuple[Callable[[dict], tuple[float, float]], str, tuple[str, ...]]] = {
    "heads_limit": (
        heads_grid.limit_cost, "limit",
        ("N", "d", "inputs.count", "law.atoms", "limit.records", "limit.substeps"),
    ),
    "heads_cell": (
        heads_grid.cell_cost, "cell",
        ("N", "d", "L", "H", "seeds", "inputs.count", "law.atoms"),
    ),
    "adamw_limit": (
        adamw_grid.limit_cost, "limit",
        ("N", "d", "law.atoms", "task.inputs", "task.teacher_steps", "task.teacher_atoms",
         "optimizer.steps", "limit.steps"),
    ),
    "adamw_cell": (
        adamw_grid.cell_cost, "cell",
        ("N", "d", "L", "H", "seeds", "law.atoms", "task.inputs", "optimizer.steps",
         "limit.steps"),
    ),
    "sde_depth": (sde_grid.depth_cost, "depth", ("N", "d", "fine", "seeds", "levels", "L")),
    "sde_width": (sde_grid.width_cost, "width", ("N", "d", "L", "seeds", "m")),
    "sde_sync": (
        sde_grid.sync_cost, "sync",
        ("N", "d", "paths", "horizon", "two_point.paths", "two_point.steps"),
    ),
    "sde_chaos": (
        sde_grid.chaos_cost, "chaos", ("N", "N_ref", "P", "L", "replicas", "floor_times", "d"),
    ),
    "lowtemp_run": (
        lowtemp_grid.run_cost, "run", ("measure.size", "records", "substeps", "exact_max"),
    ),
    "lowtemp_terminal": (
        lowtemp_grid.terminal_cost, "terminal", ("measure.size", "records", "substeps"),
    ),
    "lowtemp_sweep": (
        lowtemp_sweep.sweep_cost, "sweep", ("measure.size", "records", "substeps", "exact_max"),
    ),
}  # fmt: skip


def _get(spec: dict, path: str) -> Any:
    for part in path.split("."):
        spec = spec[part]
    return spec


def _scaled(value: Any, factor: int) -> Any:
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    return type(value)(value * factor)


@pytest.mark.parametrize("kind", sorted(SIZES))
def test_each_keyed_estimate_grows_with_every_size(kind: str) -> None:
    cost, job, paths = SIZES[kind]
    experiment = kind.split("_")[0]
    config = load_config(CONFIGS / "config.yaml")
    spec_of = registered()[experiment].job(job).spec
    keys = registered()[experiment].job(job).keys(config)
    for key in keys[:: max(1, len(keys) // 4)]:
        spec = json.loads(json.dumps(spec_of(config, key)))
        for path in paths:
            previous = cost(spec)
            for factor in (2, 4, 16, 1024):
                bigger = copy.deepcopy(spec)
                set_in(bigger, path, _scaled(_get(spec, path), factor))
                now = cost(bigger)
                assert now[0] >= previous[0] and now[1] >= previous[1], (kind, path, factor)
                previous = now
            assert math.isfinite(previous[0]) or previous[0] == INF


# Size keys of every single job kind: config paths, doubled again and again.
SINGLE_SIZES = {
    "heads_aggregate": ("heads.seeds", "heads.inputs.count"),
    "heads_fit": ("heads.seeds", "heads.inputs.count", "heads.fits.bootstrap"),
    "heads_plots": ("plots.dpi", "heads.seeds"),
    "sde_kernel_table": ("sde.kernel_table.mc_samples", "sde.kernel_table.dims"),
    "sde_fit": ("sde.sync.paths", "sde.fits.bootstrap", "sde.depth.seeds", "sde.sync.horizon"),
    "sde_plots": ("plots.dpi", "sde.sync.paths"),
    "adamw_fit": ("adamw.seeds", "adamw.optimizer.steps", "adamw.fits.bootstrap"),
    "adamw_plots": ("plots.dpi",),
    "lowtemp_fit": ("lowtemp.measure.size", "lowtemp.records"),
    "lowtemp_plots": ("plots.dpi", "lowtemp.measure.size"),
}


@pytest.mark.parametrize("kind", sorted(SINGLE_SIZES))
def test_each_single_estimate_grows_with_every_size(kind: str) -> None:
    experiment, job = kind.split("_", 1)
    estimate = registered()[experiment].job(job).estimate
    config = load_config(CONFIGS / "config.yaml")
    for path in SINGLE_SIZES[kind]:
        previous = estimate(config, None)
        value = _get(config, path)
        for factor in (2, 4, 16, 1024):
            bigger = copy.deepcopy(config)
            set_in(bigger, path, _scaled(value, factor))
            now = estimate(bigger, None)
            assert now.memory_mb >= previous.memory_mb, (kind, path, factor)
            assert now.seconds >= previous.seconds, (kind, path, factor)
            previous = now


def test_particles_are_counted_without_building_large_measures() -> None:
    from attnlimits.lowtemp.measures import particle_count

    for kind, size, d in (("disc", 12, 2), ("disc", 3, 2), ("ball", 12, 3), ("ball", 7, 4)):
        assert lowtemp_grid.particles(kind, size, d) == particle_count(kind, size, d)
        assert lowtemp_grid.particles_bound(kind, size, d) >= particle_count(kind, size, d)
    # far beyond what could be built: by formula, at once
    assert lowtemp_grid.particles("disc", 100_000, 2) == 4e10
    assert lowtemp_grid.particles("ball", 10**6, 3) > 1e17
    assert lowtemp_grid.particles("ball", 2, 5) == 0
