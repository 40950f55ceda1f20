"""Where a job's time goes: start-up, imports, writing stores, numerics.

Every job ends its log with one line (:func:`summary`)::

    time: 12.3 s since its process started: 2.9 s start-up, 0.4 s importing, 0.6 s writing
    stores, 8.4 s numerics

- *start-up*: from the process's start (the interpreter, Snakemake's script wrapper, unpickling
  the job) to the call of the runner;
- *importing*: the ``import`` statements the runner executes (the numerics libraries it imports
  lazily: torch, xarray, …), measured around the outermost ones;
- *writing stores*: :func:`attnlimits.storage.write_atomic`, manifest included;
- *numerics*: the rest of the runner's time: computing, and reading its inputs.

The pipeline benchmark (``benchmarks/pipeline.py``) sums these lines over a run's jobs.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The log line's prefix, and the phases it names (what the benchmark reads back).
PREFIX = "time: "
PHASES = ("start-up", "importing", "writing stores", "numerics")

_WRITING = [0.0]


def add_writing(seconds: float) -> None:
    """Count ``seconds`` spent writing a store (:func:`attnlimits.storage.write_atomic`)."""
    _WRITING[0] += seconds


def process_age() -> float:
    """Seconds since this process started (its creation time, as the OS records it)."""
    import psutil  # a dependency of Snakemake

    return max(0.0, time.time() - psutil.Process().create_time())


@contextmanager
def counting_imports() -> Iterator[list[float]]:
    """Within the context, the seconds spent in ``import`` statements (the outermost ones:
    an import that another import runs is counted once), as ``[seconds]``."""
    spent = [0.0]
    depth = [0]
    original = builtins.__import__

    def timed(*args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return original(*args, **kwargs)
        depth[0] += 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
            depth[0] -= 1

    builtins.__import__ = timed
    try:
        yield spent
    finally:
        builtins.__import__ = original


@contextmanager
def job_phases() -> Iterator[dict[str, float]]:
    """Time the runner's call: the phases of the module docstring, filled when it exits."""
    startup = process_age()
    written = _WRITING[0]
    start = time.perf_counter()
    phases: dict[str, float] = {}
    with counting_imports() as imports:
        yield phases
    runner = time.perf_counter() - start
    writing = _WRITING[0] - written
    phases.update(
        {
            "start-up": startup,
            "importing": imports[0],
            "writing stores": writing,
            "numerics": max(0.0, runner - imports[0] - writing),
        }
    )


def summary(phases: dict[str, float]) -> str:
    """The log line of a job's phases (module docstring)."""
    total = sum(phases[p] for p in PHASES)
    parts = ", ".join(f"{phases[p]:.2f} s {p}" for p in PHASES)
    return f"{PREFIX}{total:.2f} s since its process started: {parts}"
