"""Rule verdicts: the judged claims of every configured experiment on one page, by paper."""

from pathlib import Path

from attnlimits.progress import job_logger
from attnlimits.registry import registered, resolve
from attnlimits.verdicts import declared_statements, write_verdicts

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "verdicts")
experiments = registered(sm.config["plugins"])
claims = [c for name in sm.params.experiments for c in resolve(experiments[name].claims)]
paths = {
    name: Path(folder) / "claims.csv"
    for name, folder in zip(sm.params.experiments, sm.input, strict=True)
}
table = write_verdicts(paths, sm.output.csv, sm.output.html, declared_statements(claims))
counts = table.groupby("status").size().to_dict() if len(table) else {}
log.info("%d claims of %s: %s", len(table), ", ".join(paths), counts)
