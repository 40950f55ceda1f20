# The functions of the rules of workflow/rules/experiments.smk: a job's inputs, parameters,
# memory and outputs, from its experiment's declaration (attnlimits.registry) and the config.
# Paths are under the configured results folder (common.smk: results).


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
                "store": store.removeprefix(f"{found.folder}/"),
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
                patterns=[f"{{item}}.{fmt}"],
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
