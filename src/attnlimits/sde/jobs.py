"""The runners of experiment ``sde``'s jobs (declared in :mod:`attnlimits.sde.experiment`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attnlimits.jobs import JobContext

#: The kinds of run stores the fit and the plots read.
KINDS = ("depth", "width", "chaos", "sync", "joint_width", "joint_tokens", "odd")


def _run(job: JobContext, kind: str, run: Callable) -> None:
    """One depth, width, chaos or sync run (``attnlimits.sde.runs.<kind>``), stored.

    Each runner imports its own run module by name, so that its code version (the import
    closure of the runner) holds that module and no other kind's."""
    from attnlimits.storage import write_dataset

    job.log.info("%s run %s", kind, dict(job.spec))
    ds = run(job.spec, job.device(), progress=job.progress(kind))
    if "factor_fallbacks" in ds:  # depth: the noise factor (attnlimits.sde.runs.depth)
        job.log.info(
            "noise factor %s; symmetric root where it failed: %d matrices",
            ds.attrs.get("noise_factor"),
            int(ds["factor_fallbacks"]),
        )
    ds.attrs.update(job.provenance(job.spec, {"seed": job.spec["seed"]}))
    write_dataset(ds, job.output[0])


def depth(job: JobContext) -> None:
    from attnlimits.sde.runs.depth import run_depth

    _run(job, "depth", run_depth)


def width(job: JobContext) -> None:
    from attnlimits.sde.runs.width import run_width

    _run(job, "width", run_width)


def chaos(job: JobContext) -> None:
    from attnlimits.sde.runs.chaos import run_chaos

    _run(job, "chaos", run_chaos)


def sync(job: JobContext) -> None:
    from attnlimits.sde.runs.sync import run_sync

    _run(job, "sync", run_sync)


def joint_width(job: JobContext) -> None:
    from attnlimits.sde.runs.joint import run_joint_width

    _run(job, "joint_width", run_joint_width)


def joint_tokens(job: JobContext) -> None:
    from attnlimits.sde.runs.joint import run_joint_tokens

    _run(job, "joint_tokens", run_joint_tokens)


def odd(job: JobContext) -> None:
    from attnlimits.sde.runs.odd import run_odd

    _run(job, "odd", run_odd)


def kernel_table(job: JobContext) -> None:
    """κ(1), κ′(1), λ₁, λ̄ over activation × d × σ (the exponents table)."""
    from attnlimits.sde.exponents_table import write_exponents_table
    from attnlimits.sde.runs.kernel_table import run_kernel_table

    table = run_kernel_table(job.spec)
    write_exponents_table(table, job.folder("exponents"))
    job.log.info("exponents table: %d rows", len(table))


def _stores(job: JobContext) -> dict:
    from attnlimits.storage import open_dataset

    return {k: [open_dataset(p, chunks=None) for p in job.stores(k)] for k in KINDS}


def fit(job: JobContext) -> None:
    """The claims and tables of every run."""
    from attnlimits.analysis.claims import write_judged_tables
    from attnlimits.sde.claims import CLAIMS, sde_claims

    stores = _stores(job)
    joint = {kind: stores[kind] for kind in ("joint_width", "joint_tokens")}
    tables = sde_claims(
        stores["depth"], stores["width"], stores["chaos"], stores["sync"], job.spec, joint,
        stores["odd"],
    )  # fmt: skip
    write_judged_tables(tables, CLAIMS, job.config, job.folder("tables"), job.log)


def plots(job: JobContext) -> None:
    """The figures of the tables and the runs."""
    import pandas as pd

    from attnlimits.sde.plots import sde_figures

    tables = {p.stem: pd.read_csv(p) for p in sorted(Path(job.input.tables).glob("*.csv"))}
    paths = sde_figures(tables, _stores(job), job.folder("plots"), job.spec)
    job.log.info("figures: %s", ", ".join(p.name for p in paths))
