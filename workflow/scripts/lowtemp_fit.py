"""Rule lowtemp_fit: slopes in beta, t*(beta), terminal law and long-time phase, as tables."""

from pathlib import Path

from attnlimits.analysis.tables import write_tables
from attnlimits.lowtemp.claims import lowtemp_tables
from attnlimits.lowtemp.grid import RunKey, TerminalKey
from attnlimits.progress import job_logger
from attnlimits.storage import open_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "lowtemp_fit")
runs = [
    (RunKey(**key), open_dataset(path, chunks=None))
    for key, path in zip(sm.params.runs, sm.input.runs, strict=True)
]
terminals = [
    (TerminalKey(**key), open_dataset(path, chunks=None))
    for key, path in zip(sm.params.terminals, sm.input.terminals, strict=True)
]
tables = lowtemp_tables(runs, terminals, sm.params.options)
paths = write_tables(tables, Path(sm.output[0]).parent)
log.info("wrote %s", ", ".join(p.name for p in paths))
