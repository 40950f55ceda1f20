"""Resource estimates of jobs, and the budget every configuration must fit (``runtime.budget``).

Every job kind of an experiment declares ``Job.estimate(config, key)`` (:mod:`attnlimits.registry`):
an :class:`Estimate` of the job's peak memory (MB, resident) and of its CPU time on one core
(seconds), computed from its settings alone by a formula: nothing is allocated, no quadrature
is built, no job is run. Before any job runs, :func:`budget_problems` (called by
:func:`attnlimits.config.validate_config` once every other check has passed) evaluates the
estimate of every job of the configuration and refuses the configuration when the largest job of
a kind exceeds ``runtime.budget.memory_mb`` or ``runtime.budget.hours``, naming the config keys
the estimate grows with and their values.

The estimates are models, not measurements: a fixed start-up cost (the interpreter and the
libraries a job imports, :data:`BASE_MB`, :data:`START_SECONDS`) plus the bytes of the largest
arrays a job holds at once and the arithmetic of its loops, each term a product of its size
parameters with a constant calibrated against the benchmarks of the default run (``benchmarks/``
TSVs: ``max_rss``, ``cpu_time``). They are monotone in every size parameter (more tokens,
layers, heads, seeds, steps, replicates or dots per inch never lower them) and aim at the right
order of magnitude: within a few times of the measured value for the jobs that are not
dominated by the start-up, above it rather than below. Each experiment's ``grid`` module holds
its models and their calibration (``*_cost`` functions of a job's spec, ``estimate_*``
functions of its config block and key).

This module imports no numerics: it is imported while Snakemake parses the workflow.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnlimits.grids import key_fields

#: Resident memory of a job that holds no large array: Python, numpy, torch, xarray, zarr
#: (the default run's smallest jobs peak at 450-520 MB).
BASE_MB = 500.0
#: CPU time of a job that computes nothing: imports, reading and writing its stores (the default
#: run's smallest jobs take 3.5-4.5 s of CPU).
START_SECONDS = 5.0
#: Bytes of a float64.
FLOAT = 8.0


@dataclass(frozen=True)
class Estimate:
    """A job's estimated peak memory (MB) and CPU time on one core (seconds), with the config
    keys the estimate grows with (dotted path → the value it was computed with)."""

    memory_mb: float
    seconds: float
    sizes: Mapping[str, Any] = field(default_factory=dict)

    def under(self, prefix: str) -> Estimate:
        """The same estimate with ``prefix.`` before every key (a config block's name)."""
        sizes = {f"{prefix}.{key}": value for key, value in self.sizes.items()}
        return dataclasses.replace(self, sizes=sizes)


def number(value: Any) -> float:
    """``value`` as a float; an integer too large for one is +inf (never an OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def cost(memory_bytes: float, seconds: float, base_mb: float = BASE_MB) -> tuple[float, float]:
    """(memory in MB, seconds): ``base_mb`` plus ``memory_bytes``, :data:`START_SECONDS` plus
    ``seconds``."""
    return base_mb + memory_bytes / 1e6, START_SECONDS + seconds


def grid_of(grids: Mapping[str, Mapping[str, Sequence[Any]]], key: Any) -> str:
    """The name of the first grid of ``grids`` (name → lists per axis) that holds the key (a
    dataclass whose fields include the grid's axes), for naming the keys a cell grows with."""
    values = key_fields(key)
    for name, grid in grids.items():
        if all(values[axis] in grid[axis] for axis in grid if axis in values):
            return name
    return next(iter(grids))


#: CPU seconds of the bootstrap statistics (``analysis.statistics.gram_statistics``) per
#: multiply-add of the Gram matrices by the B+1 replicate weights and per entry of their
#: product; its peak memory is 1.5 times that product. Measured: 32 cells x 4 inputs x 129
#: layers, R = 16, B = 400: 4.9 s, 1230 MB for an 848 MB product; 8 inputs x 129 layers,
#: R = 64, B = 1000: 5.6 s.
GRAM_PRODUCT_SECONDS, GRAM_ENTRY_SECONDS, GRAM_MEMORY_FACTOR = 8e-10, 3.4e-8, 1.5


def gram_statistics_cost(
    gram_entries: float, seeds: float, replicates: float
) -> tuple[float, float]:
    """(bytes, seconds) of ``gram_statistics`` on Gram matrices of ``gram_entries`` numbers (R x R
    each): the product by the weights holds gram_entries / R x (B+1) numbers."""
    product = gram_entries / max(seeds, 1.0) * replicates
    seconds = GRAM_PRODUCT_SECONDS * gram_entries * replicates + GRAM_ENTRY_SECONDS * product
    return FLOAT * (GRAM_MEMORY_FACTOR * product + gram_entries), seconds


#: Pixels of the largest figure per dot per inch squared: the largest figure of the default run
#: is 2313 x 2303 px at 130 dpi, 315 square inches; 400 leaves room for more panels.
FIGURE_SQUARE_INCHES = 400.0
#: Bytes per pixel of a figure being drawn and written: Agg's RGBA buffer, its copy for the
#: file, the encoder's rows.
BYTES_PER_PIXEL = 12.0
#: CPU seconds per figure besides its pixels (layout, text, many small artists), and per byte
#: of pixels drawn and encoded.
SECONDS_PER_FIGURE, SECONDS_PER_PIXEL_BYTE = 1.5, 2e-9


def plots_estimate(
    config: Mapping[str, Any],
    figures: int,
    data_bytes: float = 0.0,
    data_sizes: Mapping[str, Any] | None = None,
) -> Estimate:
    """A plots job of ``figures`` figures at ``plots.dpi``, reading ``data_bytes`` of stores
    (which grow with the keys ``data_sizes``): memory grows with dpi² (the largest figure's
    pixels) and the data, time with dpi² per figure."""
    dpi = number(config["plots"]["dpi"])
    pixels = dpi * dpi * FIGURE_SQUARE_INCHES
    memory, seconds = cost(
        BYTES_PER_PIXEL * pixels + 2 * data_bytes,
        figures * (SECONDS_PER_FIGURE + BYTES_PER_PIXEL * pixels * SECONDS_PER_PIXEL_BYTE),
    )
    return Estimate(memory, seconds, {"plots.dpi": config["plots"]["dpi"], **(data_sizes or {})})


def _describe(key: Any) -> str:
    if key is None:
        return ""
    if dataclasses.is_dataclass(key) and not isinstance(key, type):
        fields = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in key_fields(key).items())  # fmt: skip
        return f" ({fields})"
    return f" ({key})"


def _schema_default(schema: Mapping[str, Any], path: str) -> Any:
    """The default of the dotted ``path`` in the merged config ``schema``, or None: the yardstick
    that tells which key of an estimate grew most."""
    from attnlimits.config import _resolve

    node: Any = schema
    for part in path.replace("[", ".").replace("]", "").split("."):
        node = _resolve(node, schema)
        if part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        elif isinstance(node.get("items"), Mapping):
            node = node["items"]
        else:
            return None
    return _resolve(node, schema).get("default")


def _growth(value: Any, default: Any) -> float:
    """How far ``value`` is above ``default``: their ratio for numbers (the largest entry of a
    list default), of their lengths for lists; 0 for anything else."""
    if isinstance(value, list):
        return len(value) / max(1, len(default) if isinstance(default, list) else 1)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0.0
    if isinstance(default, list):
        default = max((v for v in default if isinstance(v, (int, float))), default=None)
    ok = isinstance(default, (int, float)) and not isinstance(default, bool) and default > 0
    return number(value) / (float(default) if ok else 1.0)


def _culprit(sizes: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """The key of ``sizes`` furthest above its schema default (:func:`_growth`)."""
    if not sizes:
        return "runtime.budget"
    return max(sizes, key=lambda key: _growth(sizes[key], _schema_default(schema, key)))


def _sizes_text(sizes: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} = {value}" for key, value in sizes.items())


def _worst(
    estimates: Iterable[tuple[Any, Estimate]], attribute: str, limit: float
) -> tuple[Any, Estimate, int, int] | None:
    """The key with the largest estimate of ``attribute`` and how many keys exceed ``limit``."""
    worst, over, total = None, 0, 0
    for key, estimate in estimates:
        total += 1
        value = getattr(estimate, attribute)
        over += value > limit
        if worst is None or value > getattr(worst[1], attribute):
            worst = (key, estimate)
    if worst is None or getattr(worst[1], attribute) <= limit:
        return None
    return (*worst, over, total)


def budget_problems(
    config: Mapping[str, Any], experiments: Mapping[str, Any], schema: Mapping[str, Any]
) -> Iterator[str]:
    """One line per job kind of the configured experiments whose largest job exceeds
    ``runtime.budget`` in memory or in time (module docstring). Job kinds that declare no
    estimate are not checked."""
    budget = config["runtime"]["budget"]
    limits = {
        "memory_mb": (float(budget["memory_mb"]), "runtime.budget.memory_mb"),
        "seconds": (float(budget["hours"]) * 3600.0, "runtime.budget.hours"),
    }
    for name in config["experiments"]:
        for job in experiments[name].jobs:
            if getattr(job, "estimate", None) is None:
                continue
            keys = list(experiments[name].keys(config, job.name)) if job.keyed else [None]
            estimates = [(key, job.estimate(config, key)) for key in keys]
            for attribute, (limit, where) in limits.items():
                found = _worst(estimates, attribute, limit)
                if found is None:
                    continue
                key, estimate, over, total = found
                if attribute == "memory_mb":
                    need = f"about {estimate.memory_mb:.3g} MB of memory, over {where} = {limit:g}"
                else:
                    need = (
                        f"about {estimate.seconds / 3600:.3g} hours of CPU, over {where} = "
                        f"{limit / 3600:g}"
                    )
                many = f" ({over} of its {total} jobs are over)" if total > 1 else ""
                yield (
                    f"{_culprit(estimate.sizes, schema)}: job {name}_{job.name}{_describe(key)} "
                    f"needs {need}{many}; the estimate grows with {_sizes_text(estimate.sizes)}: "
                    f"lower them, or raise {where} (attnlimits.budget)"
                )
