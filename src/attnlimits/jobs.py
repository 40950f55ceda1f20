"""What a job's runner receives: :class:`JobContext`, built from Snakemake's job by
:func:`run_job` (the one script of every rule, ``workflow/scripts/job.py``).

A runner is a function ``runner(job: JobContext) -> None`` named by an experiment's
:class:`attnlimits.registry.Job`; it reads ``job.spec`` (its parameters), ``job.input`` and
writes ``job.output``. Only the runner's own module is imported, inside the job.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlimits.progress import job_logger, reporter
from attnlimits.registry import resolve
from attnlimits.storage import commit_path, temporary_path, write_batch_index
from attnlimits.timing import job_phases, summary

#: Runtime settings that can change a number (they are part of a job's parameters); the others
#: (``dask``: where lazy reads run) only change how a job runs.
NUMERIC_RUNTIME = ("device", "torch_threads")
#: The log line of a job that ran library code its code version does not cover (a bug of
#: :mod:`attnlimits.imports`; the workflow tests fail on it).
UNSEEN_CODE = "code outside this job's code version"
#: Environment variable: when set, a job traces which library functions it runs and checks them
#: against its code version (slower; the workflow tests set it).
TRACE_CODE = "ATTNLIMITS_TRACE_CODE"
_PACKAGE = str(Path(__file__).resolve().parent)


def numeric_runtime(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of the config block ``runtime`` that can change a number."""
    return {key: runtime[key] for key in NUMERIC_RUNTIME if key in runtime}


@dataclass
class JobContext:
    """One job: its parameters, inputs, outputs, log and settings."""

    experiment: str
    name: str
    spec: Mapping[str, Any]
    input: Any
    output: Any
    log: logging.Logger
    code: str
    config: Mapping[str, Any]
    #: the stores of the keyed jobs the job reads (``Job.reads``), in key order, by job name
    read: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def block(self) -> Mapping[str, Any]:
        """The experiment's config block."""
        return self.config[self.experiment]

    @property
    def runtime(self) -> Mapping[str, Any]:
        return self.config["runtime"]

    def device(self) -> Any:
        """Fix torch's threads and pick the device (:func:`attnlimits.runtime.setup`)."""
        from attnlimits.runtime import setup

        return setup(numeric_runtime(self.runtime))

    def progress(self, what: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback that logs progress lines."""
        return reporter(self.log, what)

    def provenance(self, params: Mapping[str, Any], seeds: Mapping[str, Any]) -> dict[str, Any]:
        """The provenance attributes of a store this job writes."""
        from attnlimits.provenance import provenance

        return provenance(params, seeds, self.code)

    def stores(self, job: str) -> list[str]:
        """The store of every key of this experiment's keyed ``job`` (declared in ``Job.reads``),
        in key order: inside its batch's folder for a batched kind (:mod:`attnlimits.batches`)."""
        if job not in self.read:
            raise KeyError(f"{self.experiment}_{self.name} does not declare reads={job!r}")
        return list(self.read[job])

    def folder(self, name: str) -> Path:
        """The output folder ``name`` (``tables``, ``plots``), created."""
        path = Path(getattr(self.output, name))
        path.mkdir(parents=True, exist_ok=True)
        return path


class Files(list):
    """Paths by position and by name (``files[0]``, ``files.limit``), like Snakemake's."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        super().__init__(named.values())
        self.__dict__.update(named)


def run_job(snakemake: Any) -> None:
    """Run the job Snakemake hands the script: build its context, call its runner (once per key
    of a batch, :func:`run_batch`)."""
    params = snakemake.params
    log = job_logger(snakemake.log[0], f"{params.experiment}_{params.job}")
    context = {
        "experiment": params.experiment,
        "name": params.job,
        "log": log,
        "code": params.code,
        "config": snakemake.config,
        "read": getattr(params, "stores", None) or {},
    }
    log.info("%s_%s: %s", params.experiment, params.job, params.runner)
    runner = resolve(params.runner)
    batch = getattr(params, "batch", None)
    if batch is None:
        # what the runner reads: a needed store itself, not the folder of its batch
        reads = getattr(params, "runner_input", None)
        inputs = snakemake.input if reads is None else _files(snakemake.config, reads)
        jobs = [JobContext(spec=params.spec, input=inputs, output=snakemake.output, **context)]
        _run_traced(params.runner, runner, jobs, log)
    else:
        folder = temporary_path(snakemake.output[0])
        try:
            jobs = _batch_jobs(context, batch, folder)
            made = _reuse_earlier(jobs, batch, Path(snakemake.output[0]), params, log)
            todo = [
                job for job, member in zip(jobs, batch, strict=True) if not made[member["store"]][1]
            ]
            _run_traced(params.runner, runner, todo, log)
            write_batch_index(folder, {store: digest for store, (digest, _) in made.items()})
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        commit_path(folder, snakemake.output[0])
    log.info("done")


def _run_traced(
    name: str, runner: Callable[[JobContext], None], jobs: list[JobContext], log: Any
) -> None:
    """Run ``runner`` on every job, timed (:mod:`attnlimits.timing`: the job's last log line
    but one); with :data:`TRACE_CODE` set, check the library functions it ran against the
    job's code version."""
    with job_phases() as phases:
        if os.environ.get(TRACE_CODE):
            with _FunctionsRun() as ran:
                _run_all(runner, jobs, log)
            _check_code_version(name, ran.modules(), log)
        else:
            _run_all(runner, jobs, log)
    log.info("%s", summary(phases))


def _batch_jobs(
    context: Mapping[str, Any], members: list[Mapping[str, Any]], folder: Path
) -> list[JobContext]:
    """The context of each key of a batch (:mod:`attnlimits.batches`): its own parameters and
    inputs (results-relative in the job's parameters), its store inside ``folder`` (a
    temporary name of the batch's folder, renamed into place once every store is written)."""
    return [
        JobContext(
            spec=member["spec"],
            input=_files(context["config"], member["input"]),
            output=Files({"store": str(folder / member["store"])}),
            **context,
        )
        for member in members
    ]


def _reuse_earlier(
    jobs: list[JobContext], members: list[Mapping[str, Any]], output: Path, params: Any, log: Any
) -> dict[str, tuple[str | None, bool]]:
    """Per store of a batch: the digest of what makes it (:func:`attnlimits.reuse.made_by`) and
    whether it was linked from an earlier batch folder of the same kind that holds it, made by
    the same (:mod:`attnlimits.reuse`), rather than computed."""
    from attnlimits.reuse import earlier_stores, made_by, reuse_store

    runtime = getattr(params, "runtime", None) or {}
    earlier = earlier_stores(output.parent, skip=output)
    made: dict[str, tuple[str | None, bool]] = {}
    known: dict[str, str | None] = {}  # each input's digest, read once for the whole batch
    for job, member in zip(jobs, members, strict=True):
        inputs = [p for v in job.input for p in ([v] if isinstance(v, str) else v)]
        digest = made_by(member["spec"], params.code, runtime, inputs, known)
        source = earlier.get((member["store"], digest)) if digest is not None else None
        reused = source is not None and reuse_store(source, Path(job.output[0]))
        made[member["store"]] = (digest, reused)
    count = sum(reused for _, reused in made.values())
    if count:
        log.info("%d of %d stores reused from earlier batch folders", count, len(members))
    return made


def _files(config: Mapping[str, Any], paths: Mapping[str, str | list[str]]) -> Files:
    """Results-relative paths (or lists of them), by name, under the results folder."""
    root = Path(config["results"])
    return Files(
        {
            name: str(root / p) if isinstance(p, str) else [str(root / q) for q in p]
            for name, p in paths.items()
        }
    )


def _run_all(runner: Callable[[JobContext], None], jobs: list[JobContext], log: Any) -> None:
    if len(jobs) == 1:
        runner(jobs[0])
        return
    progress = reporter(log, "keys of the batch")
    for done, job in enumerate(jobs, 1):
        runner(job)
        progress(done, len(jobs))


class _FunctionsRun:
    """The library modules whose functions ran while the context was open, by
    :func:`sys.settrace` in this and new threads. A function that a module's top-level code calls
    while it is imported does not count: it runs for every importer, whatever the job computes
    (e.g. a registry filled at import), and the closure covers the module's top level only for
    the modules whose functions the job uses."""

    def __init__(self) -> None:
        self.codes: set[Any] = set()
        self.files: set[str] = set()

    def _trace(self, frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event != "call" or code in self.codes or not code.co_flags & inspect.CO_NEWLOCALS:
            return
        caller = frame.f_back
        while caller is not None:
            name = caller.f_code.co_filename
            if caller.f_code.co_name == "<module>" and name.startswith(_PACKAGE):
                return  # called by a library module's top level, while it is imported
            if not (name.startswith(_PACKAGE) or name.startswith("<frozen importlib")):
                break
            caller = caller.f_back
        self.codes.add(code)
        self.files.add(code.co_filename)

    def __enter__(self) -> _FunctionsRun:
        sys.settrace(self._trace)
        threading.settrace(self._trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]

    def modules(self) -> list[str]:
        from attnlimits.imports import PACKAGE_ROOT

        out = []
        for name in self.files:
            path = Path(name).resolve()
            if path.is_relative_to(PACKAGE_ROOT) and path.suffix == ".py":
                parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
                parts = parts[:-1] if parts[-1] == "__init__" else parts
                out.append(".".join(("attnlimits", *parts)))
        return sorted(out)


def _check_code_version(runner: str, ran: list[str], log: logging.Logger) -> None:
    """Warn (:data:`UNSEEN_CODE`) when a library function ran whose module the job's code version
    (:func:`attnlimits.provenance.code_version` of the runner) does not cover."""
    from attnlimits.imports import unseen_modules
    from attnlimits.provenance import NOT_NUMERICS

    unseen = unseen_modules([runner, __name__], NOT_NUMERICS, ran)
    if unseen:
        log.warning("%s: %s", UNSEEN_CODE, ", ".join(unseen))
