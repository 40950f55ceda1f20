"""Rule verdicts: the claims of every configured experiment in one table and one page."""

from attnlimits.progress import job_logger
from attnlimits.verdicts import write_verdicts

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "verdicts")
paths = dict(zip(sm.params.experiments, sm.input, strict=True))
table = write_verdicts(paths, sm.output.csv, sm.output.html)
log.info("%d claims of %s", len(table), ", ".join(paths))
counts = table.groupby("verdict").size().to_dict() if len(table) else {}
log.info("%d claims of %s: %s", len(table), ", ".join(paths), counts)
