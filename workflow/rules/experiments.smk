# The rules of every configured experiment, made from its declaration (attnlimits.registry).
# Keyed jobs (a limit, a cell, a run) write one store per key at the path of their pattern, or,
# for a batched kind (attnlimits.batches: cheap cells), one folder per batch of keys holding each
# key's store; the others (aggregate, fit, plots) write a store and folders of tables and
# figures. Output, log and benchmark paths come from one pattern per job kind; every rule runs
# workflow/scripts/job.py.


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
                conda:
                    "../envs/attnlimits.yaml"
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
                conda:
                    "../envs/attnlimits.yaml"
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
                conda:
                    "../envs/attnlimits.yaml"
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
