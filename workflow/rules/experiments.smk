# The rules of every configured experiment, made from its declaration (attnlimits.registry).
# Keyed jobs (a limit, a cell, a run) write one store per key at the path of their pattern, or,
# for a batched kind (attnlimits.batches: cheap cells), one folder per batch of keys holding each
# key's store; the others (aggregate, fit, plots) write a store and folders of tables and
# figures. Output, log and benchmark paths come from one pattern per job kind; every rule runs
# workflow/scripts/job.py.


def paths_of(needs):
    """Results-relative inputs by name (a path or a list) as paths under the results folder."""
    return {
        name: results(p) if isinstance(p, str) else [results(q) for q in p]
        for name, p in needs.items()
    }


def keyed_inputs(experiment, job):
    return lambda wc: paths_of(
        experiment.inputs_of(config, job.name, job.key_of(config, wc))
    )


def keyed_reads(experiment, job):
    """The inputs the runner reads (results-relative; a needed store itself, not the folder
    of its batch)."""
    return lambda wc: experiment.reads_of(config, job.name, job.key_of(config, wc))


def keyed_spec(job):
    return lambda wc: job.spec(config, job.key_of(config, wc))


def keyed_memory(job):
    if callable(job.memory_mb):
        return lambda wc: job.memory_mb(job.spec(config, job.key_of(config, wc)))
    return job.memory_mb


def single_inputs(experiment, job):
    return paths_of(experiment.inputs_of(config, job.name, None))


def batch_inputs(experiment, job):
    """The inputs of a batch: those of its keys, by name, each path once."""

    def inputs(wc):
        union = {}
        for key in experiment.batch(config, job.name, wc).keys:
            for name, p in experiment.inputs_of(config, job.name, key).items():
                listed = union.setdefault(name, [])
                listed += [
                    q for q in ([p] if isinstance(p, str) else p) if q not in listed
                ]
        return paths_of(union)

    return inputs


def batch_members(experiment, job):
    """Each key of a batch: its parameters, its inputs (under the results folder) and its
    store's path in the batch's folder."""

    def members(wc):
        found = experiment.batch(config, job.name, wc)
        stores = experiment.store_paths_of(config, job.name, found)
        return [
            {
                "spec": job.spec(config, key),
                "input": experiment.reads_of(config, job.name, key),
                "store": store.removeprefix(found.folder + "/"),
            }
            for key, store in zip(found.keys, stores)
        ]

    return members


def batch_memory(experiment, job):
    if callable(job.memory_mb):
        return lambda wc: max(
            job.memory_mb(job.spec(config, key))
            for key in experiment.batch(config, job.name, wc).keys
        )
    return job.memory_mb


def single_outputs(experiment, job):
    """The outputs of a single job: stores, and folders whose tables (html pages) and figures
    are report items, each captioned by the family's template from its declaration."""
    fmt = config["plots"]["format"]
    outputs = {}
    for name, path in experiment.outputs(job).items():
        if name == "plots":
            outputs[name] = report(
                directory(results(path)),
                patterns=["{item}." + fmt],
                caption="../report/figure.rst",
                category=experiment.name,
            )
        elif name in STORES:
            outputs[name] = directory(results(path))
        else:
            outputs[name] = report(
                directory(results(path)),
                patterns=["{item}.html"],
                caption="../report/table.rst",
                category=experiment.name,
            )
    return outputs


for experiment in EXPERIMENTS.values():
    for job in experiment.jobs:
        if job.batched:
            folder = kind_folder(job.pattern)

            rule:
                name:
                    f"{experiment.name}_{job.name}"
                input:
                    unpack(batch_inputs(experiment, job)),
                output:
                    directory(results(f"{folder}/{BATCH_FOLDER}")),
                log:
                    results(f"logs/{folder}/{BATCH_FOLDER}.log"),
                benchmark:
                    results(f"benchmarks/{folder}/{BATCH_FOLDER}.tsv")
                wildcard_constraints:
                    **BATCH_WILDCARDS,
                priority: job.priority
                threads: 1
                resources:
                    mem_mb=batch_memory(experiment, job),
                    runtime=job.runtime_min,
                params:
                    experiment=experiment.name,
                    job=job.name,
                    runner=job.runner,
                    batch=batch_members(experiment, job),
                    code=job_code(job),
                    runtime=numeric_runtime(config["runtime"]),
                script:
                    "../scripts/job.py"

        elif job.keyed:
            stem = job.pattern.removesuffix(".zarr")

            rule:
                name:
                    f"{experiment.name}_{job.name}"
                input:
                    unpack(keyed_inputs(experiment, job)),
                output:
                    directory(results(job.pattern)),
                log:
                    results(f"logs/{stem}.log"),
                benchmark:
                    results(f"benchmarks/{stem}.tsv")
                wildcard_constraints:
                    **job.wildcards,
                priority: job.priority
                threads: 1
                resources:
                    mem_mb=keyed_memory(job),
                    runtime=job.runtime_min,
                params:
                    experiment=experiment.name,
                    job=job.name,
                    runner=job.runner,
                    spec=keyed_spec(job),
                    runner_input=keyed_reads(experiment, job),
                    code=job_code(job),
                    runtime=numeric_runtime(config["runtime"]),
                script:
                    "../scripts/job.py"

        else:

            rule:
                name:
                    f"{experiment.name}_{job.name}"
                input:
                    **single_inputs(experiment, job),
                output:
                    **single_outputs(experiment, job),
                log:
                    results(f"logs/{experiment.name}/{job.name}.log"),
                benchmark:
                    results(f"benchmarks/{experiment.name}/{job.name}.tsv")
                priority: job.priority
                localrule: job.local
                threads: 1
                resources:
                    mem_mb=job.memory_mb,
                    runtime=job.runtime_min,
                params:
                    experiment=experiment.name,
                    job=job.name,
                    runner=job.runner,
                    spec=job.spec(config, None),
                    runner_input=experiment.reads_of(config, job.name, None),
                    code=job_code(job),
                    stores={
                        name: [
                            results(p) for p in experiment.store_paths(config, name)
                        ]
                        for name in job.reads
                    },
                script:
                    "../scripts/job.py"
