"""The experiment registry: what each experiment declares, in one place inside its own package.

An experiment is a package with a module ``experiment`` that defines ``EXPERIMENT``, an
:class:`Experiment`: its job kinds (:class:`Job`: a path pattern, the keys to run, each key's
parameters and inputs, the runner), the datasets it publishes (:class:`Dataset`), its tables and
figures (name → caption), its claims (:mod:`attnlimits.analysis.claims`), the schema of its
config block and its configuration checks. Everything shared loops over the registry: the
workflow's rules and ``rule all``, the report and its captions, the verdict page, configuration
validation, the downstream API (:func:`attnlimits.open_results`) and the tests that iterate over
experiments.

The registered experiments are :data:`BUILTIN` and, for a run, the modules listed under the
config key ``plugins`` (one line per extra experiment; ``docs/adding-an-experiment.md``).

This module is imported while Snakemake parses the workflow: it imports no numerics, and an
experiment's ``experiment`` module must not either (runners are named, not imported).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attnlimits.batches import Batch, batched_pattern, make_batches, member_path

#: The experiments of this package: name → module defining ``EXPERIMENT``.
BUILTIN: dict[str, str] = {
    "heads": "attnlimits.heads.experiment",
    "sde": "attnlimits.sde.experiment",
    "adamw": "attnlimits.adamw.experiment",
    "lowtemp": "attnlimits.lowtemp.experiment",
}

Config = Mapping[str, Any]
#: Outputs of single jobs that are stores (``<experiment>/<name>.zarr``): the consolidated
#: results and the statistics of an experiment (the datasets ``open_results`` and
#: ``open_statistics`` read).
STORES = ("results", "statistics")


def _nothing(config: Config, key: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class StoreOf:
    """A need (``Job.needs``): the store of ``key`` of the same experiment's keyed job ``job``.

    Snakemake waits for the job that writes it (:meth:`Experiment.inputs_of`: the store, or the
    folder of its batch for a batched kind) and the runner reads the store itself
    (:meth:`Experiment.reads_of`), wherever the batching put it."""

    job: str
    key: Any


Need = str | list[str] | StoreOf


@dataclass(frozen=True)
class Job:
    """One kind of job of an experiment (one Snakemake rule ``<experiment>_<name>``).

    A *keyed* job runs once per key of ``keys(config)`` and writes one store at ``path(config,
    key)``, a results-relative path matching ``pattern`` (whose wildcards are the key's fields and
    ``hash``, the hash of every other setting; :mod:`attnlimits.grids`). A *single* job
    (``pattern`` None) runs once and writes the named ``outputs``: ``statistics`` (a store),
    ``tables`` and ``plots`` (folders of the experiment's declared tables and figures).

    ``runner`` names the function that does the work, ``"module:function"``; it is imported
    only inside the job, and the job's code version is the import closure of that module
    (:func:`attnlimits.provenance.code_version`). ``spec(config, key)`` is everything the
    numbers depend on (recorded in the store, part of the rule's parameters); ``needs(config,
    key)`` the inputs by name: a results-relative path, a list of them, or the store of a key of
    another keyed job (:class:`StoreOf`).

    ``estimate(config, key)`` (key None for a single job) is the job's estimated peak memory and
    CPU time, an :class:`attnlimits.budget.Estimate` computed from the settings by a formula
    (nothing allocated); validation refuses a configuration whose largest job of a kind exceeds
    ``runtime.budget`` (:func:`attnlimits.budget.budget_problems`). None: not checked.
    """

    name: str
    runner: str
    spec: Callable[[Config, Any], Mapping[str, Any]]
    pattern: str | None = None
    keys: Callable[[Config], Sequence[Any]] | None = None
    path: Callable[[Config, Any], str] | None = None
    find: Callable[[Sequence[Any], Any], Any] | None = None
    needs: Callable[[Config, Any], Mapping[str, Need]] = _nothing
    outputs: tuple[str, ...] = ()
    memory_mb: int | Callable[[Mapping[str, Any]], int] = 2000
    runtime_min: int = 60
    wildcards: Mapping[str, str] = field(default_factory=dict)
    #: a few seconds of pandas: run on the submitting machine, not as a cluster job
    local: bool = False
    estimate: Callable[[Config, Any], Any] | None = None
    #: keys per job by default for a cheap keyed job (:mod:`attnlimits.batches`; overridden by
    #: ``runtime.cells_per_job.<experiment>_<name>``); None: one job per key
    per_job: int | None = None
    #: Snakemake's priority among the jobs ready to run: the number of job kinds that wait for
    #: this one one after the other (a heads limit: cells, aggregate, fit, plots: 4), so that
    #: the long chains start first and their short tails do not end the run on one core
    priority: int = 0
    #: the keyed jobs of the same experiment whose stores the runner reads (a single job):
    #: their paths, in key order, are the job's parameter ``stores`` (JobContext.stores)
    reads: tuple[str, ...] = ()

    @property
    def keyed(self) -> bool:
        return self.pattern is not None

    @property
    def batched(self) -> bool:
        return self.per_job is not None

    def key_of(self, config: Config, wildcards: Any) -> Any:
        """The key whose path has these wildcards (keyed jobs)."""
        assert self.keys is not None and self.find is not None
        return self.find(_keys(self, config), wildcards)


def grid_job(
    block: str,
    name: str,
    runner: str,
    pattern: str,
    keys: Callable[[Config], Sequence[Any]],
    path: Callable[[Config, Any], str],
    spec: Callable[[Config, Any], Mapping[str, Any]],
    find: Callable[[Sequence[Any], Any], Any],
    needs: Callable[[Config, Any], Mapping[str, Need]] | None = None,
    **options: Any,
) -> Job:
    """A keyed job whose keys, paths, parameters and inputs are the grid functions of the config
    block ``block`` (each taking that block, as every experiment's ``grid`` module does); so is
    its ``estimate`` option, whose keys are then named under ``block``."""
    estimate = options.pop("estimate", None)
    if estimate is not None:
        options["estimate"] = lambda config, key: estimate(config[block], key).under(block)
    return Job(
        name=name,
        runner=runner,
        pattern=pattern,
        keys=lambda config: keys(config[block]),
        path=lambda config, key: path(config[block], key),
        spec=lambda config, key: spec(config[block], key),
        needs=_nothing if needs is None else (lambda config, key: needs(config[block], key)),
        find=find,
        **options,
    )


_KEY_CACHE: dict[tuple[int, int], tuple[Config, Sequence[Any]]] = {}
_NEEDS_CACHE: dict[tuple[int, int], tuple[Config, dict[Any, Any]]] = {}
_BATCH_CACHE: dict[tuple[int, int], tuple[Any, ...]] = {}


def _keys(job: Job, config: Config) -> Sequence[Any]:
    """``job.keys(config)``, computed once per (config, job) while the workflow is parsed."""
    cached = _KEY_CACHE.get((id(config), id(job)))
    if cached is None or cached[0] is not config:
        assert job.keys is not None
        cached = (config, list(job.keys(config)))
        _KEY_CACHE[(id(config), id(job))] = cached
    return cached[1]


@dataclass(frozen=True)
class Dataset:
    """A dataset an experiment publishes for reuse (:func:`attnlimits.open_results`).

    ``opener`` (``"module:function"``, called with the results folder and the experiment's
    config, or None when the configuration is not known) returns it lazily; ``doc``
    lists its variables and coordinates.
    """

    opener: str
    doc: str


def published(module: str, results: str, statistics: str) -> dict[str, Dataset]:
    """The two datasets of an experiment whose ``module`` defines ``open_results`` and
    ``open_statistics``, documented by ``results`` and ``statistics``."""
    return {
        "results": Dataset(f"{module}:open_results", results),
        "statistics": Dataset(f"{module}:open_statistics", statistics),
    }


@dataclass(frozen=True)
class Experiment:
    """Everything an experiment declares (module docstring)."""

    name: str
    title: str
    jobs: tuple[Job, ...]
    tables: Mapping[str, str]
    figures: Mapping[str, str]
    claims: str
    datasets: Mapping[str, Dataset] = field(default_factory=dict)
    check: str | None = None
    #: the JSON schema of the config block named like the experiment: ``"package:file.yaml"``, a
    #: YAML (or ``.json``) file inside the package, e.g. ``"attnlimits.heads:schema.yaml"``, or
    #: ``"module:function"``, a function returning it (attnlimits.config.block_schema)
    schema: str | None = None

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(f"experiment {self.name} has no job {name!r}")

    def keys(self, config: Config, job: str) -> Sequence[Any]:
        """The keys of the keyed ``job``, in configuration order."""
        return _keys(self.job(job), config)

    def per_job(self, config: Config, job: str) -> int | None:
        """Keys per job of the keyed ``job``: ``runtime.cells_per_job.<experiment>_<job>``,
        else its declared default; None for a job run once per key."""
        kind = self.job(job)
        if not kind.batched:
            return None
        chosen = config.get("runtime", {}).get("cells_per_job", {})
        return int(chosen.get(f"{self.name}_{job}", kind.per_job))

    def _batching(
        self, config: Config, job: str
    ) -> tuple[list[Batch], dict[Any, str], dict[tuple[str, str], Batch], dict[Any, Batch]]:
        """The batches of the batched ``job``, each key's store, the batches by their wildcards
        and each key's batch, computed once per config."""
        kind = self.job(job)
        per_job = self.per_job(config, job)
        assert per_job is not None and kind.pattern is not None and kind.path is not None
        cached = _BATCH_CACHE.get((id(config), id(kind)))
        if cached is None or cached[0] is not config or cached[1] != per_job:
            keys = _keys(kind, config)
            paths = {key: kind.path(config, key) for key in keys}
            found = make_batches(keys, list(paths.values()), kind.pattern, kind.wildcards, per_job)
            of = {key: batch for batch in found for key in batch.keys}
            where = {key: member_path(of[key].folder, paths[key], kind.pattern) for key in keys}
            index = {(b.wildcards["part"], b.wildcards["parts"]): b for b in found}
            cached = (config, per_job, found, where, index, of)
            _BATCH_CACHE[(id(config), id(kind))] = cached
        return cached[2], cached[3], cached[4], cached[5]

    def batches(self, config: Config, job: str) -> list[Batch]:
        """The batches of the batched ``job`` (:mod:`attnlimits.batches`), by index."""
        return self._batching(config, job)[0]

    def batch(self, config: Config, job: str, wildcards: Any) -> Batch:
        """The batch of ``job`` whose folder has these wildcards (``part``, ``parts``)."""
        given = {str(k): str(v) for k, v in wildcards.items()}
        index = self._batching(config, job)[2]
        found = index.get((given.get("part"), given.get("parts")))
        if found is None:
            raise KeyError(f"no batch of {self.name}_{job} matches {given}")
        return found

    def store_paths(self, config: Config, job: str) -> list[str]:
        """The results-relative store of every key of the keyed ``job``, in key order (inside
        its batch's folder for a batched job)."""
        return [self.store_path(config, job, key) for key in _keys(self.job(job), config)]

    def store_paths_of(self, config: Config, job: str, batch: Batch) -> list[str]:
        """The results-relative stores of the keys of one ``batch`` of ``job``."""
        where = self._batching(config, job)[1]
        return [where[key] for key in batch.keys]

    def store_path(self, config: Config, job: str, key: Any) -> str:
        """The results-relative store of one ``key`` of the keyed ``job``."""
        kind = self.job(job)
        assert kind.path is not None
        if not kind.batched:
            return kind.path(config, key)
        where = self._batching(config, job)[1]
        if key not in where:
            raise KeyError(f"{key} is not a key of {self.name}_{job}")
        return where[key]

    def needs_of(self, config: Config, job: str, key: Any) -> Mapping[str, Need]:
        """``needs(config, key)`` of ``job`` (key None for a single job), computed once per
        config and key (a batch's inputs and its members' parameters both ask)."""
        kind = self.job(job)
        cached = _NEEDS_CACHE.get((id(config), id(kind)))
        if cached is None or cached[0] is not config:
            cached = (config, {})
            _NEEDS_CACHE[(id(config), id(kind))] = cached
        found = cached[1].get(key)
        if found is None:
            found = cached[1][key] = kind.needs(config, key)
        return found

    def inputs_of(self, config: Config, job: str, key: Any) -> dict[str, str | list[str]]:
        """The results-relative inputs Snakemake waits for, by name: each :class:`StoreOf` as
        the output of the job that writes it (:meth:`output_of`)."""
        return self._needs_as(config, job, key, self.output_of)

    def reads_of(self, config: Config, job: str, key: Any) -> dict[str, str | list[str]]:
        """The results-relative inputs the runner reads (``JobContext.input``), by name: each
        :class:`StoreOf` as the store itself (:meth:`store_path`)."""
        return self._needs_as(config, job, key, self.store_path)

    def _needs_as(
        self, config: Config, job: str, key: Any, where: Callable[[Config, str, Any], str]
    ) -> dict[str, str | list[str]]:
        """The needs of ``job``'s ``key``, each :class:`StoreOf` replaced by ``where`` of it."""
        return {
            name: where(config, need.job, need.key) if isinstance(need, StoreOf) else need
            for name, need in self.needs_of(config, job, key).items()
        }

    def output_of(self, config: Config, job: str, key: Any) -> str:
        """The results-relative output of the job that computes ``key`` of the keyed ``job``:
        its store, or its batch's folder."""
        if not self.job(job).batched:
            return self.store_path(config, job, key)
        found = self._batching(config, job)[3].get(key)
        if found is None:
            raise KeyError(f"{key} is not a key of {self.name}_{job}")
        return found.folder

    def keyed_outputs(self, config: Config, job: str) -> list[str]:
        """The results-relative outputs of the keyed ``job``'s jobs: a store per key, or a
        folder per batch."""
        if self.job(job).batched:
            return [found.folder for found in self.batches(config, job)]
        return self.store_paths(config, job)

    def store_pattern(self, job: str) -> str:
        """The path pattern of the keyed ``job``'s stores (with the wildcard ``batch``, the
        batch's folder, for a batched job: :func:`attnlimits.batches.batched_pattern`)."""
        kind = self.job(job)
        assert kind.pattern is not None
        return batched_pattern(kind.pattern) if kind.batched else kind.pattern

    def outputs(self, job: Job) -> dict[str, str]:
        """The results-relative outputs of a single ``job``, by name: a store for the names of
        :data:`STORES`, else a folder (of tables, or of figures for ``plots``)."""
        return {name: f"{self.name}/{name}" + (".zarr" if name in STORES else "")
                for name in job.outputs}  # fmt: skip


def load(module: str) -> Experiment:
    """The ``EXPERIMENT`` of ``module``."""
    found = getattr(importlib.import_module(module), "EXPERIMENT", None)
    if not isinstance(found, Experiment):
        raise TypeError(f"{module} defines no EXPERIMENT of type attnlimits.registry.Experiment")
    return found


def registered(plugins: Iterable[str] = ()) -> dict[str, Experiment]:
    """Every registered experiment by name: the built-in ones, then those of ``plugins``."""
    out: dict[str, Experiment] = {}
    for module in [*BUILTIN.values(), *plugins]:
        experiment = load(module)
        if experiment.name in out:
            raise ValueError(f"two experiments named {experiment.name!r} ({module})")
        out[experiment.name] = experiment
    return out


def resolve(target: str) -> Callable[..., Any]:
    """The function named by ``"module:function"``."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
