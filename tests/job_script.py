"""Run a registered job's script (workflow/scripts/job.py) outside Snakemake, as a rule would."""

from __future__ import annotations

import runpy
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attnlimits.registry import registered

SCRIPT = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "job.py"


def run_job_script(
    experiment: str,
    job: str,
    spec: Mapping[str, Any],
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    log: Path,
    config: Mapping[str, Any],
    stores: Mapping[str, list[str]] | None = None,
) -> None:
    """Build the ``snakemake`` object that rule ``<experiment>_<job>`` hands its script; run it.
    ``stores``: the parameter of the stores the job reads (``Job.reads``), by job name."""
    sm = types.SimpleNamespace(
        input=types.SimpleNamespace(**inputs),
        output=types.SimpleNamespace(**outputs),
        log=[str(log)],
        config=config,
        params=types.SimpleNamespace(
            experiment=experiment,
            job=job,
            runner=registered()[experiment].job(job).runner,
            spec=spec,
            code="test",
            stores=dict(stores or {}),
        ),
    )
    runpy.run_path(str(SCRIPT), init_globals={"snakemake": sm})
