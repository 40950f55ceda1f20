"""Experiment ``lowtemp`` (docs/mathematics.md): P3's mean-field transformer at low temperature,
declared.

run (per head, variant: finite-β and hardmax flows, W2 over the (β, t) grid)
terminal (per head, variant, size: the hardmax flow against the push-forward of μ₀)
sweep (per head, variant, particle family, size: the N sweep at the runs' β's and claim times)
window (per metastable head, variant, size: the long-horizon flows' W2 to the push-forward)
→ fit (slopes in β, t*(β), terminal law, long-time phase, regime in N, metastable window;
claims) → plots.
"""

from __future__ import annotations

from typing import Any

from attnlimits.lowtemp import captions
from attnlimits.lowtemp import convergence_grid as cg
from attnlimits.lowtemp import grid as g
from attnlimits.lowtemp import window_grid as wg
from attnlimits.registry import Experiment, Job, grid_job, published

RUNNERS = "attnlimits.lowtemp.jobs"


def _runs(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    return {"runs": EXPERIMENT.keyed_outputs(config, "run")}


def _terminals(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    return {"terminals": EXPERIMENT.keyed_outputs(config, "terminal")}


def _sweeps(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    return {"sweeps": EXPERIMENT.keyed_outputs(config, "sweep")}


def _windows(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    return {"windows": EXPERIMENT.keyed_outputs(config, "window")}


def _fit_spec(config: dict[str, Any], key: Any) -> dict[str, Any]:
    """The fit's options and the settings of the block it reads besides them."""
    low = config["lowtemp"]
    blocks = ("regime", "measure", "convergence", "metastable")
    return {**low["fits"], **{name: low[name] for name in blocks}}


EXPERIMENT = Experiment(
    name="lowtemp",
    title="P3: low temperature",
    jobs=(
        grid_job(
            "lowtemp",
            "run",
            f"{RUNNERS}:run",
            g.RUN_PATTERN,
            g.run_keys,
            g.run_path,
            g.run_spec,
            g.find,
            wildcards=g.WILDCARD_CONSTRAINTS,
            estimate=g.estimate_run,
            per_job=4,
            priority=2,
        ),
        grid_job(
            "lowtemp",
            "terminal",
            f"{RUNNERS}:terminal",
            g.TERMINAL_PATTERN,
            g.terminal_keys,
            g.terminal_path,
            g.terminal_spec,
            g.find,
            wildcards=g.WILDCARD_CONSTRAINTS,
            estimate=g.estimate_terminal,
            per_job=16,
            priority=2,
        ),
        grid_job(
            "lowtemp",
            "sweep",
            f"{RUNNERS}:sweep",
            cg.SWEEP_PATTERN,
            cg.sweep_keys,
            cg.sweep_path,
            cg.sweep_spec,
            g.find,
            wildcards=cg.WILDCARD_CONSTRAINTS,
            estimate=cg.estimate_sweep,
            per_job=8,
            priority=2,
        ),
        grid_job(
            "lowtemp",
            "window",
            f"{RUNNERS}:window",
            wg.WINDOW_PATTERN,
            wg.window_keys,
            wg.window_path,
            wg.window_spec,
            g.find,
            wildcards=wg.WILDCARD_CONSTRAINTS,
            estimate=wg.estimate_window,
            per_job=4,
            priority=2,
        ),
        Job(
            name="fit",
            runner=f"{RUNNERS}:fit",
            spec=_fit_spec,
            needs=lambda c, k: {
                **_runs(c, k),
                **_terminals(c, k),
                **_sweeps(c, k),
                **_windows(c, k),
            },
            reads=("run", "terminal", "sweep", "window"),
            outputs=("tables",),
            memory_mb=4000,
            estimate=g.estimate_fit,
            priority=1,
        ),
        Job(
            name="plots",
            runner=f"{RUNNERS}:plots",
            spec=lambda c, k: c["plots"],
            needs=lambda c, k: {"tables": "lowtemp/tables", **_runs(c, k)},
            reads=("run",),
            outputs=("plots",),
            estimate=g.estimate_plots,
        ),
    ),
    tables=captions.TABLES,
    figures=captions.FIGURES,
    claims="attnlimits.lowtemp.claims:CLAIMS",
    check="attnlimits.lowtemp.checks:problems",
    schema="attnlimits.lowtemp:schema.yaml",
    datasets=published(
        "attnlimits.lowtemp.datasets",
        results="groups runs and terminal, the runs along `run` (head, variant, size)",
        statistics="the fit's slopes in beta per (head, variant, time) with intervals",
    ),
)
