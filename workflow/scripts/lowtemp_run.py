"""Rules lowtemp_run and lowtemp_terminal: one run or terminal job, stored with provenance."""

from attnlimits.lowtemp import runs
from attnlimits.progress import job_logger, reporter
from attnlimits.provenance import provenance
from attnlimits.runtime import setup
from attnlimits.storage import write_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
kind, spec = sm.params.kind, sm.params.spec
log = job_logger(sm.log[0], f"lowtemp_{kind}")
log.info("%s %s", kind, spec)
device = setup(sm.params.runtime)
if kind == "run":
    ds = runs.run(spec, progress=reporter(log, "betas"), device=device)
else:
    ds = runs.run_terminal(spec, device=device)
seeds = {"head_seed": spec["head"].get("seed")}
ds.attrs.update(provenance(spec, seeds, sm.params.code))
write_dataset(ds, sm.output[0])
log.info("wrote %s", sm.output[0])
