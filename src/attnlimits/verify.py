"""``python -m attnlimits verify [results] [--full]``: check every store under a results folder.

Every store a job finishes records a manifest (:mod:`attnlimits.storage`); this command checks
each store against its own: cheaply by default (manifest and metadata parse and agree, every
chunk file is there with the size it was written with), fully with ``--full`` (every file's
checksum too). It lists each damaged or unfinished store with what is wrong and the command
that rebuilds it, mentions the hidden temporaries of killed jobs (never read; the next run
removes them), and exits with status 1 if any store is damaged, 0 otherwise.

Stores are found by walking the folder without entering them: every entry named ``*.zarr``
(a folder, or the link of a published store). The rule that writes a store is found from its
path through the registered experiments (with ``--configfile``, its plugins too).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlimits.storage import is_temporary, is_version, store_folders, verify_store

#: Exit statuses of :func:`main`.
OK, DAMAGED, USAGE = 0, 1, 2


@dataclass
class Report:
    """What :func:`verify_results` found: the stores checked, the damaged ones (path → problems),
    the temporaries of killed jobs and the time it took."""

    results: Path
    full: bool
    stores: list[Path] = field(default_factory=list)
    damaged: dict[Path, list[str]] = field(default_factory=dict)
    temporaries: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.damaged


def find_stores(results: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """The stores under ``results`` (entries named ``*.zarr``, not entered) and the hidden
    temporaries of killed jobs."""
    stores, temporaries = [], []
    for _, entries in store_folders(results):
        for entry in entries:
            if is_temporary(entry.name):
                temporaries.append(Path(entry.path))
            elif entry.name.endswith(".zarr") and not is_version(entry.name):
                stores.append(Path(entry.path))
    return sorted(stores), sorted(temporaries)


def verify_results(results: str | os.PathLike, full: bool = False) -> Report:
    """Check every store under ``results`` (:func:`attnlimits.storage.verify_store`)."""
    start = time.perf_counter()
    report = Report(Path(results), full)
    report.stores, report.temporaries = find_stores(results)
    for store in report.stores:
        problems = verify_store(store, full=full)
        if problems:
            report.damaged[store] = problems
    report.seconds = time.perf_counter() - start
    return report


def rules_by_path(plugins: Sequence[str] = ()) -> list[tuple[re.Pattern[str], str]]:
    """(results-relative path regex, rule name) of every store a registered job writes."""
    from attnlimits.batches import BATCH_CONSTRAINT, pattern_regex
    from attnlimits.registry import STORES, registered

    out = []
    for experiment in registered(plugins).values():
        for job in experiment.jobs:
            rule = f"{experiment.name}_{job.name}"
            if job.keyed:
                constraints = {**job.wildcards, "batch": BATCH_CONSTRAINT}
                out.append((pattern_regex(experiment.store_pattern(job.name), constraints), rule))
            else:
                for name, path in experiment.outputs(job).items():
                    if name in STORES:
                        out.append((re.compile(re.escape(path)), rule))
    return out


def rebuild_command(
    store: Path, results: Path, rules: Sequence[tuple[re.Pattern[str], str]]
) -> tuple[str | None, str]:
    """The rule that writes ``store`` (None if no registered job does) and the command that
    rebuilds it (a store of a batch: its batch's folder, :mod:`attnlimits.batches`)."""
    try:
        rel = store.relative_to(results).as_posix()
    except ValueError:
        rel = store.as_posix()
    for regex, rule in rules:
        match = regex.fullmatch(rel)
        if match is not None:
            batch = match.groupdict().get("batch")
            target = store if batch is None else results / rel[: match.end("batch")]
            return rule, f"snakemake --forcerun {target} --cores N"
    return None, f"rm -rf {store}  # no registered job writes it: delete it"


def render(report: Report, rules: Sequence[tuple[re.Pattern[str], str]] = ()) -> str:
    """The report as text (what :func:`main` prints)."""
    mode = (
        "full: every file's checksum"
        if report.full
        else "cheap: manifests, metadata, chunk files and their sizes; --full checks checksums"
    )
    lines = [
        f"checked {len(report.stores)} stores under {report.results} in "
        f"{report.seconds:.2f} s ({mode})"
    ]
    for store, problems in report.damaged.items():
        rule, command = rebuild_command(store, report.results, rules)
        lines.append(f"DAMAGED {store}" + (f" (rule {rule})" if rule else ""))
        lines += [f"  - {problem}" for problem in problems]
        lines.append(f"  rebuild: {command}")
    if report.damaged:
        lines.append(
            f"{len(report.damaged)} of {len(report.stores)} stores are damaged or unfinished. "
            "Rebuild each with its command (with the --configfile of the run that made it), or "
            "delete them and run snakemake again: a missing output is rebuilt, and what "
            "depends on it after it."
        )
    else:
        lines.append("every store is complete")
    if report.temporaries:
        lines.append(
            f"{len(report.temporaries)} hidden temporaries of killed or running jobs (never read; "
            "the next run removes those whose job is gone): "
            + ", ".join(str(p) for p in report.temporaries[:5])
            + (" …" if len(report.temporaries) > 5 else "")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m attnlimits verify",
        description="Check every Zarr store under a results folder against its manifest.",
    )
    parser.add_argument(
        "results",
        nargs="?",
        default=None,
        help="the results folder (default: the `results` entry of --configfile, else results)",
    )
    parser.add_argument(
        "--full", action="store_true", help="also compare every file's checksum (reads all data)"
    )
    parser.add_argument(
        "--configfile", help="the run's configuration: its results folder and plugins"
    )
    args = parser.parse_args(argv)
    config: dict[str, Any] = {}
    if args.configfile:
        from attnlimits.config import load_config

        config = load_config(args.configfile)
    results = Path(args.results or config.get("results", "results"))
    if not results.is_dir():
        print(f"{results} is not a folder", file=sys.stderr)
        return USAGE
    report = verify_results(results, full=args.full)
    rules = rules_by_path(config.get("plugins", ())) if report.damaged else []
    print(render(report, rules))
    return OK if report.ok else DAMAGED
