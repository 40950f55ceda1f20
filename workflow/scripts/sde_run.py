"""Rules sde_run and sde_chaos: one depth, width, sync or chaos run, stored with provenance."""

import importlib

from attnlimits.progress import job_logger, reporter
from attnlimits.provenance import provenance
from attnlimits.runtime import setup
from attnlimits.storage import write_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
kind, spec = sm.params.kind, sm.params.spec
log = job_logger(sm.log[0], f"sde_{kind}")
log.info("%s run %s", kind, spec)
run = getattr(importlib.import_module(f"attnlimits.sde.runs.{kind}"), f"run_{kind}")
ds = run(spec, setup(sm.params.runtime), progress=reporter(log, kind))
ds.attrs.update(provenance(spec, {"seed": spec["seed"]}, sm.params.code))
write_dataset(ds, sm.output[0])
