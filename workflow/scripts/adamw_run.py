"""Rules adamw_limit and adamw_cell: train the limit or one (L, H) cell, store with provenance."""

from attnlimits.adamw import runs
from attnlimits.progress import job_logger, reporter
from attnlimits.provenance import provenance
from attnlimits.runtime import setup
from attnlimits.storage import open_dataset, write_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
kind, spec = sm.params.kind, sm.params.spec
log = job_logger(sm.log[0], f"adamw_{kind}")
log.info("%s %s", kind, spec)
device = setup(sm.params.runtime)
progress = reporter(log, f"training {kind}")
seeds = {"law_seed": spec["law"]["seed"], "task_seed": spec["task"]["seed"]}
if kind == "limit":
    ds = runs.run_limit(spec, device, progress=progress)
else:
    limit = open_dataset(sm.input.limit, chunks=None).load()
    ds = runs.run_cell(spec, limit, device, progress=progress)
    seeds.update(heads_seed=spec["seed"], seeds=spec["seeds"])
ds.attrs.update(provenance(spec, seeds, sm.params.code))
write_dataset(ds, sm.output[0])
log.info("wrote %s", sm.output[0])
